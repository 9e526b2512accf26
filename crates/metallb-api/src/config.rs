//! The validated model the speaker uses.

use crate::community::Community;
use crate::endpoints::ReadyNodes;
use crate::load::Loaded;
use crate::service::ServiceRecord;
use crate::types::PreferredNodeSelector;
use allocator::{IpAddressPool, LabelSelector, Labels, ServiceFields};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
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
    /// `bfdProfile` (exists; run by the speaker's `bfd` module).
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart`: offer RFC 4724 graceful restart (see
    /// bgp-proto `fsm::graceful`).
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

/// A `v1` Service of type LoadBalancer handled by this speaker: its loaded
/// record (shared with the load and its cache, so an unchanged Service is
/// the same allocation across reloads and validation copies nothing) and
/// its namespace's labels (shared by the namespace's Services). 16 bytes.
#[derive(Debug, Clone)]
pub struct LoadBalancerService {
    record: Arc<Loaded<ServiceRecord>>,
    namespace_labels: Arc<Labels>,
}

impl LoadBalancerService {
    pub(crate) fn new(record: Arc<Loaded<ServiceRecord>>, namespace_labels: Arc<Labels>) -> Self {
        LoadBalancerService {
            record,
            namespace_labels,
        }
    }

    /// The loaded record (identity, labels, source and the Service's
    /// fields as written).
    pub fn record(&self) -> &Arc<Loaded<ServiceRecord>> {
        &self.record
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        &self.record.namespace
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// `metadata.labels` (for the advertisements' serviceSelectors).
    pub fn labels(&self) -> &Labels {
        &self.record.labels
    }

    /// The namespace's `metadata.labels`.
    pub fn namespace_labels(&self) -> &Labels {
        &self.namespace_labels
    }

    /// `status.loadBalancer.ingress[].ip`: the restore input.
    pub fn status_ips(&self) -> &[IpAddr] {
        self.record
            .spec
            .extra
            .as_ref()
            .map_or(&[], |e| e.status_ips.as_slice())
    }

    /// `spec.loadBalancerClass`.
    pub fn load_balancer_class(&self) -> Option<&str> {
        self.record.spec.load_balancer_class()
    }

    /// The fields the allocator reads, defaults applied (built on each
    /// call).
    pub fn fields(&self) -> ServiceFields {
        crate::validate::service_fields(&self.record, &self.namespace_labels)
    }

    /// A hash of everything [`LoadBalancerService::fields`] is made of:
    /// equal hashes, same fields (barring a collision), without building
    /// them.
    pub fn fields_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // The fast fixed hash (see `fast_hash`): a running speaker hashes
        // every Service on each reload to find the unchanged ones.
        let mut h = crate::fast_hash::FastHasher::default();
        let r = &*self.record;
        (&r.namespace, &r.name, &r.labels, &*self.namespace_labels).hash(&mut h);
        r.spec.hash(&mut h);
        h.finish()
    }

    /// `namespace/name`.
    pub fn key(&self) -> allocator::ServiceKey {
        allocator::ServiceKey::new(self.record.namespace.clone(), self.record.name.clone())
    }

    /// Parses the allocator request (errors are MetalLB's
    /// `LoadBalancerFailed` cases).
    pub fn request(&self) -> Result<allocator::ServiceRequest, allocator::AllocError> {
        allocator::parse_service(&self.fields())
    }
}

/// Equal when the allocator fields, status IPs and class are: where the
/// Service was read from does not count.
impl PartialEq for LoadBalancerService {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.record, &*other.record);
        (a.namespace == b.namespace
            && a.name == b.name
            && a.labels == b.labels
            && a.spec == b.spec
            && self.namespace_labels == other.namespace_labels)
            || (self.fields() == other.fields()
                && self.status_ips() == other.status_ips()
                && self.load_balancer_class() == other.load_balancer_class())
    }
}

impl Eq for LoadBalancerService {}

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
    /// Each Node's `status.addresses[]` of type `InternalIP`, in the order
    /// written (Nodes without one are absent): L2 mode's member addresses.
    pub node_addresses: BTreeMap<String, Vec<IpAddr>>,
    /// Namespace labels by namespace name.
    pub namespaces: BTreeMap<String, Labels>,
    /// From the EndpointSlices: the nodes with a usable (ready, not
    /// terminating) endpoint, by Service `namespace/name`. None when the
    /// config holds no EndpointSlice naming a Service and its slices are
    /// not the cluster's complete list (`Objects::endpoint_slices_complete`).
    pub ready_endpoint_nodes: Option<ReadyNodes>,
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
