//! From the API server's objects to metallb-api's [`Objects`], so the
//! controller validates and parses Services with the same code as the
//! speaker's file loader (no second copy of MetalLB's semantics).
//!
//! Objects are projected as they arrive from the watch ([`crate::store`]):
//! a Service becomes metallb-api's compact [`ServiceRecord`] (plus its
//! uid, for Events), a Namespace its name and labels, an IPAddressPool
//! its spec, status and identity (managedFields and the last-applied
//! annotation dropped).

use crate::store::Key;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::ObjectMeta;
use metallb_api::types::IpAddressPoolCr;
use metallb_api::{Loaded, Objects, ServiceRecord, Source};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A stored Service: its record and uid.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    /// What the allocation reads.
    pub record: Arc<Loaded<ServiceRecord>>,
    /// `metadata.uid` (for Event references).
    pub uid: Option<String>,
}

/// Shared with the speaker's `kubernetes` mode (moved to metallb-api).
pub use metallb_api::meta::compact;

/// One `Source` for every object read from the API server (diagnostics
/// name the object itself), shared so a record costs no path of its own.
fn source() -> Source {
    static FILE: OnceLock<Arc<Path>> = OnceLock::new();
    Source {
        file: FILE
            .get_or_init(|| Arc::from(Path::new("api-server")))
            .clone(),
        doc: 1,
        item: None,
    }
}

fn key(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn loaded<T>(meta: &mut ObjectMeta, spec: T) -> Loaded<T> {
    Loaded {
        name: meta.name.take().unwrap_or_default(),
        namespace: meta.namespace.take().unwrap_or_default(),
        labels: meta.labels.take().unwrap_or_default(),
        source: source(),
        spec,
    }
}

/// A Service as stored.
pub fn project_service(mut s: Service) -> (Key, ServiceEntry) {
    let k = key(&s.metadata);
    let mut meta = std::mem::take(&mut s.metadata);
    let uid = meta.uid.take();
    // Only metallb.io annotations are kept by the record.
    s.metadata.annotations = meta.annotations.take();
    let record = Arc::new(loaded(&mut meta, ServiceRecord::from_service(s)));
    (k, ServiceEntry { record, uid })
}

/// A Namespace as stored: name and labels only.
pub fn project_namespace(mut n: Namespace) -> (Key, Loaded<Namespace>) {
    let k = key(&n.metadata);
    let rec = loaded(&mut n.metadata, Namespace::default());
    (k, rec)
}

/// An IPAddressPool as stored: compacted.
pub fn project_pool(mut p: IpAddressPoolCr) -> (Key, Arc<IpAddressPoolCr>) {
    compact(&mut p.metadata);
    p.metadata.annotations = None;
    (key(&p.metadata), Arc::new(p))
}

/// The objects the allocation reads: pools, namespaces, Services, in a
/// stable order (the stores are hash maps): by namespace/name.
pub fn objects<'a>(
    pools: impl Iterator<Item = &'a Arc<IpAddressPoolCr>>,
    namespaces: impl Iterator<Item = &'a Loaded<Namespace>>,
    services: impl Iterator<Item = &'a ServiceEntry>,
) -> Objects {
    let mut o = Objects {
        ip_address_pools: pools
            .map(|p| {
                let mut meta = p.metadata.clone();
                loaded(&mut meta, p.spec.clone())
            })
            .collect(),
        namespaces: namespaces.cloned().collect(),
        services: services.map(|s| s.record.clone()).collect(),
        ..Objects::default()
    };
    o.ip_address_pools.sort_by(|a, b| a.name.cmp(&b.name));
    o.services
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;
    use std::collections::BTreeMap;

    #[test]
    fn a_stored_service_keeps_only_metallb_annotations_and_its_uid() {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u-1".into()),
                annotations: Some(BTreeMap::from([
                    (
                        "kubectl.kubernetes.io/last-applied-configuration".into(),
                        "x".repeat(4000),
                    ),
                    ("metallb.io/address-pool".into(), "p".into()),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        let (k, e) = project_service(svc);
        assert_eq!(k, ("default".to_string(), "web".to_string()));
        assert_eq!(e.uid.as_deref(), Some("u-1"));
        let ann = &e
            .record
            .spec
            .extra
            .as_ref()
            .expect("annotation kept")
            .annotations;
        assert_eq!(ann.keys().collect::<Vec<_>>(), ["metallb.io/address-pool"]);
        assert!(e.record.spec.is_load_balancer());
    }
}
