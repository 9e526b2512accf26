//! What a Service asks of the allocator, and the parser that builds it from
//! MetalLB's annotations and the Service spec given as plain strings.

use crate::error::{AllocError, IpList};
use crate::family::Family;
use crate::selector::Labels;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// The stable annotation prefix.
pub const ANNOTATION_PREFIX: &str = "metallb.io/";
/// The deprecated annotation prefix (still read; the stable one wins).
pub const DEPRECATED_ANNOTATION_PREFIX: &str = "metallb.universe.tf/";
/// Annotation suffix: pool name.
pub const ADDRESS_POOL: &str = "address-pool";
/// Annotation suffix: requested IPs, comma separated.
pub const LOAD_BALANCER_IPS: &str = "loadBalancerIPs";
/// Annotation suffix: sharing key.
pub const ALLOW_SHARED_IP: &str = "allow-shared-ip";
/// Annotation written by the controller with the pool name.
pub const IP_ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";

/// A service's identity: namespace and name. Orders by namespace, then name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceKey {
    /// A key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A port protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (the Kubernetes default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Parses `TCP` / `UDP` / `SCTP`; empty means TCP, as in Kubernetes.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim() {
            "" | "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// One `spec.ports[]` entry as far as sharing cares: protocol + port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// Protocol.
    pub protocol: Protocol,
    /// `spec.ports[].port` (not nodePort or targetPort).
    pub port: u16,
}

impl Port {
    /// A TCP port.
    pub fn tcp(port: u16) -> Port {
        Port {
            protocol: Protocol::Tcp,
            port,
        }
    }
    /// A UDP port.
    pub fn udp(port: u16) -> Port {
        Port {
            protocol: Protocol::Udp,
            port,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficPolicy {
    /// `Cluster` (the default).
    #[default]
    Cluster,
    /// `Local`.
    Local,
}

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamilyPolicy {
    /// `SingleStack` (the default).
    #[default]
    SingleStack,
    /// `PreferDualStack`.
    PreferDualStack,
    /// `RequireDualStack`.
    RequireDualStack,
}

/// Everything the allocator needs to know about one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// Namespace and name.
    pub key: ServiceKey,
    /// The Service's labels (for `serviceSelectors`).
    pub labels: Labels,
    /// The labels of the Service's namespace (for `namespaceSelectors`).
    pub namespace_labels: Labels,
    /// Requested IPs (`loadBalancerIPs` annotation or `spec.loadBalancerIP`),
    /// at most one per family.
    pub requested_ips: Vec<IpAddr>,
    /// Requested pool (`address-pool` annotation).
    pub pool: Option<String>,
    /// Sharing key (`allow-shared-ip`); empty means no sharing.
    pub sharing_key: String,
    /// `spec.ports[]` protocol + port.
    pub ports: Vec<Port>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `spec.selector` (part of the backend key when ETP is Local).
    pub selector: Labels,
    /// `spec.ipFamilies` (the first one is the primary family).
    pub ip_families: Vec<Family>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: IpFamilyPolicy,
    /// The families of `spec.clusterIPs`, in order.
    pub cluster_ip_families: Vec<Family>,
    /// Deprecated `metallb.universe.tf/` annotations that were used (for the
    /// `deprecatedAnnotation` warning).
    pub deprecated_annotations: Vec<String>,
}

impl ServiceRequest {
    /// A plain single-stack service of `family` with no annotations.
    pub fn new(key: ServiceKey, family: Family) -> Self {
        ServiceRequest {
            key,
            labels: Labels::new(),
            namespace_labels: Labels::new(),
            requested_ips: Vec::new(),
            pool: None,
            sharing_key: String::new(),
            ports: Vec::new(),
            traffic_policy: TrafficPolicy::Cluster,
            selector: Labels::new(),
            ip_families: vec![family],
            ip_family_policy: IpFamilyPolicy::SingleStack,
            cluster_ip_families: vec![family],
            deprecated_annotations: Vec::new(),
        }
    }

    /// A dual-stack service with the given policy, `primary` first.
    pub fn dual(key: ServiceKey, policy: IpFamilyPolicy, primary: Family) -> Self {
        let mut r = ServiceRequest::new(key, primary);
        r.ip_families = vec![primary, primary.other()];
        r.cluster_ip_families = vec![primary, primary.other()];
        r.ip_family_policy = policy;
        r
    }

    /// MetalLB's backend key: `""` for ETP=Cluster, the selector rendered as
    /// `k1=v1,k2=v2` (sorted) for ETP=Local.
    pub fn backend_key(&self) -> String {
        match self.traffic_policy {
            TrafficPolicy::Cluster => String::new(),
            TrafficPolicy::Local => self
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Which families the service needs, by MetalLB's rules: the cluster
    /// IPs decide single vs dual stack; RequireDualStack needs two cluster
    /// IPs; PreferDualStack with two cluster IPs prefers both but accepts one.
    pub fn wanted(&self) -> Result<Wanted, AllocError> {
        let fams = &self.cluster_ip_families;
        match fams.as_slice() {
            [] => Err(AllocError::NoClusterIps),
            [f] => {
                if self.ip_family_policy == IpFamilyPolicy::RequireDualStack {
                    Err(AllocError::NotEnoughClusterIps)
                } else {
                    Ok(Wanted::Single(*f))
                }
            }
            [a, b] if a != b => {
                let primary = self.ip_families.first().copied().unwrap_or(*a);
                Ok(match self.ip_family_policy {
                    IpFamilyPolicy::PreferDualStack => Wanted::PreferDual { primary },
                    _ => Wanted::RequireDual { primary },
                })
            }
            _ => Err(AllocError::InvalidClusterIps {
                value: format!(
                    "{:?}",
                    fams.iter().map(|f| f.to_string()).collect::<Vec<_>>()
                ),
            }),
        }
    }
}

/// The families a service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// One IP of this family.
    Single(Family),
    /// One IP of each family, from the same pool.
    RequireDual {
        /// Listed first in the result.
        primary: Family,
    },
    /// Both families from one pool if possible, else the primary, else the
    /// other one.
    PreferDual {
        /// Preferred when only one family can be had.
        primary: Family,
    },
}

impl Wanted {
    /// The primary family.
    pub fn primary(self) -> Family {
        match self {
            Wanted::Single(f)
            | Wanted::RequireDual { primary: f }
            | Wanted::PreferDual { primary: f } => f,
        }
    }
}

/// The Service fields the parser reads, as plain strings and maps, so the
/// controller and the speaker can both feed it without kube types. `Hash`
/// lets a caller that keeps one allocator across reloads tell which
/// Services changed without parsing them again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServiceFields {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// The namespace's `metadata.labels`.
    pub namespace_labels: Labels,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.loadBalancerIP` (empty = unset).
    pub load_balancer_ip: String,
    /// `spec.ports[]` as (protocol, port).
    pub ports: Vec<(String, i32)>,
    /// `spec.externalTrafficPolicy` (empty = Cluster).
    pub external_traffic_policy: String,
    /// `spec.selector`.
    pub selector: Labels,
    /// `spec.ipFamilies`.
    pub ip_families: Vec<String>,
    /// `spec.ipFamilyPolicy` (empty = SingleStack).
    pub ip_family_policy: String,
    /// `spec.clusterIPs`.
    pub cluster_ips: Vec<String>,
    /// `spec.clusterIP` (used when `clusterIPs` is empty).
    pub cluster_ip: String,
}

/// Reads an annotation by suffix: the `metallb.io/` key wins if present
/// (even if empty), otherwise the deprecated key. Returns the value and
/// whether the deprecated key was the one used.
pub fn annotation<'a>(
    annotations: &'a BTreeMap<String, String>,
    suffix: &str,
) -> Option<(&'a str, bool)> {
    // Most Services carry no MetalLB annotation: no key is built for them.
    if annotations.is_empty() {
        return None;
    }
    if let Some(v) = annotations.get(&format!("{ANNOTATION_PREFIX}{suffix}")) {
        return Some((v.as_str(), false));
    }
    annotations
        .get(&format!("{DEPRECATED_ANNOTATION_PREFIX}{suffix}"))
        .map(|v| (v.as_str(), true))
}

/// Parses the requested IPs from the `loadBalancerIPs` annotation value
/// and `spec.loadBalancerIP` (MetalLB's `getDesiredLbIPs`).
pub fn parse_requested_ips(
    annotation_value: &str,
    spec_ip: &str,
) -> Result<Vec<IpAddr>, AllocError> {
    let (ann, spec) = (annotation_value.trim(), spec_ip.trim());
    match (ann.is_empty(), spec.is_empty()) {
        (true, true) => Ok(Vec::new()),
        (false, false) => Err(AllocError::BothLoadBalancerIpFields),
        (true, false) => spec.parse::<IpAddr>().map(|ip| vec![ip]).map_err(|_| {
            AllocError::InvalidSpecLoadBalancerIp {
                value: spec_ip.to_string(),
            }
        }),
        (false, true) => {
            let mut ips = Vec::new();
            for part in ann.split(',') {
                let ip = part.trim().parse::<IpAddr>().map_err(|_| {
                    AllocError::InvalidLoadBalancerIps {
                        value: annotation_value.to_string(),
                    }
                })?;
                ips.push(ip);
            }
            match ips.as_slice() {
                [_] => Ok(ips),
                [a, b] if Family::of(a) != Family::of(b) => Ok(ips),
                [_, _] => Err(AllocError::RequestedSameFamily { ips: IpList(ips) }),
                _ => Err(AllocError::RequestedTooMany { ips: IpList(ips) }),
            }
        }
    }
}

/// Builds a [`ServiceRequest`] from a Service's fields. Errors are
/// MetalLB's `LoadBalancerFailed` cases (malformed requested IPs, both
/// fields set) and malformed cluster IPs.
pub fn parse_service(f: &ServiceFields) -> Result<ServiceRequest, AllocError> {
    let mut deprecated = Vec::new();
    let mut read = |suffix: &str| {
        annotation(&f.annotations, suffix).map(|(v, old)| {
            if old {
                deprecated.push(format!("{DEPRECATED_ANNOTATION_PREFIX}{suffix}"));
            }
            v.to_string()
        })
    };
    let lb_ips = read(LOAD_BALANCER_IPS).unwrap_or_default();
    let pool = read(ADDRESS_POOL).filter(|p| !p.is_empty());
    let sharing_key = read(ALLOW_SHARED_IP).unwrap_or_default();
    let requested_ips = parse_requested_ips(&lb_ips, &f.load_balancer_ip)?;

    let cluster_ips: Vec<&str> = if f.cluster_ips.is_empty() {
        [f.cluster_ip.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty() && *s != "None")
            .collect()
    } else {
        f.cluster_ips
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "None")
            .collect()
    };
    let mut cluster_ip_families = Vec::new();
    for ip in &cluster_ips {
        let ip: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| AllocError::InvalidClusterIps {
                value: format!("{cluster_ips:?}"),
            })?;
        cluster_ip_families.push(Family::of(&ip));
    }
    let ports = f
        .ports
        .iter()
        .filter_map(|(proto, port)| {
            Some(Port {
                protocol: Protocol::parse(proto)?,
                port: u16::try_from(*port).ok()?,
            })
        })
        .collect();
    Ok(ServiceRequest {
        key: ServiceKey::new(f.namespace.clone(), f.name.clone()),
        labels: f.labels.clone(),
        namespace_labels: f.namespace_labels.clone(),
        requested_ips,
        pool,
        sharing_key,
        ports,
        traffic_policy: if f.external_traffic_policy.trim() == "Local" {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        },
        selector: f.selector.clone(),
        ip_families: f
            .ip_families
            .iter()
            .filter_map(|s| Family::parse_k8s(s))
            .collect(),
        ip_family_policy: match f.ip_family_policy.trim() {
            "PreferDualStack" => IpFamilyPolicy::PreferDualStack,
            "RequireDualStack" => IpFamilyPolicy::RequireDualStack,
            _ => IpFamilyPolicy::SingleStack,
        },
        cluster_ip_families,
        deprecated_annotations: deprecated,
    })
}
