//! How long to wait before dialling a peer again after a session ended.
//!
//! RFC 4271 §8.1.1 leaves peer oscillation damping (DampPeerOscillations)
//! to the implementation; this module is ours. Two inputs lengthen the
//! normal connect-retry backoff:
//!
//! * a Cease that asks us to stay away (RFC 4486 §4 administrative
//!   shutdown, de-configuration, reset, maximum prefixes; RFC 8203 shutdown
//!   communication): a fixed hold-down, so an operator's "neighbor shutdown"
//!   or a prefix limit is not hammered with a dial every second;
//! * a session that flaps: each session that dies within [`STABLE_SESSION`]
//!   of coming up doubles the delay (1 s, 2 s, 4 s ...); one that stayed up
//!   that long starts the count again.
//!
//! Every delay is capped at the peer's configured connect time (BGPPeer
//! `connectTime`), the longest gap between attempts the operator allows.
//! Only our dialling waits: a connection the peer opens is accepted at any
//! time, so a peer that comes back on its own is not held off.

use std::time::Duration;

use crate::notification::{CeaseSubcode, ErrorCode, Notification};

/// A session that stayed up this long was not flapping.
pub const STABLE_SESSION: Duration = Duration::from_secs(60);
/// Hold-down after an administrative shutdown, de-configuration or
/// maximum-prefix Cease.
pub const SHUTDOWN_HOLD_DOWN: Duration = Duration::from_secs(60);
/// Hold-down after an administrative reset or out-of-resources Cease: the
/// peer wants a new session, but not necessarily this second.
pub const RESET_HOLD_DOWN: Duration = Duration::from_secs(30);

/// The hold-down a NOTIFICATION (sent or received) asks for before we dial
/// again, before the connect-time cap; zero for everything else.
pub fn hold_down_after(n: &Notification) -> Duration {
    // RFC 8538 §3: a Hard Reset means what the NOTIFICATION inside it
    // means (one level: a Hard Reset inside a Hard Reset asks for nothing).
    let code = n.hard_reset_inner().map_or(n.code, |inner| inner.code);
    match code {
        // RFC 4486 §4: shutdown, de-configured and maximum prefixes mean
        // the other side (or we) wants the session gone for now.
        ErrorCode::Cease(
            CeaseSubcode::AdministrativeShutdown
            | CeaseSubcode::PeerDeconfigured
            | CeaseSubcode::MaximumPrefixesReached,
        ) => SHUTDOWN_HOLD_DOWN,
        // RFC 4486 §4: a reset or lack of resources: come back, but later.
        ErrorCode::Cease(CeaseSubcode::AdministrativeReset | CeaseSubcode::OutOfResources) => {
            RESET_HOLD_DOWN
        }
        // Collision resolution and rejected extra connections close one
        // connection of a session that lives on: no hold-down.
        _ => Duration::ZERO,
    }
}

/// The redial delay after the `flaps`-th consecutive short-lived session
/// (1 for the first loss after a stable session): 1 s doubling per flap.
pub fn flap_delay(flaps: u32) -> Duration {
    Duration::from_secs(1u64 << flaps.saturating_sub(1).min(16))
}
