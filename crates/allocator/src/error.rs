//! Typed allocation errors. `Display` gives MetalLB's exact messages, and
//! [`AllocError::reason`] the Kubernetes event reason MetalLB uses.

use crate::family::{go_quote_list, Family};
use crate::request::Port;
use std::fmt;
use std::net::IpAddr;
use thiserror::Error;

/// Kubernetes event reasons, as MetalLB spells them.
pub mod reasons {
    /// Normal: an IP was assigned.
    pub const IP_ALLOCATED: &str = "IPAllocated";
    /// Warning: no IP could be assigned.
    pub const ALLOCATION_FAILED: &str = "AllocationFailed";
    /// Normal: the current IP is no longer valid and was dropped.
    pub const CLEAR_ASSIGNMENT: &str = "ClearAssignment";
    /// Warning: malformed `loadBalancerIPs` / `spec.loadBalancerIP`, or both set.
    pub const LOAD_BALANCER_FAILED: &str = "LoadBalancerFailed";
    /// Warning: RequireDualStack with a single cluster IP.
    pub const NOT_ENOUGH_CLUSTER_IPS: &str = "not enough clusterips";
    /// Warning: the cluster IPs' family cannot be determined.
    pub const NO_CLUSTER_IPS_FAMILY: &str = "noclusterIPsIPFamily";
    /// Normal: PreferDualStack could not add the second family.
    pub const ADDITIONAL_ASSIGN_FAILED: &str = "AdditionalAssignFailed";
    /// Warning: a deprecated `metallb.universe.tf/` annotation is used.
    pub const DEPRECATED_ANNOTATION: &str = "deprecatedAnnotation";
}

/// Why an address in use cannot be shared (MetalLB's `sharingOK`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SharingConflict {
    /// The services already on the IP have no sharing key.
    #[error("existing service does not allow sharing")]
    ExistingDoesNotAllowSharing,
    /// The new service has no sharing key.
    #[error("new service does not allow sharing")]
    NewDoesNotAllowSharing,
    /// Different sharing keys.
    #[error("sharing key {new:?} does not match existing sharing key {existing:?}")]
    KeyMismatch {
        /// The new service's key.
        new: String,
        /// The key of the services on the IP.
        existing: String,
    },
    /// Different backend keys (ETP Cluster vs Local, or different selectors).
    #[error("backend key {new:?} does not match existing sharing key {existing:?}")]
    BackendMismatch {
        /// The new service's backend key.
        new: String,
        /// The backend key of the services on the IP.
        existing: String,
    },
}

/// What a service asked for, as MetalLB names it in messages:
/// `ipv4`, `ipv6` or `dual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyLabel {
    /// One family.
    Single(Family),
    /// Both families.
    Dual,
}

impl fmt::Display for FamilyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FamilyLabel::Single(fam) => f.write_str(fam.metallb_name()),
            FamilyLabel::Dual => f.write_str("dual"),
        }
    }
}

/// Lists of IPs display as Go's `%q` of a slice: `["10.0.0.1" "fd00::1"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpList(pub Vec<IpAddr>);

impl fmt::Display for IpList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&go_quote_list(&self.0))
    }
}

/// Why a service could not get (or keep) an address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllocError {
    // ---- malformed requests (LoadBalancerFailed) ----
    /// Both the `loadBalancerIPs` annotation and `spec.loadBalancerIP` are set.
    #[error("service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP")]
    BothLoadBalancerIpFields,
    /// The `loadBalancerIPs` annotation does not parse.
    #[error("invalid metallb.io/loadBalancerIPs: {value:?}")]
    InvalidLoadBalancerIps {
        /// The annotation value.
        value: String,
    },
    /// `spec.loadBalancerIP` does not parse.
    #[error("invalid spec.loadBalancerIP {value:?}")]
    InvalidSpecLoadBalancerIp {
        /// The field value.
        value: String,
    },
    /// Two requested IPs of the same family.
    #[error("IPFamilyForAddresses: same address family {ips}")]
    RequestedSameFamily {
        /// The requested IPs.
        ips: IpList,
    },
    /// More than two requested IPs.
    #[error("IPFamilyForAddresses: invalid ips length {} {ips}", ips.0.len())]
    RequestedTooMany {
        /// The requested IPs.
        ips: IpList,
    },

    // ---- service family problems ----
    /// No cluster IP: the family cannot be determined.
    #[error("invalid ClusterIPs, can't determine family")]
    NoClusterIps,
    /// The cluster IPs do not form one or two distinct families.
    #[error("IPFamilyForAddresses: invalid cluster IPs {value}")]
    InvalidClusterIps {
        /// The cluster IPs as given.
        value: String,
    },
    /// RequireDualStack with fewer than two cluster IPs.
    #[error("RequireDualStack service has only one clusterIP")]
    NotEnoughClusterIps,

    // ---- allocation failures (AllocationFailed) ----
    /// No pool is configured (MetalLB clears the service silently).
    #[error("no address pools configured")]
    NoPools,
    /// No candidate pool could satisfy the request.
    #[error("no available IPs")]
    NoAvailableIps,
    /// No candidate pool even has the requested family.
    #[error("no suitable pool for {family} IPFamily")]
    NoSuitablePool {
        /// What was requested.
        family: FamilyLabel,
    },
    /// The requested pool is exhausted (or lacks the family).
    #[error("no available IPs in pool {pool:?} for {family} IPFamily")]
    NoAvailableIpsInPool {
        /// The pool.
        pool: String,
        /// What was requested.
        family: FamilyLabel,
    },
    /// The `address-pool` annotation names no pool.
    #[error("unknown pool {pool:?}")]
    UnknownPool {
        /// The pool name.
        pool: String,
    },
    /// A requested IP is in no pool (or is a buggy IP of an avoidBuggyIPs pool).
    #[error("{ips} is not allowed in config")]
    NotAllowedInConfig {
        /// The requested IPs.
        ips: IpList,
    },
    /// The pool's `serviceAllocation` does not allow the service.
    #[error("pool {pool} not compatible for ip assignment")]
    PoolNotCompatible {
        /// The pool.
        pool: String,
    },
    /// The requested IPs do not match the service's family.
    #[error("requested loadBalancer IP(s) {ips} does not match the ipFamily of the service")]
    FamilyMismatch {
        /// The requested IPs.
        ips: IpList,
    },
    /// The requested IPs are not in the requested pool.
    #[error(
        "requested loadBalancer IP(s) {ips} is not compatible with requested address pool {pool}"
    )]
    NotInRequestedPool {
        /// The requested IPs.
        ips: IpList,
        /// The requested pool.
        pool: String,
    },
    /// A (protocol, port) of the service is already used on the IP.
    #[error("port {port} is already in use on {:?}", ip.to_string())]
    PortInUse {
        /// The clashing port.
        port: Port,
        /// The IP.
        ip: IpAddr,
    },
    /// The IP is used by other services whose sharing/backend key differs.
    #[error("can't change sharing key for {service:?}, address also in use by {}", others.join(","))]
    SharingKeyConflict {
        /// The service (`ns/name`).
        service: String,
        /// The services already on the IP (`ns/name`).
        others: Vec<String>,
        /// Why they cannot share.
        conflict: SharingConflict,
    },
}

impl AllocError {
    /// The Kubernetes event reason MetalLB emits for this error.
    pub fn reason(&self) -> &'static str {
        use AllocError::*;
        match self {
            BothLoadBalancerIpFields
            | InvalidLoadBalancerIps { .. }
            | InvalidSpecLoadBalancerIp { .. }
            | RequestedSameFamily { .. }
            | RequestedTooMany { .. } => reasons::LOAD_BALANCER_FAILED,
            NoClusterIps | InvalidClusterIps { .. } => reasons::NO_CLUSTER_IPS_FAMILY,
            NotEnoughClusterIps => reasons::NOT_ENOUGH_CLUSTER_IPS,
            _ => reasons::ALLOCATION_FAILED,
        }
    }

    /// True for errors about the request itself (the service must change
    /// before retrying helps); false for capacity/config errors that may
    /// resolve when addresses free up or pools change.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self.reason(),
            reasons::LOAD_BALANCER_FAILED
                | reasons::NO_CLUSTER_IPS_FAMILY
                | reasons::NOT_ENOUGH_CLUSTER_IPS
        )
    }

    /// The full event message MetalLB would emit for this error on service
    /// `key` (`ns/name`).
    pub fn event_message(&self, key: &str) -> String {
        match self.reason() {
            reasons::ALLOCATION_FAILED => format!("Failed to allocate IP for {key:?}: {self}"),
            reasons::LOAD_BALANCER_FAILED => format!("invalid requested loadbalancer IPs: {self}"),
            _ => self.to_string(),
        }
    }
}
