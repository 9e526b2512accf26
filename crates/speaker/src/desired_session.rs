//! This node's facts ([`NodeInfo`]), the sessions that need a derived
//! router ID, and one BGPPeer's session settings for this node.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use allocator::Labels;
use bgp_proto::fsm::{GracefulRestartConfig, RemoteAs, SessionConfig};
use bgp_session::{Endpoint, PeerSettings};
use metallb_api::{BgpPeerConfig, Config, PeerAsn};

/// A BGP session's (peer address, source address): what its derived
/// router ID depends on.
pub type RouterIdKey = (IpAddr, Option<IpAddr>);

/// Node facts the plan depends on.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub labels: Labels,
    /// Router IDs the caller derived (it may ask the kernel for the source
    /// address toward the peer, which this module must not do) for the
    /// sessions whose BGPPeer sets no `routerID`; see [`router_id_keys`].
    pub router_ids: BTreeMap<RouterIdKey, Ipv4Addr>,
    /// Restart time offered to BGPPeers with `enableGracefulRestart`
    /// (`--graceful-restart-time`).
    pub graceful_restart_time: u16,
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
            router_ids: BTreeMap::new(),
            graceful_restart_time: bgp_proto::fsm::graceful::DEFAULT_RESTART_TIME,
        }
    }
}

/// The sessions of this node that need a derived router ID (their BGPPeer
/// has no `spec.routerID`), for the caller to fill [`NodeInfo::router_ids`].
pub fn router_id_keys(config: &Config, node: &NodeInfo) -> Vec<RouterIdKey> {
    let mut keys: Vec<RouterIdKey> = config
        .peers_for_node(&node.labels)
        .iter()
        .filter(|p| p.router_id.is_none())
        .map(|p| (p.address, p.source_address))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

pub(super) fn session_settings(p: &BgpPeerConfig, node: &NodeInfo) -> PeerSettings {
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
    // RFC 6286 §2.1: the BGP Identifier is any nonzero 4-octet value unique
    // within the AS; the caller derived it from the local address toward the
    // peer. Without one (never in standalone mode), the node-name hash that
    // derive_router_id uses for a peer it has no IPv4 route to; for a
    // non-IPv4 peer it opens no socket.
    let router_id = p.router_id.unwrap_or_else(|| {
        node.router_ids
            .get(&(p.address, p.source_address))
            .copied()
            .unwrap_or_else(|| {
                bgp_session::transport::derive_router_id(
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    None,
                    &node.name,
                )
            })
    });
    let mut fsm = SessionConfig::new(p.my_asn, remote, router_id);
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
    // MetalLB's enableGracefulRestart (FRR: `bgp graceful-restart` and
    // `preserve-fw-state`): the node's data plane keeps forwarding the
    // VIPs while the speaker restarts, so the F bit is set.
    fsm.graceful_restart = p.enable_graceful_restart.then_some(GracefulRestartConfig {
        restart_time: node.graceful_restart_time,
        forwarding_preserved: true,
    });
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
