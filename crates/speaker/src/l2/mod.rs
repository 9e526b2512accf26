//! L2 mode in the speaker: the members of the L2 cluster (config Nodes,
//! the speaker Pods found through the API, or `--ml-members`), what each
//! VIP's election is given (from the config and the allocations, identical
//! on every node), the node runtime's lifecycle, and its `check` lines,
//! `/status` section and metrics.
//!
//! MetalLB (`speaker/layer2_controller.go`): a Service is announced over L2
//! when an L2Advertisement selects its pool (and, with serviceSelectors, the
//! Service); the candidates are the nodes one of those ads selects by
//! `nodeSelectors`; with `externalTrafficPolicy: Local` only nodes with a
//! ready endpoint. The election itself is `l2::election` (run by the node).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use allocator::Labels;
use l2::membership::Member;
use l2::node::{Desired as L2Desired, VipDesire};
use metallb_api::Config;
use serde::Serialize;

use crate::state::{AllocationState, Allocations};

/// MetalLB's environment variable for the memberlist secret.
pub const SECRET_ENV: &str = "METALLB_ML_SECRET_KEY";

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FencingArg {
    /// Answer only while a strict majority of the members is reachable.
    #[default]
    Majority,
    /// MetalLB's behaviour: answer whatever the view (split brain possible).
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfileArg {
    /// Detection within 0.5 s (pings every 100 ms).
    #[default]
    Default,
    /// Detection within 0.15 s (pings every 25 ms).
    Fast,
}

/// The L2 flags of `standalone`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct L2Args {
    /// The L2 cluster's members as NAME=IP,NAME=IP (default: every config
    /// Node with its first InternalIP of our family).
    #[arg(long)]
    pub ml_members: Option<String>,
    /// Membership address, IP or IP:PORT (default: our member address, port 7946).
    #[arg(long)]
    pub ml_bind_addr: Option<String>,
    /// File holding the membership secret (else env METALLB_ML_SECRET_KEY);
    /// required with an L2Advertisement and two or more members.
    #[arg(long)]
    pub ml_secret_file: Option<PathBuf>,
    /// `majority`: a node that cannot reach a strict majority stops
    /// answering; `off`: MetalLB's behaviour (needed for 2 nodes to fail over).
    #[arg(long, value_enum, default_value_t = FencingArg::Majority)]
    pub l2_fencing: FencingArg,
    #[arg(long, value_enum, default_value_t = ProfileArg::Default)]
    pub l2_profile: ProfileArg,
}

/// True when the config has an L2Advertisement (L2 mode is in use).
pub fn in_use(config: &Config) -> bool {
    !config.l2_advertisements.is_empty()
}

/// Parses `--ml-members n1=192.0.2.11,n2=192.0.2.12`.
pub fn parse_members(s: &str) -> Result<Vec<Member>, String> {
    let mut out: Vec<Member> = Vec::new();
    for (i, entry) in s.split(',').map(str::trim).enumerate() {
        let Some((name, addr)) = entry.split_once('=') else {
            return Err(format!(
                "--ml-members: entry {i} {entry:?}: expected NAME=IP"
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("--ml-members: entry {i} {entry:?}: empty name"));
        }
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            format!("--ml-members: entry {i} {entry:?}: {addr:?} is not an IP address")
        })?;
        if out.iter().any(|m| m.name == name) {
            return Err(format!(
                "--ml-members: entry {i} {entry:?}: {name:?} is listed twice"
            ));
        }
        out.push(Member {
            name: name.to_string(),
            addr,
        });
    }
    Ok(out)
}

/// The members from the config's Nodes: each with its first InternalIP of
/// the family of `me`'s first InternalIP. Every Node without one is an
/// error naming it.
pub fn members_from_config(config: &Config, me: &str) -> Result<Vec<Member>, Vec<String>> {
    let Some(mine) = config.node_addresses.get(me).and_then(|a| a.first()) else {
        let why = if config.nodes.contains_key(me) {
            format!("Node {me}: status.addresses: no InternalIP (L2 mode's membership binds to it); add one or pass --ml-members")
        } else {
            format!("Node {me}: not in the config (L2 mode takes its members from the Nodes); add it or pass --ml-members")
        };
        return Err(vec![why]);
    };
    let v6 = mine.is_ipv6();
    let family = if v6 { "IPv6" } else { "IPv4" };
    let mut errors = Vec::new();
    let mut members = Vec::new();
    for name in config.nodes.keys() {
        let addrs = config.node_addresses.get(name).map(Vec::as_slice);
        match addrs
            .unwrap_or_default()
            .iter()
            .find(|a| a.is_ipv6() == v6)
        {
            Some(a) => members.push(Member {
                name: name.clone(),
                addr: *a,
            }),
            None => errors.push(format!(
                "Node {name}: status.addresses: no {family} InternalIP (Node {me}'s membership address {mine} is {family})"
            )),
        }
    }
    if errors.is_empty() {
        Ok(members)
    } else {
        Err(errors)
    }
}

/// The member names `check` and the Desired computation range over.
pub fn member_names(config: &Config, flag: Option<&str>) -> Result<BTreeSet<String>, String> {
    match flag {
        Some(s) => Ok(parse_members(s)?.into_iter().map(|m| m.name).collect()),
        None => Ok(config.nodes.keys().cloned().collect()),
    }
}

/// The L2 VIPs and the notes about them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L2Plan {
    pub desired: L2Desired,
    pub notes: Vec<String>,
}

/// What every applicable ad set gives a VIP (shared by the Services of a
/// pool whose ads do not select by Service labels).
#[derive(Clone)]
struct AdSet {
    interfaces: Option<BTreeSet<String>>,
    matching: BTreeSet<String>,
    scores: BTreeMap<String, i64>,
}

/// A member's labels as the BGP side sees its own node's (the Node
/// object's, plus `kubernetes.io/hostname`).
fn node_labels(config: &Config, name: &str) -> Labels {
    crate::desired::NodeInfo::from_config(config, name).labels
}

/// Computes the L2 VIPs from the config and the allocations in force: every
/// IP of a Service whose pool has an applicable L2Advertisement (one that
/// selects the pool and the Service). Pure; the same on every node.
pub fn compute(
    config: &Config,
    state: &(impl Allocations + ?Sized),
    members: &BTreeSet<String>,
) -> L2Plan {
    let mut notes = Vec::new();
    if !in_use(config) {
        return L2Plan::default();
    }
    let labels: Vec<(&String, Labels)> = members
        .iter()
        .map(|m| (m, node_labels(config, m)))
        .collect();
    let ads: Vec<_> = config.l2_advertisements.values().collect();
    // (pool, which ads apply) -> the ad set's inputs.
    let mut cache: HashMap<(String, Vec<bool>), AdSet> = HashMap::new();
    let mut vips: BTreeMap<IpAddr, VipDesire> = BTreeMap::new();
    let mut local_without_slices = Vec::new();
    let mut key = String::new();
    for s in &config.services {
        let Some(alloc) = state.allocation(s.namespace(), s.name()) else {
            continue;
        };
        key.clear();
        key.push_str(s.namespace());
        key.push('/');
        key.push_str(s.name());
        let (Some(first), Some(pool)) = (alloc.ips.first(), config.pools.get(&alloc.pool)) else {
            continue;
        };
        let applies: Vec<bool> = ads
            .iter()
            .map(|a| a.selects_pool(&alloc.pool, &pool.labels) && a.selects_service(s.labels()))
            .collect();
        if !applies.contains(&true) {
            continue;
        }
        let set = cache
            .entry((alloc.pool.clone(), applies))
            .or_insert_with_key(|(_, applies)| {
                let mut set = AdSet {
                    interfaces: Some(BTreeSet::new()),
                    matching: BTreeSet::new(),
                    scores: BTreeMap::new(),
                };
                for (ad, _) in ads.iter().zip(applies).filter(|(_, a)| **a) {
                    if ad.interfaces.is_empty() {
                        set.interfaces = None;
                    } else if let Some(i) = &mut set.interfaces {
                        i.extend(ad.interfaces.iter().cloned());
                    }
                    for (name, l) in &labels {
                        if !ad.selects_node(l) {
                            continue;
                        }
                        set.matching.insert((*name).clone());
                        let score = ad.preference_score(l);
                        if score != 0 {
                            *set.scores.entry((*name).clone()).or_default() += score;
                        }
                    }
                }
                set
            })
            .clone();
        let local = s
            .record()
            .spec
            .extra
            .as_ref()
            .is_some_and(|e| e.external_traffic_policy == "Local");
        // MetalLB (layer2_controller.go, externalTrafficPolicy: Local): only
        // the nodes with a usable endpoint of the Service may announce it.
        // Without any EndpointSlice in the config that is unknown: every
        // matching node stays a candidate (noted below).
        let ready = match (local, &config.ready_endpoint_nodes) {
            (false, _) => None,
            (true, None) => {
                local_without_slices.push(key.clone());
                None
            }
            (true, Some(r)) => Some(r.get(key.as_str()).cloned().unwrap_or_default()),
        };
        for ip in &alloc.ips {
            let v = vips.entry(*ip).or_insert_with(|| VipDesire {
                ip: *ip,
                election_ip: *first,
                interfaces: Some(BTreeSet::new()),
                matching_nodes: BTreeSet::new(),
                scores: BTreeMap::new(),
                ready_nodes: None,
                services: Vec::new(),
            });
            // A shared IP (allowSharedIP): the union of its Services' inputs.
            if v.services.is_empty() {
                v.interfaces = set.interfaces.clone();
                v.matching_nodes = set.matching.clone();
                v.scores = set.scores.clone();
                v.ready_nodes = ready.clone();
            } else {
                match (&mut v.interfaces, &set.interfaces) {
                    (Some(a), Some(b)) => a.extend(b.iter().cloned()),
                    (i, _) => *i = None,
                }
                v.matching_nodes.extend(set.matching.iter().cloned());
                for (n, sc) in &set.scores {
                    v.scores.entry(n.clone()).or_insert(*sc);
                }
                // A Service of the shared IP without the Local restriction
                // makes every candidate usable.
                match (&mut v.ready_nodes, &ready) {
                    (Some(a), Some(b)) => a.extend(b.iter().cloned()),
                    (r, _) => *r = None,
                }
            }
            v.services.push(key.clone());
        }
    }
    if !local_without_slices.is_empty() {
        notes.push(format!(
            "L2: {} Service(s) with externalTrafficPolicy: Local (first: {}); the config holds no EndpointSlices, so every matching node is a candidate",
            local_without_slices.len(),
            local_without_slices[0]
        ));
    }
    L2Plan {
        desired: L2Desired {
            vips: vips.into_values().collect(),
        },
        notes,
    }
}

/// One L2 VIP as `check` shows it: the election with every member alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckVip {
    pub ip: IpAddr,
    pub election_ip: IpAddr,
    pub winner: Option<String>,
    pub candidates: Vec<String>,
    pub reason: Option<String>,
    pub services: Vec<String>,
}

/// The election of every VIP assuming every configured member is alive.
pub fn check_vips(plan: &L2Plan) -> Vec<CheckVip> {
    plan.desired
        .vips
        .iter()
        .map(|v| {
            let e = l2::election::elect(
                v.election_ip,
                v.matching_nodes.iter().map(String::as_str),
                l2::election::ElectionInputs {
                    ready_endpoints: v.ready_nodes.as_ref(),
                    scores: Some(&v.scores),
                    ..Default::default()
                },
            );
            let (winner, candidates, reason) = match &e {
                l2::election::Election::Winner { ordered } => {
                    (ordered.first().cloned(), ordered.clone(), None)
                }
                l2::election::Election::NoCandidate(why) => {
                    (None, Vec::new(), Some(why.to_string()))
                }
            };
            CheckVip {
                ip: v.ip,
                election_ip: v.election_ip,
                winner,
                candidates,
                reason,
                services: v.services.clone(),
            }
        })
        .collect()
}

/// `check`'s L2 part: each VIP's election among the members (config Nodes
/// or `--ml-members`), all assumed alive, and notes on what standalone
/// mode would need.
pub fn check(
    config: &Config,
    state: &AllocationState,
    ml_members: Option<&str>,
) -> Result<(Vec<CheckVip>, Vec<String>), String> {
    if !in_use(config) {
        return Ok((Vec::new(), Vec::new()));
    }
    let names = member_names(config, ml_members)?;
    let plan = compute(config, state, &names);
    let mut notes = plan.notes.clone();
    if names.len() == 2 {
        notes.push("L2: 2 members: with --l2-fencing majority (the default) the survivor of a failure has no majority and stops answering; standalone needs --l2-fencing off to fail over".to_string());
    }
    if names.is_empty() {
        notes.push(
            "L2: no members (no Node objects and no --ml-members): no L2 VIP has a candidate"
                .to_string(),
        );
    }
    if ml_members.is_none() {
        for n in config.nodes.keys() {
            if !config.node_addresses.contains_key(n) {
                notes.push(format!("L2: Node {n}: status.addresses: no InternalIP; standalone mode needs one per member (or --ml-members)"));
            }
        }
    }
    Ok((check_vips(&plan), notes))
}

/// [`check`] from `check`'s Service reports (which keep the allocations;
/// `compute_report` builds no state file content). Nothing is built
/// without an L2Advertisement.
pub fn check_reports(
    config: &Config,
    reports: &[crate::desired::ServiceReport],
    ml_members: Option<&str>,
) -> Result<(Vec<CheckVip>, Vec<String>), String> {
    if !in_use(config) {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut state = AllocationState::default();
    for r in reports {
        if let (false, Some(pool)) = (r.ips.is_empty(), &r.pool) {
            state.services.insert(
                format!("{}/{}", r.namespace, r.name),
                crate::state::Allocation {
                    ips: r.ips.clone(),
                    pool: pool.clone(),
                },
            );
        }
    }
    check(config, &state, ml_members)
}

/// The `check` table's L2 lines.
pub fn check_lines(vips: &[CheckVip]) -> Vec<String> {
    if vips.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{:<40} {:<16} {:<24} SERVICES",
        "L2 VIP (every member alive)", "WINNER", "CANDIDATES"
    )];
    for v in vips {
        let who = match (&v.winner, &v.reason) {
            (Some(w), _) => format!("{w:<16} {:<24}", v.candidates.join(",")),
            (None, Some(r)) => format!("{:<16} {:<24} no candidate: {r};", "-", "-"),
            (None, None) => format!("{:<16} {:<24}", "-", "-"),
        };
        out.push(format!("{:<40} {who} {}", v.ip, v.services.join(",")));
    }
    out
}

mod report;
mod runtime;

pub use report::{status_json, L2Metrics};
pub use runtime::{L2Runtime, L2Shared};

#[cfg(test)]
mod tests;
