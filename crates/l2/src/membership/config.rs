//! Membership settings: the configured members, the shared secret, the
//! timing profile and the fencing mode, checked before the core starts.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// The port MetalLB's memberlist uses and the seeds open (TCP+UDP).
pub const DEFAULT_PORT: u16 = 7946;

/// One configured member: its node name and the address it sends from and
/// listens on (a Node's InternalIP in standalone mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub addr: IpAddr,
}

/// What happens when a node sees too few members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fencing {
    /// Answer only while a strict majority of the configured members
    /// (itself included) is reachable. A 2-node cluster then cannot fail
    /// over: the survivor sees 1 of 2, which is not a majority.
    #[default]
    Majority,
    /// MetalLB's behaviour: answer whatever the view; a partition may give
    /// two answering nodes.
    Off,
}

/// Detection timing. The invariants `validate` checks are what the
/// no-two-responders argument in the module doc needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// A ping to every peer this often.
    pub interval: Duration,
    /// A peer whose newest proof of life is this old is dead (election).
    pub dead_after: Duration,
    /// A peer whose newest proof is this old no longer counts toward the
    /// majority (fencing); shorter than `dead_after` so that a cut-off
    /// node stops answering before the others take over.
    pub fence_after: Duration,
    /// A peer counts toward the majority only once its proofs have been
    /// fresh for this long; at least `fence_after` plus one interval, so
    /// that a node rejoining the majority resumes answering only after a
    /// node just cut off from it has fenced itself, and after the others
    /// have seen it back.
    pub fence_hold: Duration,
}

impl Timing {
    /// The default profile: failover (detection) within 0.5 s, two lost
    /// pings tolerated before fencing, four before a node is declared dead.
    pub const DEFAULT: Timing = Timing {
        interval: Duration::from_millis(100),
        dead_after: Duration::from_millis(500),
        fence_after: Duration::from_millis(300),
        fence_hold: Duration::from_millis(400),
    };

    /// The fast profile: detection within 0.15 s (for a p99 failover of at
    /// most 0.35 s), at four times the ping rate of the default.
    pub const FAST: Timing = Timing {
        interval: Duration::from_millis(25),
        dead_after: Duration::from_millis(150),
        fence_after: Duration::from_millis(100),
        fence_hold: Duration::from_millis(125),
    };
}

impl Default for Timing {
    fn default() -> Self {
        Timing::DEFAULT
    }
}

/// Everything the membership core runs with.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// This node's name; must be one of `members`.
    pub me: String,
    /// Every configured member, this node included.
    pub members: Vec<Member>,
    /// The shared secret (MetalLB's `memberlist` Secret, `secretkey`).
    pub secret: Vec<u8>,
    /// This process's boot epoch: strictly larger than any earlier run's
    /// (e.g. wall-clock milliseconds at start). Peers reject datagrams of
    /// an older epoch unless they prove freshness (module doc).
    pub epoch: u64,
    pub port: u16,
    pub timing: Timing,
    pub fencing: Fencing,
}

/// A config error; names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "membership config: field `{}` {}",
            self.field, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem: problem.into(),
    }
}

impl MembershipConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.members.len() > 255 {
            return Err(err(
                "members",
                format!(
                    "lists {} members, at most 255 are supported",
                    self.members.len()
                ),
            ));
        }
        let mut names = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.name.is_empty() || m.name.len() > 253 {
                return Err(err(
                    format!("members[{i}].name"),
                    format!("{:?} must be 1 to 253 octets", m.name),
                ));
            }
            if !names.insert(m.name.as_str()) {
                return Err(err(
                    format!("members[{i}].name"),
                    format!("{:?} is listed twice", m.name),
                ));
            }
            if !addrs.insert(m.addr) {
                return Err(err(
                    format!("members[{i}].addr"),
                    format!("{} is listed twice", m.addr),
                ));
            }
        }
        if !names.contains(self.me.as_str()) {
            return Err(err(
                "me",
                format!("{:?} is not one of the members", self.me),
            ));
        }
        if self.secret.is_empty() {
            return Err(err("secret", "is empty; membership needs a shared key"));
        }
        let t = &self.timing;
        if t.interval.is_zero() {
            return Err(err("timing.interval", "is zero"));
        }
        if t.fence_after + t.interval >= t.dead_after {
            return Err(err(
                "timing.fence_after",
                format!(
                    "{:?} plus one interval {:?} must be below dead_after {:?} (a cut-off node must stop before the others take over)",
                    t.fence_after, t.interval, t.dead_after
                ),
            ));
        }
        if t.fence_after < t.interval * 2 {
            return Err(err(
                "timing.fence_after",
                format!("{:?} must be at least two intervals", t.fence_after),
            ));
        }
        if t.fence_hold < t.fence_after + t.interval {
            return Err(err(
                "timing.fence_hold",
                format!(
                    "{:?} must be at least fence_after {:?} plus one interval {:?} (a rejoining node waits until a cut-off one has stopped)",
                    t.fence_hold, t.fence_after, t.interval
                ),
            ));
        }
        Ok(())
    }
}
