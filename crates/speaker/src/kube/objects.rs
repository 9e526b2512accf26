//! From the API server's objects (the reflector stores) to metallb-api's
//! [`Objects`], so `oxlb-speaker kubernetes` validates and plans with the
//! very code the file loader feeds (same rules, errors naming the object
//! and field).
//!
//! The speaker never allocates in this mode: a Service's addresses are the
//! ones oxlb-controller wrote to `status.loadBalancer.ingress`. Each Service
//! is handed to the allocator as a request for exactly those addresses
//! (`metallb.io/loadBalancerIPs`), from the pool the controller named
//! (`metallb.io/ip-allocated-from-pool`) or, without that annotation, from
//! the pool containing them; a Service with no status address is left out
//! (nothing to announce). A request the allocator cannot honour leaves the
//! Service pending; it is never given another address.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use metallb_api::types::{
    BfdProfileCr, BgpAdvertisementCr, BgpPeerCr, CommunityCr, IpAddressPoolCr, L2AdvertisementCr,
};
use metallb_api::{
    EndpointSliceRecord, Loaded, Objects, ServiceRecord, Source, SERVICE_NAME_LABEL,
};

/// The pool oxlb-controller (and MetalLB's) allocated from.
pub const ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";
/// The annotations that ask for addresses and a pool, in both of the
/// prefixes MetalLB reads; replaced by the status in this mode.
const REQUEST_IPS: [&str; 2] = [
    "metallb.io/loadBalancerIPs",
    "metallb.universe.tf/loadBalancerIPs",
];
const REQUEST_POOL: [&str; 2] = [
    "metallb.io/address-pool",
    "metallb.universe.tf/address-pool",
];

/// A snapshot of every store, as `Arc`s (what `Store::state()` returns).
#[derive(Default)]
pub struct Stores {
    pub pools: Vec<Arc<IpAddressPoolCr>>,
    pub peers: Vec<Arc<BgpPeerCr>>,
    pub bgp_advertisements: Vec<Arc<BgpAdvertisementCr>>,
    pub l2_advertisements: Vec<Arc<L2AdvertisementCr>>,
    pub communities: Vec<Arc<CommunityCr>>,
    pub bfd_profiles: Vec<Arc<BfdProfileCr>>,
    pub secrets: Vec<Arc<Secret>>,
    pub nodes: Vec<Arc<Node>>,
    pub namespaces: Vec<Arc<Namespace>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
}

/// Where an object came from, as error messages name it:
/// `api:Kind namespace/name`.
fn source(kind: &str, meta: &ObjectMeta) -> Source {
    let ns = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    Source {
        file: Arc::from(Path::new(&format!("api:{kind} {ns}/{name}"))),
        doc: 1,
        item: None,
    }
}

fn loaded<T>(kind: &str, meta: &ObjectMeta, spec: T) -> Loaded<T> {
    Loaded {
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        source: source(kind, meta),
        spec,
    }
}

/// Keeps of a Node's status only what the speaker reads (`addresses`:
/// L2 members; `conditions`: NetworkUnavailable): the image list a
/// kubelet reports is most of a Node object.
pub fn trim_node(n: &mut Node) {
    if let Some(st) = n.status.take() {
        n.status = Some(k8s_openapi::api::core::v1::NodeStatus {
            addresses: st.addresses,
            conditions: st.conditions,
            ..Default::default()
        });
    }
}

/// `svc` turned into a request for its status addresses (see the module
/// comment); `None` when the status holds none.
pub fn pinned_to_status(svc: &Service) -> Option<Service> {
    let ips: Vec<String> = svc
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .filter_map(|i| i.ip.clone().filter(|ip| !ip.is_empty()))
        .collect();
    if ips.is_empty() {
        return None;
    }
    let mut s = svc.clone();
    let ann = s.metadata.annotations.get_or_insert_with(Default::default);
    let pool = ann.get(ALLOCATED_FROM_POOL).cloned();
    for k in REQUEST_IPS.iter().chain(&REQUEST_POOL) {
        ann.remove(*k);
    }
    ann.insert(REQUEST_IPS[0].to_string(), ips.join(","));
    if let Some(p) = pool.filter(|p| !p.is_empty()) {
        ann.insert(REQUEST_POOL[0].to_string(), p);
    }
    if let Some(spec) = s.spec.as_mut() {
        // MetalLB rejects spec.loadBalancerIP beside the annotation; the
        // status already holds what it asked for.
        spec.load_balancer_ip = None;
    }
    Some(s)
}

/// Every object the speaker's validation and plan read.
pub fn objects(st: &Stores) -> Objects {
    let mut o = Objects {
        ip_address_pools: st
            .pools
            .iter()
            .map(|p| loaded("IPAddressPool", &p.metadata, p.spec.clone()))
            .collect(),
        bgp_peers: st
            .peers
            .iter()
            .map(|p| loaded("BGPPeer", &p.metadata, p.spec.clone()))
            .collect(),
        bgp_advertisements: st
            .bgp_advertisements
            .iter()
            .map(|a| loaded("BGPAdvertisement", &a.metadata, a.spec.clone()))
            .collect(),
        l2_advertisements: st
            .l2_advertisements
            .iter()
            .map(|a| loaded("L2Advertisement", &a.metadata, a.spec.clone()))
            .collect(),
        communities: st
            .communities
            .iter()
            .map(|c| loaded("Community", &c.metadata, c.spec.clone()))
            .collect(),
        bfd_profiles: st
            .bfd_profiles
            .iter()
            .map(|b| loaded("BFDProfile", &b.metadata, b.spec.clone()))
            .collect(),
        secrets: st
            .secrets
            .iter()
            .map(|s| loaded("Secret", &s.metadata, (**s).clone()))
            .collect(),
        nodes: st
            .nodes
            .iter()
            .map(|n| loaded("Node", &n.metadata, (**n).clone()))
            .collect(),
        namespaces: st
            .namespaces
            .iter()
            .map(|n| loaded("Namespace", &n.metadata, (**n).clone()))
            .collect(),
        services: st
            .services
            .iter()
            .filter_map(|s| {
                let p = pinned_to_status(s)?;
                let l = loaded("Service", &p.metadata, ());
                let rec = ServiceRecord::from_service(p);
                Some(Arc::new(Loaded {
                    name: l.name,
                    namespace: l.namespace,
                    labels: l.labels,
                    source: l.source,
                    spec: rec,
                }))
            })
            .collect(),
        endpoint_slices: st
            .endpoint_slices
            .iter()
            .map(|e| {
                let service = e
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL).cloned());
                let rec = EndpointSliceRecord::from_slice((**e).clone(), service);
                loaded("EndpointSlice", &e.metadata, rec)
            })
            .collect(),
        // The reflector lists every slice of the cluster.
        endpoint_slices_complete: true,
    };
    // Stable order (the stores are hash maps): by namespace/name, which is
    // also the order the file loader's consumers rely on for Services.
    fn by_key<T>(v: &mut [Loaded<T>]) {
        v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    }
    by_key(&mut o.ip_address_pools);
    by_key(&mut o.bgp_peers);
    by_key(&mut o.bgp_advertisements);
    by_key(&mut o.l2_advertisements);
    by_key(&mut o.communities);
    by_key(&mut o.bfd_profiles);
    by_key(&mut o.secrets);
    by_key(&mut o.nodes);
    by_key(&mut o.namespaces);
    by_key(&mut o.endpoint_slices);
    o.services
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    o
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
