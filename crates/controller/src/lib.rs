//! oxlb-controller: MetalLB's controller half. Prints the `metallb.io`
//! CRDs generated from the Rust types and (in `run`) allocates
//! LoadBalancer IPs with the `allocator` crate and writes them into the
//! Services' status.
#![forbid(unsafe_code)]

pub mod crds;
pub mod engine;
pub mod lease;
pub mod lease_io;
pub mod metrics;
pub mod objects;
pub mod run;
pub mod status_kinds;
pub mod store;
pub mod write_gate;
pub mod writes;
