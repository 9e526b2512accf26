//! MetalLB-compatible LoadBalancer IP allocation for oxlb.
//!
//! This crate decides which Service gets which VIP. It is pure logic: no
//! I/O, no Kubernetes types, no randomness, no hash-map ordering. Pools
//! ([`IpAddressPool`]) and service requests ([`ServiceRequest`], built from
//! plain strings by [`parse_service`]) go in; [`Assignment`]s, MetalLB-style
//! [`AllocationEvent`]s and typed [`AllocError`]s come out.
//!
//! Semantics follow MetalLB (first-fit lowest address, pinned pools by
//! priority then plain pools, sharing rules, dual-stack policies, restart
//! restoration) with its random or fragile parts made deterministic; see
//! `docs/allocator.md` for the full contract and the list of differences.
//!
//! Scale: each pool keeps its used addresses as merged runs of "slots"
//! ([`IntervalSet`]), so finding the lowest free address is O(log n) and
//! memory is O(assigned), whatever the pool size (a /8, a /64, a /48).
//! Services are interned to integer ids (one hash lookup by
//! `namespace/name` per call), only what later decisions need is stored
//! per service, and event text is rendered lazily ([`EventMessage`]), so
//! the full `converge` path runs at over a million allocations per second
//! (`docs/bench/allocator.md`). Hash tables are used for lookups only;
//! nothing returned depends on their order.
//!
//! ```
//! use allocator::{Allocator, Family, IpAddressPool, PoolSpec, ServiceKey, ServiceRequest};
//! let pools = [IpAddressPool::new("default", PoolSpec::new(["10.0.0.0/30"]))];
//! let mut alloc = Allocator::new(&pools).unwrap();
//! let web = ServiceRequest::new(ServiceKey::new("default", "web"), Family::V4);
//! let out = alloc.converge(&web, &[]);
//! assert_eq!(out.result.unwrap().addresses(), vec!["10.0.0.0".parse::<std::net::IpAddr>().unwrap()]);
//! assert_eq!(out.events[0].reason, "IPAllocated");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allocator;
pub mod error;
mod family;
mod index;
pub mod intervals;
mod pool;
pub mod request;
pub mod selector;
mod space;
mod stats;

pub use crate::allocator::{
    AllocationEvent, Allocator, AssignedIp, Assignment, EventKind, EventMessage, Outcome, Released,
};
pub use crate::error::{reasons, AllocError, FamilyLabel, IpList, SharingConflict};
pub use crate::family::{go_quote_list, is_buggy_ip, Family};
pub use crate::intervals::IntervalSet;
pub use crate::pool::{
    validate_pools, ConfigError, IpAddressPool, Pool, PoolSpec, ServiceAllocation,
};
pub use crate::request::{
    annotation, parse_requested_ips, parse_service, IpFamilyPolicy, Port, Protocol, ServiceFields,
    ServiceKey, ServiceRequest, TrafficPolicy, Wanted,
};
pub use crate::selector::{LabelSelector, LabelSelectorRequirement, Labels, Operator};
pub use crate::stats::PoolStats;
