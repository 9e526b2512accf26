//! Who is alive: authenticated ping/ack between the configured members on
//! UDP 7946, with majority fencing. Sans-IO: `handle(now, event)` returns
//! the datagrams to send, the timer to set and the changes of view.
//!
//! # Why not SWIM (foca)
//!
//! Sub-second failover needs a probe period of ~100 ms whatever the
//! protocol; SWIM saves traffic with one random probe per period and
//! indirect probes, but its detection is then probabilistic (a failed node
//! is probed by someone within a few periods) and its gossip lets a node
//! believe in members it cannot reach itself, which is the wrong input for
//! fencing ("can I reach a majority?"; here reports of others count for
//! the election only, never for fencing). oxlb's L2 clusters are one segment
//! of a few to a few dozen nodes, so every node pings every other node each
//! interval: detection time is deterministic (`dead_after`), and the
//! traffic bounded and known: 2·(N−1) datagrams of ~100 octets (plus ~12
//! per live member listed as seen) per node per
//! interval (N = 10 at 100 ms: 180 datagrams/s per node; N = 50: 980/s).
//! No new dependency and no MSRV bump (foca 2 needs Rust 1.88). UDP only:
//! there is no state to push-pull (the config lists the members), so the
//! TCP half of 7946 that memberlist uses is not needed; the seeds' firewall
//! rule for TCP+UDP 7946 covers it.
//!
//! # Proof of life and replays
//!
//! Every datagram carries `(epoch, seq)` of its sender, strictly increasing
//! per sender (epoch: the sender's boot epoch), and an *echo*: the newest
//! `(epoch, seq)` the sender heard from the receiver. A datagram counts as
//! proof that the peer was alive only if it is authentic (HMAC-SHA256 over
//! the whole datagram with a key derived from the shared secret), newer
//! than everything accepted from that peer, and echoes one of our own pings
//! sent less than `dead_after` ago; the proof's time is when *we* sent that
//! ping. So a replayed datagram is rejected by its sequence number, and
//! even a recording replayed to a restarted receiver (which forgot the
//! sequence numbers) proves nothing: it cannot echo a ping of the new
//! epoch. Nothing in the protocol declares another node dead: death is
//! only silence, so a host without the key can neither join nor kill a
//! member; a leave is honoured only from the member itself, signed, with a
//! fresh echo. A member whose epoch went backwards (clock step) is accepted
//! again by its first datagram that echoes a fresh ping.
//!
//! # Indirect evidence
//!
//! Each datagram also lists the members its sender has itself proven alive
//! and the age of each proof. A member stays alive for the election while
//! its newest proof, direct or reported (only from a datagram that proved
//! itself fresh, and never passed on), is younger than `dead_after`. This
//! is what keeps a partition that *moves* safe: if A's majority and B's
//! majority share a member C, B hears from C that A is still alive for as
//! long as A may still count C, so B does not take over before A fenced.
//! Reports add ~3 octets plus a name per live member to each datagram.
//!
//! # Fencing (beyond MetalLB)
//!
//! With `Fencing::Majority` a node answers only while it counts a strict
//! majority of the configured members, itself included. A peer counts
//! while its newest proof is younger than `fence_after` and has been fresh
//! for `fence_hold`; it is alive (for the election) while its newest proof
//! is younger than `dead_after`. In a clean partition at time T the
//! minority side's newest proofs are older than T, so it stops by
//! T + fence_after; the majority's newest proof of it (direct or reported) is at least
//! T − interval − rtt, so they elect anew no earlier than
//! T − interval − rtt + dead_after, later than the stop as long as the
//! round trip is below `dead_after − fence_after − interval` (100 ms in the
//! default profile, 25 ms in the fast one). When a node regains a
//! majority (a heal, or a partition that moves), it counts the others only
//! `fence_hold` after its first fresh proof, and `fence_hold` is at least
//! `fence_after` plus one interval: by then any node that lost the majority
//! at the same moment has fenced itself (two sides never hold a majority
//! at once), and the nodes it rejoined have seen it alive and stopped
//! answering what it wins. So clean partitions, in any sequence, never
//! yield two answering nodes (`membership` property test). A view that is asymmetric
//! (A hears B, B does not hear A) is not a partition and can still give
//! two for up to `dead_after`, as in MetalLB.
//!
//! Two nodes: 1 of 2 is not a strict majority, so when one dies the other
//! fences itself and nobody answers; a 2-node cluster fails over only with
//! `fencing: off` (MetalLB's semantics, split-brain possible).

pub mod config;
mod core;
mod events;
mod members;
pub mod wire;

pub use self::config::{ConfigError, Fencing, Member, MembershipConfig, Timing, DEFAULT_PORT};
pub use self::core::Membership;
pub use self::events::{Action, DownReason, Event, FenceReason, FenceState, Rejection};
