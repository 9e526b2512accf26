//! The per-kind dispatch of a [`Loader`]: a document's `apiVersion` +
//! `kind` picks its type, and the `metallb.io` and core object readers.

use super::{str_field, Loaded, Loader};
use crate::diag::{Diagnostic, ObjectRef, Source};
use crate::endpoints::{EndpointSliceRecord, SERVICE_NAME_LABEL};
use crate::service::ServiceRecord;
use crate::types::{
    BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, BgpPeerSpecV1beta1, CommunitySpec,
    IpAddressPoolSpec, L2AdvertisementSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::sync::Arc;

/// The envelope of a `metallb.io` document.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Doc<S> {
    #[allow(dead_code)]
    api_version: IgnoredAny,
    #[allow(dead_code)]
    kind: IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<IgnoredAny>,
}

fn path_string<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> String {
    let p = e.path().to_string();
    if p == "." {
        String::new()
    } else {
        p
    }
}

impl Loader<'_> {
    pub(super) fn add_value(&mut self, mut v: Value, source: Source) {
        if !v.is_mapping() {
            self.errors.push(Diagnostic::new(
                None,
                Some(source),
                "",
                "document is not a mapping (expected a Kubernetes object)",
            ));
            return;
        }
        let api_version = str_field(&v, "apiVersion").unwrap_or_default().to_string();
        let kind = str_field(&v, "kind").unwrap_or_default().to_string();
        match (api_version.as_str(), kind.as_str()) {
            ("metallb.io/v1beta1", "IPAddressPool") => {
                if let Some(o) = self.metallb::<IpAddressPoolSpec>(v, &kind, source) {
                    self.objects.ip_address_pools.push(o);
                }
            }
            ("metallb.io/v1beta1", "L2Advertisement") => {
                if let Some(o) = self.metallb::<L2AdvertisementSpec>(v, &kind, source) {
                    self.objects.l2_advertisements.push(o);
                }
            }
            ("metallb.io/v1beta1", "BGPAdvertisement") => {
                if let Some(o) = self.metallb::<BgpAdvertisementSpec>(v, &kind, source) {
                    self.objects.bgp_advertisements.push(o);
                }
            }
            ("metallb.io/v1beta1", "BFDProfile") => {
                if let Some(o) = self.metallb::<BfdProfileSpec>(v, &kind, source) {
                    self.objects.bfd_profiles.push(o);
                }
            }
            ("metallb.io/v1beta1", "Community") => {
                if let Some(o) = self.metallb::<CommunitySpec>(v, &kind, source) {
                    self.objects.communities.push(o);
                }
            }
            ("metallb.io/v1beta1", "BGPPeer") => {
                if let Some(o) = self.metallb::<BgpPeerSpecV1beta1>(v, &kind, source) {
                    self.objects.bgp_peers.push(Loaded {
                        name: o.name,
                        namespace: o.namespace,
                        labels: o.labels,
                        source: o.source,
                        spec: o.spec.into(),
                    });
                }
            }
            ("metallb.io/v1beta2", "BGPPeer") => {
                if let Some(o) = self.metallb::<BgpPeerSpec>(v, &kind, source) {
                    self.objects.bgp_peers.push(o);
                }
            }
            ("v1", "Service") => {
                if let Some(o) = self.core::<Service>(v, &kind, source, true, |s| &mut s.metadata) {
                    self.objects.services.push(Arc::new(Loaded {
                        name: o.name,
                        namespace: o.namespace,
                        labels: o.labels,
                        source: o.source,
                        spec: ServiceRecord::from_service(o.spec),
                    }));
                }
            }
            ("v1", "Secret") => {
                if let Some(o) = self.core::<Secret>(v, &kind, source, true, |s| &mut s.metadata) {
                    self.objects.secrets.push(o);
                }
            }
            ("v1", "Node") => {
                if let Some(o) = self.core::<Node>(v, &kind, source, false, |s| &mut s.metadata) {
                    self.objects.nodes.push(o);
                }
            }
            ("v1", "Namespace") => {
                if let Some(o) =
                    self.core::<Namespace>(v, &kind, source, false, |s| &mut s.metadata)
                {
                    self.objects.namespaces.push(o);
                }
            }
            ("discovery.k8s.io/v1", "EndpointSlice") => {
                if let Some(o) =
                    self.core::<EndpointSlice>(v, &kind, source, true, |s| &mut s.metadata)
                {
                    let service = o.labels.get(SERVICE_NAME_LABEL).cloned();
                    self.objects.endpoint_slices.push(Loaded {
                        name: o.name,
                        namespace: o.namespace,
                        labels: o.labels,
                        source: o.source,
                        spec: EndpointSliceRecord::from_slice(o.spec, service),
                    });
                }
            }
            ("v1", "List") => {
                // Taken out of the document, not cloned: each item is freed
                // as soon as it is loaded.
                let items = match v.get_mut("items").map(std::mem::take) {
                    None | Some(Value::Null) => return,
                    Some(Value::Sequence(items)) => items,
                    Some(_) => {
                        self.errors.push(Diagnostic::new(
                            None,
                            Some(source),
                            "items",
                            "must be a list of objects",
                        ));
                        return;
                    }
                };
                for (i, item) in items.into_iter().enumerate() {
                    let src = Source {
                        item: Some(crate::diag::index(i)),
                        ..source.clone()
                    };
                    if source.item.is_some() {
                        self.errors.push(Diagnostic::new(
                            None,
                            Some(src),
                            "",
                            "nested kind: List is not supported",
                        ));
                        continue;
                    }
                    self.add_value(item, src);
                }
            }
            _ => {
                let what = match (api_version.is_empty(), kind.is_empty()) {
                    (true, true) => "missing apiVersion and kind".to_string(),
                    (true, false) => format!("missing apiVersion (kind {kind:?})"),
                    (false, true) => format!("missing kind (apiVersion {api_version:?})"),
                    _ => format!("unsupported apiVersion/kind {api_version}/{kind}"),
                };
                let name = v
                    .get("metadata")
                    .and_then(|m| str_field(m, "name"))
                    .unwrap_or_default();
                let object = (!name.is_empty() && !kind.is_empty()).then(|| ObjectRef {
                    kind: kind.clone(),
                    namespace: v
                        .get("metadata")
                        .and_then(|m| str_field(m, "namespace"))
                        .unwrap_or_default()
                        .to_string(),
                    name: name.to_string(),
                });
                self.errors
                    .push(Diagnostic::new(object, Some(source), "", what));
            }
        }
    }

    /// Best-effort identity before the document is fully parsed.
    fn raw_ref(&self, v: &Value, kind: &str, default_ns: &str) -> ObjectRef {
        let meta = v.get("metadata");
        let ns = meta
            .and_then(|m| str_field(m, "namespace"))
            .filter(|s| !s.is_empty())
            .unwrap_or(default_ns);
        ObjectRef {
            kind: kind.into(),
            namespace: ns.into(),
            name: meta
                .and_then(|m| str_field(m, "name"))
                .unwrap_or("<unnamed>")
                .into(),
        }
    }

    fn metallb<S: DeserializeOwned + Default>(
        &mut self,
        v: Value,
        kind: &str,
        source: Source,
    ) -> Option<Loaded<S>> {
        let ns = self.opts.namespace.clone();
        let obj = self.raw_ref(&v, kind, &ns);
        let doc: Doc<S> = match serde_path_to_error::deserialize(v) {
            Ok(d) => d,
            Err(e) => {
                let field = path_string(&e);
                self.errors.push(Diagnostic::new(
                    Some(obj),
                    Some(source),
                    field,
                    e.into_inner().to_string(),
                ));
                return None;
            }
        };
        if obj.namespace != ns {
            self.errors.push(Diagnostic::new(
                Some(obj),
                Some(source),
                "metadata.namespace",
                format!("resource must be created in {ns} namespace"),
            ));
            return None;
        }
        if !self.check_name(&obj, &source) {
            return None;
        }
        Some(Loaded {
            name: obj.name,
            namespace: ns,
            labels: doc.metadata.labels.unwrap_or_default(),
            source,
            spec: doc.spec.unwrap_or_default(),
        })
    }

    fn core<T: DeserializeOwned>(
        &mut self,
        v: Value,
        kind: &str,
        source: Source,
        namespaced: bool,
        meta: impl Fn(&mut T) -> &mut ObjectMeta,
    ) -> Option<Loaded<T>> {
        let default_ns = if namespaced { "default" } else { "" };
        let mut obj = self.raw_ref(&v, kind, default_ns);
        if !namespaced {
            obj.namespace.clear();
        }
        let mut value: T = match serde_path_to_error::deserialize(v) {
            Ok(d) => d,
            Err(e) => {
                let field = path_string(&e);
                self.errors.push(Diagnostic::new(
                    Some(obj),
                    Some(source),
                    field,
                    e.into_inner().to_string(),
                ));
                return None;
            }
        };
        if !self.check_name(&obj, &source) {
            return None;
        }
        Some(Loaded {
            name: obj.name,
            namespace: obj.namespace,
            labels: meta(&mut value).labels.take().unwrap_or_default(),
            source,
            spec: value,
        })
    }
}
