//! Announcement planning (§5.1): what this node announces, as plain data.

use crate::community::Community;
use crate::config::Config;
use allocator::{Labels, ServiceKey};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// One service's assignment, as the allocator made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The service.
    pub service: ServiceKey,
    /// The pool the IPs come from.
    pub pool: String,
    /// The IPs (one per family).
    pub ips: Vec<IpAddr>,
    /// The service's labels (for the ads' `serviceSelectors`).
    pub labels: Labels,
}

/// One BGP prefix with its attributes and the peers it goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BgpAnnouncement {
    /// The LB IP masked to the ad's aggregation length.
    pub prefix: IpNet,
    /// LOCAL_PREF, if an ad sets one.
    pub local_pref: Option<u32>,
    /// Standard communities (sorted, unique).
    pub communities: Vec<(u16, u16)>,
    /// Large communities (sorted, unique).
    pub large_communities: Vec<(u32, u32, u32)>,
    /// BGPPeer names (ad.peers ∩ the peers selecting this node).
    pub peers: BTreeSet<String>,
    /// `namespace/name` of the services behind the prefix.
    pub services: BTreeSet<String>,
}

/// One IP this node may announce over L2 (subject to the election).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct L2Announcement {
    /// The LB IP.
    pub ip: IpAddr,
    /// The L2Advertisements that apply (pool, node and service match).
    pub advertisements: BTreeSet<String>,
    /// Interfaces to announce on: None = all (some ad lists none), else the
    /// union of the ads' interfaces.
    pub interfaces: Option<BTreeSet<String>>,
    /// Sum of the matching preferredNodeSelectors' weights for this node.
    pub preference_score: i64,
    /// `namespace/name` of the services on the IP.
    pub services: BTreeSet<String>,
}

/// What one node announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// BGP announcements, sorted by prefix then local pref; one per
    /// (prefix, local pref), communities/peers/services unioned.
    pub bgp: Vec<BgpAnnouncement>,
    /// L2-eligible IPs, sorted by IP.
    pub l2: Vec<L2Announcement>,
}

/// What the plan reads of one assignment; [`Assigned`] owns it, a caller
/// holding the fields elsewhere can lend them instead of copying.
pub trait PlanInput {
    /// The pool the IPs come from.
    fn pool(&self) -> &str;
    /// The IPs (one per family).
    fn ips(&self) -> &[IpAddr];
    /// The service's labels (for the ads' `serviceSelectors`).
    fn labels(&self) -> &Labels;
    /// `namespace/name` (asked only for services announced over L2).
    fn key(&self) -> String;
    /// False when this node must not announce the service over BGP
    /// (`externalTrafficPolicy: Local` without a usable endpoint here);
    /// the caller decides, the plan only obeys.
    fn bgp_here(&self) -> bool {
        true
    }
}

impl PlanInput for Assigned {
    fn pool(&self) -> &str {
        &self.pool
    }
    fn ips(&self) -> &[IpAddr] {
        &self.ips
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn key(&self) -> String {
        self.service.to_string()
    }
}

/// The attributes and peers shared by the prefixes of one set of
/// BGPAdvertisements (most plans have one or two such sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAttrs {
    /// Standard communities (sorted, unique).
    pub communities: Vec<(u16, u16)>,
    /// Large communities (sorted, unique).
    pub large_communities: Vec<(u32, u32, u32)>,
    /// BGPPeer names (sorted, unique).
    pub peers: Vec<String>,
}

/// One (prefix, local pref) of a [`CompactPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BgpGroup {
    /// The LB IP masked to the ad's aggregation length.
    pub prefix: IpNet,
    /// LOCAL_PREF, if an ad sets one.
    pub local_pref: Option<u32>,
    /// Index into [`CompactPlan::attrs`].
    pub attrs: u32,
    /// Range of [`CompactPlan::services`] holding the services behind it.
    services: (u32, u32),
}

/// [`Plan`] without a string per service: the BGP part is one sorted list
/// of (prefix, local pref), each naming its services by their index in the
/// assignments and its communities and peers by an interned id. At 100k
/// services this is a few MB where the sets of [`Plan`] cost tens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactPlan {
    /// Sorted by prefix then local pref, as [`Plan::bgp`].
    pub bgp: Vec<BgpGroup>,
    /// The distinct attribute sets the groups use.
    pub attrs: Vec<BgpAttrs>,
    /// Assignment indices, per group ascending (see [`CompactPlan::services_of`]).
    services: Vec<u32>,
    /// As [`Plan::l2`].
    pub l2: Vec<L2Announcement>,
}

impl CompactPlan {
    /// Indices (into the assignments) of the services behind `g`.
    pub fn services_of(&self, g: &BgpGroup) -> &[u32] {
        let (a, b) = g.services;
        self.services.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// The attributes and peers of `g`.
    pub fn attrs_of(&self, g: &BgpGroup) -> Option<&BgpAttrs> {
        self.attrs.get(g.attrs as usize)
    }
}

/// Computes the announcements of node `node_name` (labels `node_labels`;
/// `kubernetes.io/hostname` defaults to the node name) for the given
/// assignments. IPs whose pool is not in the config are skipped.
pub fn plan(
    config: &Config,
    node_name: &str,
    node_labels: &Labels,
    assignments: &[Assigned],
) -> Plan {
    let c = plan_compact(config, node_name, node_labels, assignments);
    let bgp = c
        .bgp
        .iter()
        .filter_map(|g| {
            let attrs = c.attrs_of(g)?;
            Some(BgpAnnouncement {
                prefix: g.prefix,
                local_pref: g.local_pref,
                communities: attrs.communities.clone(),
                large_communities: attrs.large_communities.clone(),
                peers: attrs.peers.iter().cloned().collect(),
                services: c
                    .services_of(g)
                    .iter()
                    .filter_map(|&i| assignments.get(i as usize))
                    .map(|a| a.service.to_string())
                    .collect(),
            })
        })
        .collect();
    Plan { bgp, l2: c.l2 }
}

/// [`plan`] as a [`CompactPlan`]: `assignments[i]` is service `i`.
pub fn plan_compact<A: PlanInput>(
    config: &Config,
    node_name: &str,
    node_labels: &Labels,
    assignments: &[A],
) -> CompactPlan {
    let mut labels = node_labels.clone();
    labels
        .entry("kubernetes.io/hostname".into())
        .or_insert_with(|| node_name.to_string());
    let node_peers: Vec<&str> = config
        .peers_for_node(&labels)
        .into_iter()
        .map(|p| p.name.as_str())
        .collect();

    // Per BGPAdvertisement (by its index in name order): the peers of this
    // node it goes to; an ad reaching none contributes nothing.
    let ads: Vec<_> = config.bgp_advertisements.values().collect();
    let ad_peers: Vec<Vec<&str>> = ads
        .iter()
        .map(|ad| {
            node_peers
                .iter()
                .copied()
                .filter(|p| ad.selects_peer(p))
                .collect()
        })
        .collect();
    // The ads that apply to each pool on this node, computed once per pool.
    let mut ads_of_pool: HashMap<&str, Vec<u32>> = HashMap::new();

    // One entry per (prefix, local pref, service, ad), sorted and grouped
    // below: flat, no set per prefix.
    let mut entries: Vec<(IpNet, Option<u32>, u32, u32)> = Vec::new();
    let mut l2: BTreeMap<IpAddr, L2Announcement> = BTreeMap::new();

    for (i, a) in assignments.iter().enumerate() {
        let Ok(svc) = u32::try_from(i) else {
            break;
        };
        let Some((pool_name, pool)) = config.pools.get_key_value(a.pool()) else {
            continue;
        };
        let pool_ads = ads_of_pool.entry(pool_name.as_str()).or_insert_with(|| {
            (0u32..)
                .zip(&ads)
                .filter(|(_, ad)| {
                    ad.selects_pool(pool_name, &pool.labels) && ad.selects_node(&labels)
                })
                .map(|(n, _)| n)
                .collect()
        });
        for &n in pool_ads.iter().filter(|_| a.bgp_here()) {
            let Some(ad) = ads.get(n as usize) else {
                continue;
            };
            if ad_peers.get(n as usize).is_none_or(Vec::is_empty) || !ad.selects_service(a.labels())
            {
                continue;
            }
            for ip in a.ips() {
                let len = if ip.is_ipv6() {
                    ad.aggregation_length_v6
                } else {
                    ad.aggregation_length
                };
                let Ok(prefix) = IpNet::new(*ip, len).map(|n| n.trunc()) else {
                    continue;
                };
                entries.push((prefix, ad.local_pref, svc, n));
            }
        }
        let l2_ads: Vec<_> = config
            .l2_advertisements_for(pool_name, &pool.labels, &labels)
            .into_iter()
            .filter(|ad| ad.selects_service(a.labels()))
            .collect();
        if l2_ads.is_empty() {
            continue;
        }
        let svc = a.key();
        for ip in a.ips() {
            let e = l2.entry(*ip).or_insert_with(|| L2Announcement {
                ip: *ip,
                advertisements: BTreeSet::new(),
                interfaces: Some(BTreeSet::new()),
                preference_score: 0,
                services: BTreeSet::new(),
            });
            e.services.insert(svc.clone());
            for ad in &l2_ads {
                if !e.advertisements.insert(ad.name.clone()) {
                    continue;
                }
                e.preference_score += ad.preference_score(&labels);
                if ad.interfaces.is_empty() {
                    e.interfaces = None;
                } else if let Some(set) = &mut e.interfaces {
                    set.extend(ad.interfaces.iter().cloned());
                }
            }
        }
    }

    entries.sort_unstable();
    let mut out = CompactPlan {
        bgp: Vec::new(),
        attrs: Vec::new(),
        services: Vec::with_capacity(entries.len()),
        l2: l2.into_values().collect(),
    };
    // Attribute sets interned by the (sorted) ads they merge.
    let mut interned: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut group_ads: Vec<u32> = Vec::new();
    let mut rest = entries.as_slice();
    while let Some(&(prefix, local_pref, _, _)) = rest.first() {
        let n = rest
            .iter()
            .take_while(|e| e.0 == prefix && e.1 == local_pref)
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let start = out.services.len() as u32;
        group_ads.clear();
        for &(_, _, svc, ad) in group {
            if out.services.last() != Some(&svc) || out.services.len() as u32 == start {
                out.services.push(svc);
            }
            group_ads.push(ad);
        }
        group_ads.sort_unstable();
        group_ads.dedup();
        let attrs = match interned.get(group_ads.as_slice()) {
            Some(&id) => id,
            None => {
                let id = out.attrs.len() as u32;
                out.attrs.push(merge_ads(&ads, &ad_peers, &group_ads));
                interned.insert(group_ads.clone(), id);
                id
            }
        };
        out.bgp.push(BgpGroup {
            prefix,
            local_pref,
            attrs,
            services: (start, out.services.len() as u32),
        });
    }
    out
}

/// The union of the communities and peers of the given ads.
fn merge_ads(
    ads: &[&crate::config::BgpAdvertisement],
    ad_peers: &[Vec<&str>],
    which: &[u32],
) -> BgpAttrs {
    let mut comms = BTreeSet::new();
    let mut peers = BTreeSet::new();
    for &n in which {
        if let Some(ad) = ads.get(n as usize) {
            comms.extend(ad.communities.iter().copied());
        }
        if let Some(p) = ad_peers.get(n as usize) {
            peers.extend(p.iter().copied());
        }
    }
    let mut communities = Vec::new();
    let mut large_communities = Vec::new();
    for c in comms {
        match c {
            Community::Standard(a, b) => communities.push((a, b)),
            Community::Large(a, b, c) => large_communities.push((a, b, c)),
        }
    }
    BgpAttrs {
        communities,
        large_communities,
        peers: peers.into_iter().map(str::to_string).collect(),
    }
}
