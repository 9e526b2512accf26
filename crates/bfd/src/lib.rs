//! oxlb's BFD (RFC 5880 asynchronous mode, RFC 5881 single hop, RFC 5883
//! multihop).
//!
//! - [`packet`]: the Control packet codec with the §6.8.6 checks.
//! - [`session`]: one session's machine, `BfdSession::handle(now, Event) ->
//!   Vec<Action>`, sans-IO (timers are actions).
//! - `driver` (feature `tokio`): UDP sockets, demultiplexing by
//!   discriminator, one task running every session.
//!
//! Left out on purpose: authentication (packets with the A bit are
//! rejected), the echo function, demand mode.

pub mod fuzzing;
pub mod packet;
pub mod session;

#[cfg(feature = "tokio")]
pub mod driver;

pub use packet::{ControlPacket, DecodeError, Diag, State};
pub use session::{Action, BfdConfig, BfdSession, BfdStatus, Counters, Event, Timer};
