//! The L2 node runtime: the sans-IO cores (responder, election,
//! membership, announcer) and the Linux driver joined into one tokio task.

pub mod reconcile;
mod types;

pub use types::{Desired, NodeConfig, NodeError, NodeStatus, Profile, VipDesire, VipStatus};

#[cfg(target_os = "linux")]
pub use runtime::{spawn, NodeHandle};

#[cfg(target_os = "linux")]
mod ports;
#[cfg(target_os = "linux")]
mod runtime;
#[cfg(target_os = "linux")]
mod state;
#[cfg(target_os = "linux")]
mod status;
