//! oxlb's layer-2 announcer (MetalLB's L2 mode, plus link health and fencing).
//!
//! A sans-IO core in the style of `bgp-proto`: the packet codecs, the
//! responder decision, the per-Service election and the membership state
//! take bytes and a `now` and return actions; sockets and timers live in
//! the thin Linux driver.

pub mod announcer;
pub mod election;
pub mod fuzzing;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod membership;
pub mod node;
pub mod responder;
pub mod wire;
