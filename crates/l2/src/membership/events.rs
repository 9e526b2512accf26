//! What the membership core is handed and what it asks for.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::config::{ConfigError, Member};
use super::wire::WireError;

/// What the driver hands the core.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The socket is bound: the first pings go out.
    Start,
    /// The timer of the last `WakeAt` fired (early or late is harmless).
    Timer,
    /// A UDP datagram arrived from `from`.
    Datagram { from: IpAddr, bytes: &'a [u8] },
    /// The names of this node's interfaces without carrier now (sent to
    /// every peer at once, so that they re-elect without waiting).
    LinksDown(&'a [String]),
    /// SIGTERM: stop answering, tell the peers, go quiet.
    Shutdown,
    /// The member list changed (Kubernetes mode: speaker Pods came or
    /// went): the new list, this node included. Peers kept with the same
    /// name and address keep their state; the others start unproven.
    Members(&'a [Member]),
}

/// What the core asks for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send {
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Call `handle(_, Event::Timer)` at this time (replaces earlier ones).
    WakeAt(Instant),
    /// `node` is alive (election input changed).
    Up {
        node: String,
    },
    /// `node` is no longer alive.
    Down {
        node: String,
        reason: DownReason,
    },
    /// `node` reported a different set of interfaces without carrier.
    LinksChanged {
        node: String,
    },
    /// This node's fencing state changed.
    Fence(FenceState),
    /// A datagram was dropped; for counters and logs.
    Rejected(Rejection),
    /// An `Event::Members` list was refused (the old list stays); names
    /// the field at fault.
    MembersRejected(ConfigError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// No proof of life for `dead_after`.
    Silent,
    /// It said it leaves (shutdown).
    Left,
    /// It is no longer in the member list (`Event::Members`).
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceState {
    /// May answer: `seen` of `configured` members counted (or fencing off).
    Clear {
        seen: usize,
        configured: usize,
    },
    Fenced(FenceReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceReason {
    /// Fewer than `needed` of `configured` members counted.
    NoMajority {
        seen: usize,
        configured: usize,
        needed: usize,
    },
    /// This node is shutting down.
    Leaving,
}

impl fmt::Display for FenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FenceState::Clear { seen, configured } => {
                write!(f, "answering: {seen} of {configured} members reachable")
            }
            FenceState::Fenced(FenceReason::NoMajority { seen, configured, needed }) => write!(
                f,
                "fenced: {seen} of {configured} members reachable, a majority needs {needed}; not answering"
            ),
            FenceState::Fenced(FenceReason::Leaving) => write!(f, "fenced: shutting down"),
        }
    }
}

/// Why a datagram was dropped; each names the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Wire {
        from: IpAddr,
        error: WireError,
    },
    NotForMe {
        from: IpAddr,
        to: String,
    },
    UnknownMember {
        from: IpAddr,
        name: String,
    },
    WrongSource {
        member: String,
        expected: IpAddr,
        got: IpAddr,
    },
    Replay {
        member: String,
        epoch: u64,
        seq: u64,
        last_epoch: u64,
        last_seq: u64,
    },
    StaleLeave {
        member: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Wire { from, error } => write!(f, "from {from}: {error}"),
            Rejection::NotForMe { from, to } => {
                write!(f, "membership datagram from {from}: field `to` {to:?} is not this node")
            }
            Rejection::UnknownMember { from, name } => write!(
                f,
                "membership datagram from {from}: field `from` {name:?} is not a configured member"
            ),
            Rejection::WrongSource { member, expected, got } => write!(
                f,
                "membership datagram of member {member:?}: source address {got} is not its configured address {expected}"
            ),
            Rejection::Replay { member, epoch, seq, last_epoch, last_seq } => write!(
                f,
                "membership datagram of member {member:?}: fields `epoch`/`seq` {epoch}/{seq} are not above the last accepted {last_epoch}/{last_seq} (replay)"
            ),
            Rejection::StaleLeave { member } => write!(
                f,
                "leave of member {member:?}: field `echo seq` is not one of our recent pings (replayed leave ignored)"
            ),
        }
    }
}
