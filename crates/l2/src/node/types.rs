//! The node runtime's public types: what the speaker configures, what it
//! asks for, and the status snapshot it reads back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::membership::{self, Timing};

/// Everything one node's L2 runtime runs with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's name (a Node name); must be one of `members`.
    pub node_name: String,
    /// All configured nodes, this one included.
    pub members: Vec<membership::Member>,
    /// Our membership address (port 7946 by default).
    pub bind: SocketAddr,
    /// The shared secret of the membership protocol.
    pub secret: Vec<u8>,
    pub fencing: membership::Fencing,
    pub profile: Profile,
}

/// The membership timing profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// `Timing::DEFAULT`: detection within 0.5 s.
    #[default]
    Default,
    /// `Timing::FAST`: detection within 0.15 s.
    Fast,
}

impl Profile {
    pub fn timing(self) -> Timing {
        match self {
            Profile::Default => Timing::DEFAULT,
            Profile::Fast => Timing::FAST,
        }
    }
}

/// The whole desired set; each `set_desired` replaces the previous one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    pub vips: Vec<VipDesire>,
}

/// One VIP to announce (a dual-stack Service gives two entries with the
/// same `election_ip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipDesire {
    pub ip: IpAddr,
    /// The Service's first IP: MetalLB's election key for all its IPs.
    pub election_ip: IpAddr,
    /// `None`: every eligible interface.
    pub interfaces: Option<BTreeSet<String>>,
    /// Nodes matching some L2Advertisement for this VIP.
    pub matching_nodes: BTreeSet<String>,
    /// preferredNodeSelectors score per node (absent = 0).
    pub scores: BTreeMap<String, i64>,
    /// `Some` when `externalTrafficPolicy: Local`.
    pub ready_nodes: Option<BTreeSet<String>>,
    /// `namespace/name` of the Services, for status.
    pub services: Vec<String>,
}

/// A cheap snapshot for `/status` and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStatus {
    pub vips: Vec<VipStatus>,
    /// Every configured peer and whether membership sees it alive (this
    /// node included).
    pub members: Vec<(String, bool)>,
    /// Why this node does not answer, while fenced.
    pub fenced: Option<String>,
    /// The interfaces with open ports.
    pub interfaces: Vec<String>,
    /// Responder drops by reason.
    pub drops: Vec<(&'static str, u64)>,
    /// Seconds from a winner change seen here to our first gratuitous
    /// announcement (one sample per takeover).
    pub failover_seconds: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipStatus {
    pub ip: IpAddr,
    pub winner: Option<String>,
    pub candidates: Vec<String>,
    /// Why nobody announces, when `winner` is `None`.
    pub reason: Option<String>,
    /// Our interfaces for this VIP; empty unless we win.
    pub announcing_on: Vec<String>,
    pub requests_received: u64,
    pub responses_sent: u64,
    pub gratuitous_sent: u64,
}

/// Why the node could not start; names the field or interface.
#[derive(Debug)]
pub enum NodeError {
    /// A config field is wrong (`field` as in `NodeConfig`).
    Config { field: String, problem: String },
    /// A socket or netlink step failed (`what` names it and the interface).
    Io { what: String, error: std::io::Error },
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Config { field, problem } => {
                write!(f, "L2 node config: field `{field}` {problem}")
            }
            NodeError::Io { what, error } => write!(f, "L2 node: {what}: {error}"),
        }
    }
}

impl std::error::Error for NodeError {}
