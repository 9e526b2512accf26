//! MetalLB's configuration API for the oxlb standalone speaker.
//!
//! Pure logic: no I/O besides reading the files it is given, no kube client.
//!
//! * [`load`] / [`load_with`] read a multi-document YAML file or a directory
//!   of `*.yaml`/`*.yml` files into [`Objects`]: the `metallb.io` CRs
//!   (`IPAddressPool`, `L2Advertisement`, `BGPAdvertisement`, `BFDProfile`,
//!   `Community`, `BGPPeer` v1beta1 and v1beta2) and the core `v1` kinds
//!   (`Service`, `Secret`, `Node`, `Namespace`, and `List`) and
//!   `discovery.k8s.io/v1` `EndpointSlice`, exactly as
//!   `kubectl get -o yaml` prints them. Misspelt fields are errors.
//! * [`validate`] applies MetalLB's validation rules and returns the
//!   [`Config`] the speaker uses, plus warnings.
//! * [`plan`] computes, for one node, the BGP announcements (prefixes with
//!   their attributes and peers) and the L2-eligible IPs for a set of
//!   assignments.
//!
//! Every error is a [`Diagnostic`] naming the object (`Kind ns/name`), the
//! file and document it came from, and the field.
//!
//! ```
//! use metallb_api::{load_str, validate, Options};
//! let yaml = "
//! apiVersion: metallb.io/v1beta1
//! kind: IPAddressPool
//! metadata: {name: default, namespace: metallb-system}
//! spec: {addresses: [10.0.0.0/24]}
//! ";
//! let objects = load_str(yaml, "pools.yaml", &Options::default()).unwrap();
//! let config = validate(&objects, &Options::default()).unwrap().config;
//! assert!(config.pools.contains_key("default"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod community;
mod config;
mod diag;
pub mod duration;
mod endpoints;
mod fast_hash;
mod fast_service;
mod flow;
mod list_split;
mod load;
mod load_cache;
pub mod meta;
mod plan;
pub mod selectors;
mod service;
pub mod types;
mod validate;

pub use crate::community::{parse_community, Community};
pub use crate::config::{
    BfdProfile, BgpAdvertisement, BgpPeerConfig, Config, L2Advertisement, LoadBalancerService,
    PeerAsn, PoolConfig,
};
pub use crate::diag::{Diagnostic, Diagnostics, LoadErrors, ObjectRef, Source};
pub use crate::duration::parse_go_duration;
pub use crate::endpoints::{EndpointRecord, EndpointSliceRecord, ReadyNodes, SERVICE_NAME_LABEL};
pub use crate::load::{load, load_str, load_with, Loaded, Objects, Options, DEFAULT_NAMESPACE};
pub use crate::load_cache::{load_cached, LoadCache};
pub use crate::plan::{
    plan, plan_compact, Assigned, BgpAnnouncement, BgpAttrs, BgpGroup, CompactPlan, L2Announcement,
    Plan, PlanInput,
};
pub use crate::service::{ServiceExtra, ServiceRecord};
pub use crate::validate::{load_config, validate, Validated};
