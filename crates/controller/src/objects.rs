//! From the API server's objects to metallb-api's [`Objects`], so the
//! controller validates and parses Services with the same code as the
//! speaker's file loader (no second copy of MetalLB's semantics).

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::ObjectMeta;
use metallb_api::types::IpAddressPoolCr;
use metallb_api::{Loaded, Objects, ServiceRecord, Source};
use std::path::Path;
use std::sync::Arc;

/// Shared with the speaker's `kubernetes` mode (moved to metallb-api).
pub use metallb_api::meta::compact;

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

/// The objects the allocation reads: pools, namespaces, Services.
pub fn objects(
    pools: &[Arc<IpAddressPoolCr>],
    namespaces: &[Arc<Namespace>],
    services: &[Arc<Service>],
) -> Objects {
    let mut o = Objects {
        ip_address_pools: pools
            .iter()
            .map(|p| loaded("IPAddressPool", &p.metadata, p.spec.clone()))
            .collect(),
        namespaces: namespaces
            .iter()
            .map(|n| loaded("Namespace", &n.metadata, (**n).clone()))
            .collect(),
        services: services
            .iter()
            .map(|s| {
                let rec = ServiceRecord::from_service((**s).clone());
                Arc::new(loaded("Service", &s.metadata, rec))
            })
            .collect(),
        ..Objects::default()
    };
    // Stable order (the stores are hash maps): by namespace/name.
    o.ip_address_pools.sort_by(|a, b| a.name.cmp(&b.name));
    o.services
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    o
}
