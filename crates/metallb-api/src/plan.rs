//! Announcement planning (§5.1): what this node announces, as plain data.

use crate::community::Community;
use crate::config::Config;
use allocator::{Labels, ServiceKey};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Communities, peers and services merged into one (prefix, local pref).
type Merged = (BTreeSet<Community>, BTreeSet<String>, BTreeSet<String>);

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

/// Computes the announcements of node `node_name` (labels `node_labels`;
/// `kubernetes.io/hostname` defaults to the node name) for the given
/// assignments. IPs whose pool is not in the config are skipped.
pub fn plan(
    config: &Config,
    node_name: &str,
    node_labels: &Labels,
    assignments: &[Assigned],
) -> Plan {
    let mut labels = node_labels.clone();
    labels
        .entry("kubernetes.io/hostname".into())
        .or_insert_with(|| node_name.to_string());
    let node_peers: Vec<&str> = config
        .peers_for_node(&labels)
        .into_iter()
        .map(|p| p.name.as_str())
        .collect();

    let mut bgp: BTreeMap<(IpNet, Option<u32>), Merged> = BTreeMap::new();
    let mut l2: BTreeMap<IpAddr, L2Announcement> = BTreeMap::new();

    for a in assignments {
        let Some(pool) = config.pools.get(&a.pool) else {
            continue;
        };
        let svc = a.service.to_string();
        for ad in config.bgp_advertisements_for(&a.pool, &pool.labels, &labels) {
            if !ad.selects_service(&a.labels) {
                continue;
            }
            let peers: BTreeSet<String> = node_peers
                .iter()
                .filter(|p| ad.selects_peer(p))
                .map(|p| p.to_string())
                .collect();
            if peers.is_empty() {
                continue;
            }
            for ip in &a.ips {
                let len = if ip.is_ipv6() {
                    ad.aggregation_length_v6
                } else {
                    ad.aggregation_length
                };
                let Ok(prefix) = IpNet::new(*ip, len).map(|n| n.trunc()) else {
                    continue;
                };
                let e = bgp.entry((prefix, ad.local_pref)).or_default();
                e.0.extend(ad.communities.iter().copied());
                e.1.extend(peers.iter().cloned());
                e.2.insert(svc.clone());
            }
        }
        let ads: Vec<_> = config
            .l2_advertisements_for(&a.pool, &pool.labels, &labels)
            .into_iter()
            .filter(|ad| ad.selects_service(&a.labels))
            .collect();
        if ads.is_empty() {
            continue;
        }
        for ip in &a.ips {
            let e = l2.entry(*ip).or_insert_with(|| L2Announcement {
                ip: *ip,
                advertisements: BTreeSet::new(),
                interfaces: Some(BTreeSet::new()),
                preference_score: 0,
                services: BTreeSet::new(),
            });
            e.services.insert(svc.clone());
            for ad in &ads {
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

    let bgp = bgp
        .into_iter()
        .map(|((prefix, local_pref), (comms, peers, services))| {
            let mut communities = Vec::new();
            let mut large_communities = Vec::new();
            for c in comms {
                match c {
                    Community::Standard(a, b) => communities.push((a, b)),
                    Community::Large(a, b, c) => large_communities.push((a, b, c)),
                }
            }
            BgpAnnouncement {
                prefix,
                local_pref,
                communities,
                large_communities,
                peers,
                services,
            }
        })
        .collect();
    Plan {
        bgp,
        l2: l2.into_values().collect(),
    }
}
