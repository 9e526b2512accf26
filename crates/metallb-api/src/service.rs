//! The compact record kept for each `v1` Service.
//!
//! A Service document is parsed into the full Kubernetes type (so exactly
//! what Kubernetes accepts is accepted: unknown fields are ignored, known
//! fields are type-checked), then projected to a [`ServiceRecord`] holding
//! only what the allocator and the announcement plan read, and the full
//! object is dropped. A plain Service in a List is read by the strict fast
//! parse instead (`fast_service.rs`), which fills the same
//! [`ServiceFields`] and declines whatever it cannot read exactly as the
//! full parse would. At 100k Services the full objects (managedFields,
//! `last-applied-configuration`, every spec field) were most of the heap.

use k8s_openapi::api::core::v1::Service;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Annotation prefixes MetalLB reads (`metallb.io/` and the deprecated
/// `metallb.universe.tf/`); the allocator looks annotations up only under
/// these, so every other annotation is left out of the record.
const METALLB_ANNOTATION_PREFIXES: [&str; 2] = ["metallb.io/", "metallb.universe.tf/"];

/// What oxlb keeps of a `v1` Service: the fields the allocator
/// ([`allocator::ServiceFields`]) and the plan read, as written (defaults
/// are applied by validation). Identity and labels live in the enclosing
/// [`crate::Loaded`]. The fields most Services leave unset are in one
/// boxed [`ServiceExtra`], absent when all are unset, so a plain
/// LoadBalancer Service costs its ports and 32 bytes here (with its
/// identity, 160 bytes in all: one allocation class below the 184 bytes of
/// a `Cow` type name and `usize` source indexes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServiceRecord {
    /// `spec` was present.
    pub has_spec: bool,
    /// `spec.type` as one of the four Kubernetes names; any other name is
    /// kept in [`ServiceExtra::other_type`]. See [`ServiceRecord::type_name`].
    type_: TypeName,
    /// `spec.ports[]` as (protocol, port); protocol as written (None =
    /// unset; TCP, UDP and SCTP are not allocated).
    pub ports: Box<[(Option<Cow<'static, str>>, i32)]>,
    /// The rest, None when every one of them is unset or empty.
    pub extra: Option<Box<ServiceExtra>>,
}

/// `spec.type`: one byte for the names Kubernetes defines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
enum TypeName {
    #[default]
    Unset,
    LoadBalancer,
    ClusterIp,
    NodePort,
    ExternalName,
    /// Another name, in [`ServiceExtra::other_type`].
    Other,
}

impl TypeName {
    const KNOWN: [(&'static str, TypeName); 4] = [
        ("LoadBalancer", TypeName::LoadBalancer),
        ("ClusterIP", TypeName::ClusterIp),
        ("NodePort", TypeName::NodePort),
        ("ExternalName", TypeName::ExternalName),
    ];
}

/// The fields of a [`ServiceRecord`] that most Services leave unset.
/// (Its hash leaves out `status_ips`, which is not an allocator field.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceExtra {
    /// `spec.loadBalancerClass` (empty reads as unset).
    pub load_balancer_class: Option<String>,
    /// The `metallb.io/` and `metallb.universe.tf/` annotations.
    pub annotations: BTreeMap<String, String>,
    /// `spec.loadBalancerIP` (empty = unset).
    pub load_balancer_ip: String,
    /// `spec.externalTrafficPolicy` (empty = unset).
    pub external_traffic_policy: String,
    /// `spec.selector`, sorted by key (a B-tree costs a 544-byte node even
    /// for one entry).
    pub selector: Vec<(String, String)>,
    /// `spec.ipFamilies`.
    pub ip_families: Vec<String>,
    /// `spec.ipFamilyPolicy` (empty = unset).
    pub ip_family_policy: String,
    /// `spec.clusterIPs` (as written, empty entries kept).
    pub cluster_ips: Vec<String>,
    /// `spec.clusterIP` (empty = unset).
    pub cluster_ip: String,
    /// `status.loadBalancer.ingress[].ip` that parse as IPs.
    pub status_ips: Vec<IpAddr>,
    /// `spec.type` when it is none of the four Kubernetes names.
    pub other_type: Option<String>,
}

impl std::hash::Hash for ServiceExtra {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let ServiceExtra {
            load_balancer_class,
            annotations,
            load_balancer_ip,
            external_traffic_policy,
            selector,
            ip_families,
            ip_family_policy,
            cluster_ips,
            cluster_ip,
            status_ips: _,
            other_type,
        } = self;
        (load_balancer_class, annotations, load_balancer_ip).hash(h);
        (external_traffic_policy, selector, ip_families).hash(h);
        (ip_family_policy, cluster_ips, cluster_ip, other_type).hash(h);
    }
}

/// `s` as a static string when it is one of `known`, else allocated.
fn known_or_owned(s: String, known: &[&'static str]) -> Cow<'static, str> {
    match known.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s),
    }
}

impl ServiceRecord {
    /// True if `spec.type` is `LoadBalancer`.
    pub fn is_load_balancer(&self) -> bool {
        self.has_spec && self.type_ == TypeName::LoadBalancer
    }

    /// `spec.type` as written (None = unset).
    pub fn type_name(&self) -> Option<&str> {
        match self.type_ {
            TypeName::Unset => None,
            TypeName::Other => self.extra.as_ref()?.other_type.as_deref(),
            t => TypeName::KNOWN
                .iter()
                .find(|(_, k)| *k == t)
                .map(|(name, _)| *name),
        }
    }

    /// `spec.loadBalancerClass` (None when unset or empty).
    pub fn load_balancer_class(&self) -> Option<&str> {
        self.extra.as_ref()?.load_balancer_class.as_deref()
    }

    /// Projects a parsed Service, consuming it (nothing is cloned).
    pub fn from_service(svc: Service) -> ServiceRecord {
        let status_ips = svc
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .map(|ing| {
                ing.iter()
                    .filter_map(|i| i.ip.as_deref()?.parse::<IpAddr>().ok())
                    .collect()
            })
            .unwrap_or_default();
        ServiceRecord::from_fields(ServiceFields {
            annotations: svc.metadata.annotations.unwrap_or_default(),
            status_ips,
            spec: svc.spec.map(|spec| SpecFields {
                type_: spec.type_,
                ports: spec
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| (p.protocol, p.port))
                    .collect(),
                load_balancer_ip: spec.load_balancer_ip,
                load_balancer_class: spec.load_balancer_class,
                external_traffic_policy: spec.external_traffic_policy,
                selector: spec.selector,
                ip_families: spec.ip_families,
                ip_family_policy: spec.ip_family_policy,
                cluster_ip: spec.cluster_ip,
                cluster_ips: spec.cluster_ips,
            }),
        })
    }

    /// Projects the fields of a Service (from the full object or from the
    /// fast parse: both go through here, so they give the same record).
    pub(crate) fn from_fields(svc: ServiceFields) -> ServiceRecord {
        let annotations: BTreeMap<String, String> = svc
            .annotations
            .into_iter()
            .filter(|(k, _)| METALLB_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        let status_ips = svc.status_ips;
        let Some(spec) = svc.spec else {
            let extra = ServiceExtra {
                annotations,
                status_ips,
                ..ServiceExtra::default()
            };
            return ServiceRecord {
                extra: boxed_unless_default(extra),
                ..ServiceRecord::default()
            };
        };
        let extra = ServiceExtra {
            load_balancer_class: spec.load_balancer_class.filter(|c| !c.is_empty()),
            annotations,
            load_balancer_ip: spec.load_balancer_ip.unwrap_or_default(),
            external_traffic_policy: spec.external_traffic_policy.unwrap_or_default(),
            selector: spec.selector.unwrap_or_default().into_iter().collect(),
            ip_families: spec.ip_families.unwrap_or_default(),
            ip_family_policy: spec.ip_family_policy.unwrap_or_default(),
            cluster_ips: spec.cluster_ips.unwrap_or_default(),
            cluster_ip: spec.cluster_ip.unwrap_or_default(),
            status_ips,
            other_type: None,
        };
        let mut extra = extra;
        let type_ = match spec.type_ {
            None => TypeName::Unset,
            Some(t) => match TypeName::KNOWN.iter().find(|(name, _)| *name == t) {
                Some((_, k)) => *k,
                None => {
                    extra.other_type = Some(t);
                    TypeName::Other
                }
            },
        };
        ServiceRecord {
            has_spec: true,
            type_,
            ports: spec
                .ports
                .into_iter()
                .map(|(proto, port)| {
                    (
                        proto.map(|p| known_or_owned(p, &["TCP", "UDP", "SCTP"])),
                        port,
                    )
                })
                .collect(),
            extra: boxed_unless_default(extra),
        }
    }
}

/// The fields of a Service a [`ServiceRecord`] is built from.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ServiceFields {
    /// `metadata.annotations` (filtered to MetalLB's when projected).
    pub annotations: BTreeMap<String, String>,
    /// `status.loadBalancer.ingress[].ip` that parse as IPs.
    pub status_ips: Vec<IpAddr>,
    /// `spec`, if present.
    pub spec: Option<SpecFields>,
}

/// The `spec` fields of a Service a [`ServiceRecord`] is built from, as
/// written (None = unset).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SpecFields {
    pub type_: Option<String>,
    /// `ports[]` as (protocol, port); empty when unset.
    pub ports: Vec<(Option<String>, i32)>,
    pub load_balancer_ip: Option<String>,
    pub load_balancer_class: Option<String>,
    pub external_traffic_policy: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub ip_families: Option<Vec<String>>,
    pub ip_family_policy: Option<String>,
    pub cluster_ip: Option<String>,
    pub cluster_ips: Option<Vec<String>>,
}

fn boxed_unless_default(extra: ServiceExtra) -> Option<Box<ServiceExtra>> {
    (extra != ServiceExtra::default()).then(|| Box::new(extra))
}
