//! Per-Service election: which node answers ARP/NDP for a Service's IPs.
//!
//! Every node runs the same pure function on the same inputs and so reaches
//! the same answer without talking to the others; the inputs that differ
//! between nodes in practice (who is alive, whose link is down) come from
//! the membership layer, which spreads them.
//!
//! MetalLB (`speaker/layer2_controller.go`, `ShouldAnnounce`,
//! `speakersForAds`, `sortL2Candidates`):
//!
//! 1. start from the live members (memberlist names = node names);
//! 2. keep those matching the `nodeSelectors` of some L2Advertisement that
//!    applies to the Service's pool (here: the caller's `matching` set, so
//!    this module stays free of the config types);
//! 3. with `externalTrafficPolicy: Local`, keep those with a ready endpoint;
//! 4. sort by preference score descending (`spec.nodeSelectors` weights of
//!    newer MetalLB, optional here), then by `sha256(node + "#" + ip)`
//!    ascending, `ip` being the Service's first IP in Go's `net.IP.String()`
//!    form; the first node announces all of the Service's IPs.
//!
//! Beyond MetalLB, a node whose announcing interface lost carrier is not a
//! candidate (link health, issue 10). Fencing is not decided here: a
//! fenced node stops answering whatever this function says (`announcer`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// What the election of one Service is given, apart from the node names
/// that match the Service's L2Advertisements.
#[derive(Clone, Copy, Debug, Default)]
pub struct ElectionInputs<'a> {
    /// Members the membership layer sees alive (itself included).
    pub live: Option<&'a BTreeSet<String>>,
    /// `Some` when `externalTrafficPolicy: Local`: the nodes with a ready
    /// endpoint of the Service. `None`: every node may announce.
    pub ready_endpoints: Option<&'a BTreeSet<String>>,
    /// Nodes whose announcing interface for this Service lost carrier.
    pub link_down: Option<&'a BTreeSet<String>>,
    /// Preference weights per node (summed over the applicable
    /// advertisements, as MetalLB's `preferredScoresFor`); missing = 0.
    pub scores: Option<&'a BTreeMap<String, i64>>,
}

/// The election's outcome for one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Election {
    /// `ordered[0]` is the winner; the rest would take over in this order.
    Winner { ordered: Vec<String> },
    /// Nobody may announce; the reason is for `/status` and `check`.
    NoCandidate(NoCandidate),
}

impl Election {
    /// The node that announces, if any.
    pub fn winner(&self) -> Option<&str> {
        match self {
            Election::Winner { ordered } => ordered.first().map(String::as_str),
            Election::NoCandidate(_) => None,
        }
    }

    /// The candidates in takeover order (empty when there are none).
    pub fn candidates(&self) -> &[String] {
        match self {
            Election::Winner { ordered } => ordered,
            Election::NoCandidate(_) => &[],
        }
    }
}

/// Why a Service has no announcing node: the first filter that left the
/// candidate set empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoCandidate {
    /// No node matches the `nodeSelectors` of an L2Advertisement for the
    /// Service's pool.
    NoMatchingNode,
    /// Nodes match (`matching` of them), none is a live member.
    NoLiveNode { matching: usize },
    /// `externalTrafficPolicy: Local` and none of the `live` matching nodes
    /// has a ready endpoint.
    NoReadyEndpoint { live: usize },
    /// Every remaining node (`eligible` of them) lost carrier on its
    /// announcing interface.
    AllLinksDown { eligible: usize },
}

impl fmt::Display for NoCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoCandidate::NoMatchingNode => {
                write!(f, "no node matches the nodeSelectors of an L2Advertisement for this pool")
            }
            NoCandidate::NoLiveNode { matching } => {
                write!(f, "none of the {matching} matching nodes is a live member")
            }
            NoCandidate::NoReadyEndpoint { live } => write!(
                f,
                "externalTrafficPolicy is Local and none of the {live} live matching nodes has a ready endpoint"
            ),
            NoCandidate::AllLinksDown { eligible } => write!(
                f,
                "all {eligible} eligible nodes lost carrier on their announcing interface"
            ),
        }
    }
}

/// The address as Go's `net.IP.String()` prints it: an IPv4-mapped IPv6
/// address prints as dotted IPv4 (Go keeps IPv4 in 16 bytes and `To4`
/// succeeds), everything else as RFC 5952 text, which Rust's Display also
/// produces.
pub fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// `sha256(node + "#" + ip)`, MetalLB's order key.
pub fn order_key(node: &str, ip: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(b"#");
    h.update(ip.as_bytes());
    h.finalize().into()
}

/// Elects the announcing node for a Service whose first IP is `first_ip`.
/// `matching` is every node that matches an applicable L2Advertisement's
/// `nodeSelectors` (any order, duplicates allowed); the result depends on
/// the set only, never on the order.
pub fn elect<'a>(
    first_ip: IpAddr,
    matching: impl IntoIterator<Item = &'a str>,
    inputs: ElectionInputs<'_>,
) -> Election {
    let matching: BTreeSet<&str> = matching.into_iter().collect();
    if matching.is_empty() {
        return Election::NoCandidate(NoCandidate::NoMatchingNode);
    }
    let live: Vec<&str> = match inputs.live {
        Some(live) => matching
            .iter()
            .copied()
            .filter(|n| live.contains(*n))
            .collect(),
        None => matching.iter().copied().collect(),
    };
    if live.is_empty() {
        return Election::NoCandidate(NoCandidate::NoLiveNode {
            matching: matching.len(),
        });
    }
    // MetalLB `nodesWithEndpoint`: with ETP=Local only nodes that hold a
    // ready endpoint are candidates.
    let eligible: Vec<&str> = match inputs.ready_endpoints {
        Some(ready) => live
            .iter()
            .copied()
            .filter(|n| ready.contains(*n))
            .collect(),
        None => live.clone(),
    };
    if eligible.is_empty() {
        return Election::NoCandidate(NoCandidate::NoReadyEndpoint { live: live.len() });
    }
    let up: Vec<&str> = match inputs.link_down {
        Some(down) => eligible
            .iter()
            .copied()
            .filter(|n| !down.contains(*n))
            .collect(),
        None => eligible.clone(),
    };
    if up.is_empty() {
        return Election::NoCandidate(NoCandidate::AllLinksDown {
            eligible: eligible.len(),
        });
    }
    let ip = go_ip_string(first_ip);
    let score = |n: &str| inputs.scores.and_then(|s| s.get(n)).copied().unwrap_or(0);
    let mut keyed: Vec<(i64, [u8; 32], &str)> = up
        .into_iter()
        .map(|n| (score(n), order_key(n, &ip), n))
        .collect();
    // MetalLB `sortL2Candidates`: higher score first, then the hash bytes
    // ascending. Equal hashes mean equal names (the set has no duplicates),
    // the name is only a last key so that the order is total.
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    Election::Winner {
        ordered: keyed.into_iter().map(|(_, _, n)| n.to_owned()).collect(),
    }
}
