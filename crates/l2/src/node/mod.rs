//! The L2 node runtime: the sans-IO cores (responder, election,
//! membership, announcer) and the Linux driver joined into one tokio task.
//!
//! | piece | job |
//! |---|---|
//! | [`reconcile`] (sans-IO) | desired VIPs + membership view + local links → one election per VIP and the announcer's (VIP, ifindex) set |
//! | `runtime` | [`spawn`], [`NodeHandle`]; the node task's `select!` over stop, desired set, link events, membership datagrams, frames, timers |
//! | `state` | the handlers: every change re-elects, feeds the announcer, and brings the responder and the NDP joins to what the announcer answers |
//! | `ports` | one task per ARP/NDP socket: frames in over one bounded queue, sends and joins out over a bounded queue per port |
//! | `status` | the [`NodeStatus`] snapshot, published through a `watch` |
//!
//! Order: actions are carried out as the cores return them; membership
//! datagrams wait in an outbox the task flushes after the handler, so a
//! node has stopped answering (fence, shutdown, carrier loss) before the
//! datagram that tells its peers goes out.
//!
//! Interfaces: a port is opened on every interface that passes MetalLB's
//! rule ([`crate::linux::LinkState::arp_eligible`] / `ndp_eligible`), and
//! closed when the interface goes away or stops passing it (down,
//! enslaved, NOARP). Carrier loss keeps the ports open: the announcer
//! stops answering there (`LinkDown`) and membership tells the peers
//! (`LinksDown`), which drop this node from the candidates of the VIPs
//! that lost every interface (see [`reconcile`]).
//!
//! Measured (`cargo test -p l2 --test node_netns -- --ignored --nocapture`,
//! three nodes on one bridge, a client probing every 5 ms): winner killed →
//! first ARP reply from the next candidate 0.43-0.50 s (default profile),
//! 0.13-0.15 s (fast); winner shut down (signed leave) 1-1.5 ms; winner's
//! interface losing carrier (membership on a second segment) 3-13 ms.

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
