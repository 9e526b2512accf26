//! From a validated configuration to what this node should do: which
//! Service gets which IPs (the shared allocator), which sessions to run,
//! and which routes each session carries. Pure: no sockets, no files.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use allocator::{Allocator, Labels, ServiceKey, ServiceRequest};
use bgp_proto::adj_rib_out::RouteSpec;
use bgp_proto::fsm::{PeerConfig, RemoteAs};
use bgp_proto::{Community, LargeCommunity};
use bgp_session::{Endpoint, PeerSettings};
use metallb_api::{plan, Assigned, Config, Peer, PeerAsn, Plan};
use serde::Serialize;

use crate::metrics::{AnnouncedIp, PoolCounts};
use crate::state::{Allocation, State};

/// One Service as `check` and `/status` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub pool: Option<String>,
    /// Why the Service has no IP, in MetalLB's words; `null` when it has one.
    pub pending: Option<String>,
    /// Where each IP is announced: `bgp <prefix> to <peer> (<address>)...`
    /// or `l2 <ip> via <advertisement>`.
    pub announcements: Vec<String>,
}

/// Everything this node should be doing.
#[derive(Clone, Debug)]
pub struct Desired {
    pub services: Vec<ServiceReport>,
    pub peers: Vec<PeerSettings>,
    pub routes: BTreeMap<String, Arc<Vec<RouteSpec>>>,
    pub plan: Plan,
    pub state: State,
    pub pools: Vec<PoolCounts>,
    pub announced: Vec<AnnouncedIp>,
    /// Things worth a warning that do not stop the config (e.g. BFD not
    /// active yet).
    pub notes: Vec<String>,
}

/// Node facts the plan depends on.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub labels: Labels,
}

impl NodeInfo {
    /// The node's labels from the config's Node object, plus the
    /// `kubernetes.io/hostname` label Kubernetes always sets.
    pub fn from_config(config: &Config, name: &str) -> Self {
        let mut labels = config.nodes.get(name).cloned().unwrap_or_default();
        labels
            .entry("kubernetes.io/hostname".into())
            .or_insert_with(|| name.to_string());
        NodeInfo {
            name: name.to_string(),
            labels,
        }
    }
}

fn session_settings(p: &Peer, node: &NodeInfo) -> PeerSettings {
    let remote = match p.peer_asn {
        PeerAsn::Number(a) => RemoteAs::Fixed(a),
        PeerAsn::Internal => RemoteAs::Internal,
        PeerAsn::External => RemoteAs::External,
    };
    let ibgp = match remote {
        RemoteAs::Fixed(a) => a == p.my_asn,
        RemoteAs::Internal => true,
        RemoteAs::External => false,
    };
    let router_id = p.router_id.unwrap_or_else(|| {
        bgp_session::transport::derive_router_id(p.address, p.source_address, &node.name)
    });
    let mut fsm = PeerConfig::new(p.my_asn, remote, router_id);
    fsm.hold_time = u16::try_from(p.hold_time.as_secs()).unwrap_or(u16::MAX);
    let keepalive = u16::try_from(p.keepalive_time.as_secs()).unwrap_or(u16::MAX);
    fsm.keepalive = (keepalive > 0).then_some(keepalive);
    if let Some(c) = p.connect_time {
        fsm.connect_retry_max = c.max(Duration::from_secs(1));
    }
    fsm.hostname = Some(node.name.clone());
    fsm.jitter_seed ^= match p.address {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) as u64,
    };
    // MetalLB: a session carries its own address family; with
    // dualStackAddressFamily it carries both.
    fsm.families = if p.dual_stack_address_family {
        vec![
            bgp_proto::Family::IPV4_UNICAST,
            bgp_proto::Family::IPV6_UNICAST,
        ]
    } else if p.address.is_ipv4() {
        vec![bgp_proto::Family::IPV4_UNICAST]
    } else {
        vec![bgp_proto::Family::IPV6_UNICAST]
    };
    fsm.extended_next_hop = p.dual_stack_address_family;
    PeerSettings {
        name: p.name.clone(),
        endpoint: Endpoint {
            address: p.address,
            port: p.port,
            source: p.source_address,
            password: p.password.clone(),
            // RFC 5082 style: single-hop eBGP sends TTL 1; multihop and iBGP 255.
            ttl: if p.ebgp_multi_hop || ibgp { 255 } else { 1 },
        },
        fsm,
        link_local_next_hop: true,
    }
}

/// Computes what this node should do. `previous` holds the allocations of
/// the last run (state file): they are restored first and never moved while
/// still valid.
pub fn compute(config: &Config, node: &NodeInfo, previous: &State) -> Desired {
    let mut notes = Vec::new();
    let mut services = Vec::new();
    let pools = config.ip_address_pools();
    let mut alloc = match Allocator::new(&pools).or_else(|e| {
        // Validation already checked the pools; if the allocator still
        // refuses them, run with none so every Service says why.
        notes.push(format!("address pools rejected by the allocator: {e}"));
        Allocator::new(&[])
    }) {
        Ok(a) => a,
        Err(e) => {
            notes.push(format!("allocator unavailable: {e}"));
            return Desired {
                services: Vec::new(),
                peers: Vec::new(),
                routes: BTreeMap::new(),
                plan: Plan::default(),
                state: previous.clone(),
                pools: Vec::new(),
                announced: Vec::new(),
                notes,
            };
        }
    };

    // Requests; a malformed Service is pending with its reason.
    let mut requests: Vec<(ServiceRequest, Vec<IpAddr>)> = Vec::new();
    let mut bad: BTreeMap<ServiceKey, String> = BTreeMap::new();
    let mut labels_of: BTreeMap<ServiceKey, Labels> = BTreeMap::new();
    for s in &config.services {
        let key = s.key();
        labels_of.insert(key.clone(), s.fields.labels.clone());
        match s.request() {
            Ok(req) => {
                let restore = previous
                    .services
                    .get(&key.to_string())
                    .map(|a| a.ips.clone())
                    .unwrap_or_else(|| s.status_ips.clone());
                requests.push((req, restore));
            }
            Err(e) => {
                bad.insert(key, e.to_string());
            }
        }
    }
    let outcomes = alloc.sync(requests);

    let mut assigned = Vec::new();
    let mut state = State::default();
    for (key, outcome) in &outcomes {
        let report = match alloc.assignment(key) {
            Some(a) => {
                let ips = a.addresses();
                state.services.insert(
                    key.to_string(),
                    Allocation {
                        ips: ips.clone(),
                        pool: a.pool().to_string(),
                    },
                );
                assigned.push(Assigned {
                    service: key.clone(),
                    pool: a.pool().to_string(),
                    ips: ips.clone(),
                    labels: labels_of.get(key).cloned().unwrap_or_default(),
                });
                ServiceReport {
                    namespace: key.namespace.to_string(),
                    name: key.name.to_string(),
                    ips,
                    pool: Some(a.pool().to_string()),
                    pending: None,
                    announcements: Vec::new(),
                }
            }
            None => ServiceReport {
                namespace: key.namespace.to_string(),
                name: key.name.to_string(),
                ips: Vec::new(),
                pool: None,
                pending: Some(match &outcome.result {
                    Err(e) => e.to_string(),
                    Ok(_) => "no address assigned".to_string(),
                }),
                announcements: Vec::new(),
            },
        };
        services.push(report);
    }
    for (key, reason) in bad {
        services.push(ServiceReport {
            namespace: key.namespace.to_string(),
            name: key.name.to_string(),
            ips: Vec::new(),
            pool: None,
            pending: Some(reason),
            announcements: Vec::new(),
        });
    }
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let plan = plan(config, &node.name, &node.labels, &assigned);
    let node_peers: Vec<&Peer> = config.peers_for_node(&node.labels);
    let peers: Vec<PeerSettings> = node_peers
        .iter()
        .map(|p| session_settings(p, node))
        .collect();
    for p in &node_peers {
        if p.bfd_profile.is_some() {
            notes.push(format!(
                "BGPPeer {}: spec.bfdProfile is accepted but not yet active",
                p.name
            ));
        }
        if p.enable_graceful_restart {
            notes.push(format!(
                "BGPPeer {}: spec.enableGracefulRestart is accepted but not yet active",
                p.name
            ));
        }
    }

    // Routes per session, and the human-readable announcements per Service.
    let mut routes: BTreeMap<String, Vec<RouteSpec>> =
        peers.iter().map(|p| (p.name.clone(), Vec::new())).collect();
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut announced = Vec::new();
    for a in &plan.bgp {
        let spec = RouteSpec {
            prefix: a.prefix,
            communities: a
                .communities
                .iter()
                .map(|(x, y)| Community::new(*x, *y))
                .collect(),
            large_communities: a
                .large_communities
                .iter()
                .map(|(g, l1, l2)| LargeCommunity {
                    global_admin: *g,
                    local1: *l1,
                    local2: *l2,
                })
                .collect(),
            local_pref: a.local_pref,
        };
        for peer in &a.peers {
            // Only sessions that carry the prefix's family (see
            // session_settings) get it.
            let carries = config.peers.get(peer).is_some_and(|p| {
                p.dual_stack_address_family || p.address.is_ipv4() == a.prefix.addr().is_ipv4()
            });
            if !carries {
                continue;
            }
            if let Some(r) = routes.get_mut(peer) {
                r.push(spec.clone());
            }
            let addr = config
                .peers
                .get(peer)
                .map(|p| p.address.to_string())
                .unwrap_or_default();
            for s in &a.services {
                by_service
                    .entry(s.clone())
                    .or_default()
                    .push(format!("bgp {} to {} ({})", a.prefix, peer, addr));
            }
        }
    }
    for l in &plan.l2 {
        for s in &l.services {
            let ads: Vec<&str> = l.advertisements.iter().map(String::as_str).collect();
            by_service.entry(s.clone()).or_default().push(format!(
                "l2 {} via {}",
                l.ip,
                ads.join(",")
            ));
        }
    }
    for r in &mut services {
        let key = format!("{}/{}", r.namespace, r.name);
        if let Some(v) = by_service.remove(&key) {
            r.announcements = v;
        }
        for ip in &r.ips {
            let bgp = r.announcements.iter().any(|a| a.starts_with("bgp "));
            if bgp {
                announced.push(AnnouncedIp {
                    service: key.clone(),
                    protocol: "bgp",
                    ip: ip.to_string(),
                });
            }
        }
    }

    let pools = alloc
        .stats()
        .into_iter()
        .map(|s| PoolCounts {
            name: s.pool.clone(),
            v4_total: s.ipv4_total,
            v4_in_use: s.ipv4_in_use,
            v6_total: s.ipv6_total,
            v6_in_use: s.ipv6_in_use,
        })
        .collect();

    Desired {
        services,
        peers,
        routes: routes.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        plan,
        state,
        pools,
        announced,
        notes,
    }
}
