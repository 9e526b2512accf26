//! The validated model the speaker uses.

use crate::community::Community;
use crate::types::PreferredNodeSelector;
use allocator::{IpAddressPool, LabelSelector, Labels, ServiceFields};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A validated `IPAddressPool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Name and spec, for [`allocator::Allocator::new`].
    pub pool: IpAddressPool,
    /// `metadata.labels` (for `ipAddressPoolSelectors`).
    pub labels: Labels,
    /// Each `spec.addresses` entry as written, with its CIDRs (ranges are
    /// summarized, host bits masked).
    pub cidrs: Vec<(String, Vec<IpNet>)>,
}

impl PoolConfig {
    /// True if the pool has IPv4 (`v6 == false`) or IPv6 addresses.
    pub fn has_family(&self, v6: bool) -> bool {
        self.cidrs
            .iter()
            .flat_map(|(_, c)| c)
            .any(|n| matches!(n, IpNet::V6(_)) == v6)
    }
}

/// `peerASN` / `dynamicASN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAsn {
    /// A fixed peer ASN.
    Number(u32),
    /// `dynamicASN: internal` (peer AS = local AS).
    Internal,
    /// `dynamicASN: external` (any AS but the local one).
    External,
}

/// A validated `BGPPeer` (v1beta2 model, defaults applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeerConfig {
    /// `metadata.name`.
    pub name: String,
    /// `myASN`.
    pub my_asn: u32,
    /// `peerASN` or `dynamicASN`.
    pub peer_asn: PeerAsn,
    /// `peerAddress`.
    pub address: IpAddr,
    /// `sourceAddress`.
    pub source_address: Option<IpAddr>,
    /// `peerPort` (default 179).
    pub port: u16,
    /// Hold time, whole seconds (default 90 s; 0 = no keepalives).
    pub hold_time: Duration,
    /// Keepalive (default 30 s, or derived from the hold time).
    pub keepalive_time: Duration,
    /// `connectTime` (None = the engine's default).
    pub connect_time: Option<Duration>,
    /// `routerID`.
    pub router_id: Option<Ipv4Addr>,
    /// Nodes that peer (empty = all; OR).
    pub node_selectors: Vec<LabelSelector>,
    /// TCP-MD5 password (inline or from `passwordSecret`).
    pub password: Option<String>,
    /// `bfdProfile` (exists; not yet active).
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart` (not yet active).
    pub enable_graceful_restart: bool,
    /// `ebgpMultiHop`.
    pub ebgp_multi_hop: bool,
    /// `dualStackAddressFamily`.
    pub dual_stack_address_family: bool,
}

impl BgpPeerConfig {
    /// True if the peer's nodeSelectors select a node with these labels.
    pub fn selects_node(&self, node_labels: &Labels) -> bool {
        any_selects(&self.node_selectors, node_labels)
    }
}

/// A validated `BFDProfile` with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// `metadata.name`.
    pub name: String,
    /// ms.
    pub receive_interval: u32,
    /// ms.
    pub transmit_interval: u32,
    /// Multiplier.
    pub detect_multiplier: u32,
    /// ms.
    pub echo_interval: u32,
    /// Echo mode.
    pub echo_mode: bool,
    /// Passive mode.
    pub passive_mode: bool,
    /// Minimum TTL (multi-hop), if set.
    pub minimum_ttl: Option<u32>,
}

/// A validated `BGPAdvertisement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// `metadata.name`.
    pub name: String,
    /// 1..=32 (default 32).
    pub aggregation_length: u8,
    /// 1..=128 (default 128).
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF (None when unset or 0).
    pub local_pref: Option<u32>,
    /// Resolved communities, sorted, no duplicates.
    pub communities: Vec<Community>,
    /// Pools by name.
    pub ip_address_pools: Vec<String>,
    /// Pools by label.
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes (empty = all).
    pub node_selectors: Vec<LabelSelector>,
    /// BGPPeer names (empty = all).
    pub peers: Vec<String>,
    /// Services (empty = all).
    pub service_selectors: Vec<LabelSelector>,
}

/// A validated `L2Advertisement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Advertisement {
    /// `metadata.name`.
    pub name: String,
    /// Pools by name.
    pub ip_address_pools: Vec<String>,
    /// Pools by label.
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes (empty = all).
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces (empty = all).
    pub interfaces: Vec<String>,
    /// Services (empty = all).
    pub service_selectors: Vec<LabelSelector>,
    /// Soft node preference.
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

/// True if the selector list is empty or any selector matches.
pub(crate) fn any_selects(selectors: &[LabelSelector], labels: &Labels) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// §1.3/1.4: empty `ipAddressPools` and `ipAddressPoolSelectors` select all
/// pools; otherwise by name OR by any selector.
pub(crate) fn selects_pool(
    names: &[String],
    selectors: &[LabelSelector],
    pool: &str,
    pool_labels: &Labels,
) -> bool {
    (names.is_empty() && selectors.is_empty())
        || names.iter().any(|n| n == pool)
        || selectors.iter().any(|s| s.matches(pool_labels))
}

impl BgpAdvertisement {
    /// True if the ad applies to the pool.
    pub fn selects_pool(&self, pool: &str, pool_labels: &Labels) -> bool {
        selects_pool(
            &self.ip_address_pools,
            &self.ip_address_pool_selectors,
            pool,
            pool_labels,
        )
    }
    /// True if a node with these labels announces under this ad.
    pub fn selects_node(&self, node_labels: &Labels) -> bool {
        any_selects(&self.node_selectors, node_labels)
    }
    /// True if the ad applies to a service with these labels.
    pub fn selects_service(&self, service_labels: &Labels) -> bool {
        any_selects(&self.service_selectors, service_labels)
    }
    /// True if the ad sends to the named peer.
    pub fn selects_peer(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }
}

impl L2Advertisement {
    /// True if the ad applies to the pool.
    pub fn selects_pool(&self, pool: &str, pool_labels: &Labels) -> bool {
        selects_pool(
            &self.ip_address_pools,
            &self.ip_address_pool_selectors,
            pool,
            pool_labels,
        )
    }
    /// True if a node with these labels is a candidate under this ad.
    pub fn selects_node(&self, node_labels: &Labels) -> bool {
        any_selects(&self.node_selectors, node_labels)
    }
    /// True if the ad applies to a service with these labels.
    pub fn selects_service(&self, service_labels: &Labels) -> bool {
        any_selects(&self.service_selectors, service_labels)
    }
    /// Sum of the weights of the preferredNodeSelectors matching the node.
    pub fn preference_score(&self, node_labels: &Labels) -> i64 {
        self.preferred_node_selectors
            .iter()
            .filter(|p| p.preference.matches(node_labels))
            .map(|p| i64::from(p.weight))
            .sum()
    }
}

/// A `v1` Service of type LoadBalancer handled by this speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerService {
    /// The fields the allocator reads (namespace labels filled in).
    pub fields: ServiceFields,
    /// `status.loadBalancer.ingress[].ip`: the restore input.
    pub status_ips: Vec<IpAddr>,
    /// `spec.loadBalancerClass`.
    pub load_balancer_class: Option<String>,
}

impl LoadBalancerService {
    /// `namespace/name`.
    pub fn key(&self) -> allocator::ServiceKey {
        allocator::ServiceKey::new(self.fields.namespace.clone(), self.fields.name.clone())
    }
    /// Parses the allocator request (errors are MetalLB's
    /// `LoadBalancerFailed` cases).
    pub fn request(&self) -> Result<allocator::ServiceRequest, allocator::AllocError> {
        allocator::parse_service(&self.fields)
    }
}

/// The validated configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The MetalLB namespace.
    pub namespace: String,
    /// Pools by name.
    pub pools: BTreeMap<String, PoolConfig>,
    /// BGP peers by name.
    pub peers: BTreeMap<String, BgpPeerConfig>,
    /// BFD profiles by name.
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    /// Community aliases (across all Community CRs) by alias name.
    pub communities: BTreeMap<String, Community>,
    /// BGPAdvertisements by name.
    pub bgp_advertisements: BTreeMap<String, BgpAdvertisement>,
    /// L2Advertisements by name.
    pub l2_advertisements: BTreeMap<String, L2Advertisement>,
    /// LoadBalancer services this speaker handles (class filter applied),
    /// sorted by namespace/name.
    pub services: Vec<LoadBalancerService>,
    /// Node labels by node name.
    pub nodes: BTreeMap<String, Labels>,
    /// Namespace labels by namespace name.
    pub namespaces: BTreeMap<String, Labels>,
}

impl Config {
    /// The pools, in name order, for [`allocator::Allocator::new`].
    pub fn ip_address_pools(&self) -> Vec<IpAddressPool> {
        self.pools.values().map(|p| p.pool.clone()).collect()
    }

    /// The peers whose nodeSelectors select this node (empty = all nodes).
    pub fn peers_for_node(&self, node_labels: &Labels) -> Vec<&BgpPeerConfig> {
        self.peers
            .values()
            .filter(|p| p.selects_node(node_labels))
            .collect()
    }

    /// The BGPAdvertisements that apply to the pool and select this node.
    pub fn bgp_advertisements_for(
        &self,
        pool: &str,
        pool_labels: &Labels,
        node_labels: &Labels,
    ) -> Vec<&BgpAdvertisement> {
        self.bgp_advertisements
            .values()
            .filter(|a| a.selects_pool(pool, pool_labels) && a.selects_node(node_labels))
            .collect()
    }

    /// The L2Advertisements that apply to the pool and select this node.
    pub fn l2_advertisements_for(
        &self,
        pool: &str,
        pool_labels: &Labels,
        node_labels: &Labels,
    ) -> Vec<&L2Advertisement> {
        self.l2_advertisements
            .values()
            .filter(|a| a.selects_pool(pool, pool_labels) && a.selects_node(node_labels))
            .collect()
    }

    /// The labels of a pool (empty if unknown).
    pub fn pool_labels(&self, pool: &str) -> Labels {
        self.pools
            .get(pool)
            .map(|p| p.labels.clone())
            .unwrap_or_default()
    }
}
