//! From a validated configuration to what this node should do: which
//! Service gets which IPs (the shared allocator), which sessions to run,
//! and which routes each session carries. Pure: no sockets, no files.
//! The node facts and per-peer session settings are in `desired_session.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use allocator::{Labels, ServiceKey, ServiceRequest};
use bgp_proto::adj_rib_out::RouteSpec;
use bgp_proto::{Community, LargeCommunity};
use bgp_session::PeerSettings;
use metallb_api::{plan_compact, BgpAttrs, BgpPeerConfig, Config, L2Announcement, PlanInput};
use serde::Serialize;

#[path = "desired_session.rs"]
mod session;

pub use crate::announcement::Announcement;
pub use crate::live::LiveAllocator;
use crate::metrics::PoolCounts;
use crate::state::{Allocation, AllocationState};
use session::session_settings;
pub use session::{router_id_keys, NodeInfo, RouterIdKey};

/// One Service as `check` and `/status` show it. At 100k Services the
/// reports were 24 MB (heaptrack, session 4): the namespace text is
/// shared (one `Arc<str>` per distinct value, see [`Interner`]), so a
/// report is its 136 bytes, its name, pool, IPs and announcement lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    #[serde(serialize_with = "text")]
    pub namespace: Arc<str>,
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub pool: Option<String>,
    /// Why the Service has no IP, in MetalLB's words; `null` when it has one.
    pub pending: Option<String>,
    /// Where each IP is announced: `bgp <prefix> to <peer> (<address>)...`
    /// or `l2 <ip> via <advertisement>`.
    pub announcements: Vec<Announcement>,
}

fn text<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// Everything this node should be doing.
#[derive(Clone, Debug)]
pub struct Desired {
    pub services: Vec<ServiceReport>,
    pub peers: Vec<PeerSettings>,
    pub routes: BTreeMap<String, Arc<Vec<RouteSpec>>>,
    /// The plan's L2 announcements. (Its BGP part is what `routes` and
    /// each Service's `announcements` were made from; it is consumed then,
    /// not kept: at 100k Services it is the largest structure built.)
    pub l2: Vec<L2Announcement>,
    pub state: AllocationState,
    /// A running speaker's reload that kept the pools: `state` is left
    /// empty and this lists only the Services converged or released (each
    /// `namespace/name` with its allocation now, `None` for none), in key
    /// order; every other Service's allocation is what it was.
    pub state_changes: Option<Vec<(String, Option<Allocation>)>>,
    pub pools: Vec<PoolCounts>,
    /// Things worth a warning that do not stop the config (e.g. BFD not
    /// active yet).
    pub notes: Vec<String>,
}

/// Computes what this node should do. `previous` holds the allocations of
/// the last run (state file): they are restored first and never moved while
/// still valid. A one-shot computation (`check`); a running speaker keeps a
/// [`LiveAllocator`] and calls [`compute_with`].
#[cfg(test)]
pub fn compute(config: &Config, node: &NodeInfo, previous: &AllocationState) -> Desired {
    // One shot: the allocator is dropped afterwards, so no hash of what it
    // holds is kept for a next call.
    compute_inner(
        &mut LiveAllocator::default(),
        config,
        node,
        previous,
        Mode::Once,
    )
}

/// [`compute`] for a caller that only reports (`check`): the state file's
/// content (`Desired::state`) is left empty, as nothing writes it.
pub fn compute_report(config: &Config, node: &NodeInfo, previous: &AllocationState) -> Desired {
    compute_inner(
        &mut LiveAllocator::default(),
        config,
        node,
        previous,
        Mode::Report,
    )
}

/// How a computation's result is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A running speaker: the allocator's hashes are kept for the next call.
    Live,
    /// One shot, state included.
    #[cfg(test)]
    Once,
    /// One shot, no state file content.
    Report,
}

/// What the plan reads of one assigned Service: its report, its labels
/// and whether this node may announce it over BGP.
struct PlanRow<'a>(&'a ServiceReport, &'a Labels, bool);

impl PlanInput for PlanRow<'_> {
    fn pool(&self) -> &str {
        self.0.pool.as_deref().unwrap_or("")
    }
    fn ips(&self) -> &[IpAddr] {
        &self.0.ips
    }
    fn labels(&self) -> &Labels {
        self.1
    }
    fn key(&self) -> String {
        format!("{}/{}", self.0.namespace, self.0.name)
    }
    fn bgp_here(&self) -> bool {
        self.2
    }
}

/// The Services this node must not announce over BGP. MetalLB
/// (bgp_controller.go, `externalTrafficPolicy: Local`): a node announces
/// such a Service only while it has a usable endpoint of it. Endpoints
/// unknown (a config without any EndpointSlice) block nothing.
fn bgp_blocked_here(config: &Config, node: &str) -> HashSet<ServiceKey> {
    let Some(ready) = &config.ready_endpoint_nodes else {
        return HashSet::new();
    };
    config
        .services
        .iter()
        .filter(|s| {
            s.record()
                .spec
                .extra
                .as_ref()
                .is_some_and(|e| e.external_traffic_policy == "Local")
        })
        .map(|s| s.key())
        .filter(|k| {
            !ready
                .get(&format!("{}/{}", k.namespace, k.name))
                .is_some_and(|nodes| nodes.contains(node))
        })
        .collect()
}

/// One shared `Arc<str>` per distinct text a computation repeats per
/// Service (namespaces), newest first:
/// reports come in key order (namespace first), so a namespace's Services
/// hit the newest entry.
#[derive(Default)]
struct Interner(Vec<Arc<str>>);

impl Interner {
    /// Distinct texts kept for reuse; beyond them (say one namespace per
    /// Service) only the last one is, which key order still reuses.
    const KEPT: usize = 32;

    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.iter().rev().find(|a| &***a == s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.0.len() == Self::KEPT {
            self.0.pop();
        }
        self.0.push(a.clone());
        a
    }
}

/// The texts a computation's reports share.
#[derive(Default)]
struct Texts {
    namespaces: Interner,
}

impl Texts {
    /// A report with no IP (pending) or none yet (assigned: filled in).
    fn report(&mut self, key: ServiceKey) -> ServiceReport {
        ServiceReport {
            namespace: self.namespaces.get(&key.namespace),
            name: key.name,
            ips: Vec::new(),
            pool: None,
            pending: None,
            announcements: Vec::new(),
        }
    }

    /// A pending Service's report.
    fn pending_report(&mut self, key: ServiceKey, why: &str) -> ServiceReport {
        ServiceReport {
            pending: Some(why.to_string()),
            ..self.report(key)
        }
    }
}

/// One plan attribute set as the routes and report lines use it.
struct AttrsOut {
    communities: Vec<Community>,
    large_communities: Vec<LargeCommunity>,
    /// (peer, `peer (address)` for the report lines, carries IPv4,
    /// carries IPv6).
    peers: Vec<(String, Arc<str>, bool, bool)>,
}

impl AttrsOut {
    fn of(a: &BgpAttrs, config: &Config) -> Self {
        AttrsOut {
            communities: a
                .communities
                .iter()
                .map(|(x, y)| Community::new(*x, *y))
                .collect(),
            large_communities: a
                .large_communities
                .iter()
                .map(|(g, l1, l2)| LargeCommunity {
                    global_admin: *g,
                    local1: *l1,
                    local2: *l2,
                })
                .collect(),
            peers: a
                .peers
                .iter()
                .map(|name| {
                    let p = config.peers.get(name);
                    // MetalLB: a session carries its own address family;
                    // with dualStackAddressFamily it carries both.
                    let dual = p.is_some_and(|p| p.dual_stack_address_family);
                    let v4 = p.is_some_and(|p| p.address.is_ipv4());
                    let addr = p.map(|p| p.address.to_string()).unwrap_or_default();
                    (
                        name.clone(),
                        Arc::from(format!("{name} ({addr})")),
                        p.is_some() && (dual || v4),
                        p.is_some() && (dual || !v4),
                    )
                })
                .collect(),
        }
    }
}

/// No allocator could run: nothing to announce, the old state kept.
fn nothing(previous: &AllocationState, notes: Vec<String>) -> Desired {
    Desired {
        services: Vec::new(),
        peers: Vec::new(),
        routes: BTreeMap::new(),
        l2: Vec::new(),
        state: previous.clone(),
        state_changes: None,
        pools: Vec::new(),
        notes,
    }
}

/// [`compute`] with an allocator that lives across calls (see
/// [`LiveAllocator`]); the result is the same as a fresh computation's.
pub fn compute_with(
    live: &mut LiveAllocator,
    config: &Config,
    node: &NodeInfo,
    previous: &AllocationState,
) -> Desired {
    compute_inner(live, config, node, previous, Mode::Live)
}

/// [`compute_with`]; in [`Mode::Live`] the hash of every converged request
/// is kept in `live.seen` for the next call (a one-shot [`compute`] has none).
fn compute_inner(
    live: &mut LiveAllocator,
    config: &Config,
    node: &NodeInfo,
    previous: &AllocationState,
    mode: Mode,
) -> Desired {
    let remember = mode == Mode::Live;
    let mut notes = Vec::new();
    let mut services = Vec::new();
    let fresh = live.alloc.is_none();
    live.with_pools(config.ip_address_pools());
    notes.extend(live.pools_note.clone());
    if live.alloc.is_none() {
        return nothing(previous, notes);
    }

    // Requests; a malformed Service is pending with its reason. Only new
    // or changed requests go to the allocator.
    let mut changed: Vec<(ServiceRequest, Vec<IpAddr>)> = Vec::new();
    // The Services with a request, each with its labels (for the plan's
    // serviceSelectors), borrowed from the config.
    let mut keys: Vec<(ServiceKey, &Labels)> = Vec::with_capacity(config.services.len());
    let mut seen = HashSet::with_capacity(if remember { config.services.len() } else { 0 });
    let mut bad: BTreeMap<ServiceKey, String> = BTreeMap::new();
    // `namespace/name`, the state file's key, built in one reused buffer.
    let mut state_key = String::new();
    for s in &config.services {
        let h = (remember || !fresh).then(|| s.fields_hash());
        if let Some(h) = h.filter(|h| !fresh && live.seen.contains(h)) {
            // The allocator holds this very request already.
            seen.insert(h);
            keys.push((s.key(), s.labels()));
            continue;
        }
        match s.request() {
            Ok(req) => {
                if let Some(h) = h {
                    seen.insert(h);
                }
                keys.push((req.key.clone(), s.labels()));
                let from_state = if previous.services.is_empty() {
                    None
                } else {
                    state_key.clear();
                    state_key.push_str(&req.key.namespace);
                    state_key.push('/');
                    state_key.push_str(&req.key.name);
                    previous.services.get(state_key.as_str())
                };
                let restore = from_state
                    .map(|a| a.ips.clone())
                    .unwrap_or_else(|| s.status_ips().to_vec());
                changed.push((req, restore));
            }
            Err(e) => {
                bad.insert(s.key(), e.to_string());
            }
        }
    }
    // Config order is key order already; sorting again costs one pass.
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let Some(alloc) = live.alloc.as_mut() else {
        return nothing(previous, notes);
    };
    let mut touched = changed.len();
    // The Services whose allocation may change in this call, when only
    // they need to be reported to the state (see `Desired::state_changes`).
    let incremental = remember && !fresh && !live.pools_changed;
    let mut touched_keys: Vec<ServiceKey> = Vec::new();
    if fresh {
        alloc.sync_quiet(changed);
    } else {
        // Services gone (or now malformed) free their addresses first.
        // Every unchanged Service (a `seen` hit) is one the allocator
        // knows; with the changed ones it knows, they are all it holds
        // when none is gone, and then no search is made. Otherwise found
        // by binary search in the sorted keys: no set of 100k hashed keys
        // built per reload.
        let unchanged = keys.len() - changed.len();
        let known_changed = changed
            .iter()
            .filter(|(req, _)| alloc.knows(&req.key))
            .count();
        let gone: Vec<ServiceKey> = if unchanged + known_changed == alloc.service_count() {
            Vec::new()
        } else {
            alloc
                .services()
                .filter(|k| keys.binary_search_by(|(x, _)| x.cmp(k)).is_err())
                .cloned()
                .collect()
        };
        touched += gone.len();
        // Pending Services an address freed by this call went to: their
        // allocation changed too (see `Desired::state_changes`).
        let mut unblocked: Vec<ServiceKey> = Vec::new();
        for k in &gone {
            let r = alloc.release(k);
            unblocked.extend(r.unblocked.into_iter().map(|(k, _)| k));
        }
        // As in `sync`: Services that bring addresses (state file or
        // status) are placed before any fresh allocation, in key order.
        changed.sort_by(|a, b| (a.1.is_empty(), &a.0.key).cmp(&(b.1.is_empty(), &b.0.key)));
        for (req, restore) in &changed {
            let out = alloc.converge(req, restore);
            unblocked.extend(out.unblocked.into_iter().map(|(k, _)| k));
        }
        if incremental {
            touched_keys = gone;
            touched_keys.extend(changed.into_iter().map(|(req, _)| req.key));
            touched_keys.extend(unblocked);
            touched_keys.sort();
            touched_keys.dedup();
        }
    }
    live.seen = seen;
    live.last_touched = touched;
    let pending: HashMap<&ServiceKey, String> = alloc
        .pending()
        .map(|(k, e)| {
            let why = e.map_or_else(|| "no address assigned".to_string(), ToString::to_string);
            (k, why)
        })
        .collect();
    // Every report, in key order (the requests and the malformed ones
    // merged), each with its IPs and pool moved in once; the plan reads
    // the assigned ones through `inputs` (report index, borrowed labels),
    // so no per-Service copy is made for it.
    services.reserve(keys.len() + bad.len());
    let mut inputs: Vec<(usize, &Labels)> = Vec::with_capacity(keys.len());
    let mut bad = bad.into_iter().peekable();
    let mut texts = Texts::default();
    for (key, labels) in keys {
        while let Some((k, reason)) = bad.next_if(|(k, _)| *k < key) {
            services.push(texts.pending_report(k, &reason));
        }
        match alloc.assignment(&key) {
            Some(a) => {
                inputs.push((services.len(), labels));
                services.push(ServiceReport {
                    pool: Some(a.pool().to_string()),
                    ips: a.addresses(),
                    ..texts.report(key)
                });
            }
            None => {
                let why = pending
                    .get(&key)
                    .map_or("no address assigned", String::as_str);
                let r = texts.pending_report(key, why);
                services.push(r);
            }
        }
    }
    for (k, reason) in bad {
        services.push(texts.pending_report(k, &reason));
    }
    drop(pending);
    let bgp_blocked = bgp_blocked_here(config, &node.name);
    let plan = {
        let rows: Vec<PlanRow<'_>> = inputs
            .iter()
            .filter_map(|&(i, labels)| {
                let r = services.get(i)?;
                let here = bgp_blocked.is_empty()
                    || !bgp_blocked.contains(&ServiceKey {
                        namespace: r.namespace.to_string(),
                        name: r.name.clone(),
                    });
                Some(PlanRow(r, labels, here))
            })
            .collect();
        plan_compact(config, &node.name, &node.labels, &rows)
    };
    // Plan index -> report index.
    let report_index: Vec<usize> = inputs.into_iter().map(|(i, _)| i).collect();
    let node_peers: Vec<&BgpPeerConfig> = config.peers_for_node(&node.labels);
    let peers: Vec<PeerSettings> = node_peers
        .iter()
        .map(|p| session_settings(p, node))
        .collect();
    for p in &node_peers {
        if let Some(b) = p
            .bfd_profile
            .as_ref()
            .and_then(|b| config.bfd_profiles.get(b))
        {
            if b.echo_mode {
                notes.push(format!(
                    "BGPPeer {}: BFDProfile {}: echoMode is not implemented; BFD runs with control packets only",
                    p.name, b.name
                ));
            }
        }
    }

    // Routes per session, and the human-readable announcements per Service.
    let mut routes: BTreeMap<String, Vec<RouteSpec>> =
        peers.iter().map(|p| (p.name.clone(), Vec::new())).collect();
    // The reports are sorted by (namespace, name): a Service's L2 lines go
    // straight into its report, found by binary search on the plan's
    // `namespace/name`, with no map of lines per Service in between.
    fn report_at(services: &[ServiceReport], s: &str) -> Option<usize> {
        let (ns, name) = s.split_once('/').unwrap_or((s, ""));
        services
            .binary_search_by(|r| (&*r.namespace, &*r.name).cmp(&(ns, name)))
            .ok()
    }
    // Per attribute set: its route attributes, and per peer whether the
    // peer's session carries each family (see session_settings) and the
    // peer's address for the report lines.
    let attrs: Vec<AttrsOut> = plan.attrs.iter().map(|a| AttrsOut::of(a, config)).collect();
    // Each list sized once, exactly (the routes are kept as long as they
    // are announced: no doubling slack).
    // So is each report's list of lines (pushed one by one, a list would
    // keep room for four).
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines = vec![0usize; services.len()];
    let mut count_line = |j: Option<usize>| {
        if let Some(n) = j.and_then(|j| lines.get_mut(j)) {
            *n += 1;
        }
    };
    for g in &plan.bgp {
        let v4 = g.prefix.addr().is_ipv4();
        for (peer, _, fam4, fam6) in attrs.get(g.attrs as usize).map_or(&[][..], |a| &a.peers) {
            if *(if v4 { fam4 } else { fam6 }) {
                *counts.entry(peer.as_str()).or_default() += 1;
                for &i in plan.services_of(g) {
                    count_line(report_index.get(i as usize).copied());
                }
            }
        }
    }
    for l in &plan.l2 {
        for s in &l.services {
            count_line(report_at(&services, s));
        }
    }
    for (r, n) in services.iter_mut().zip(lines) {
        r.announcements.reserve_exact(n);
    }
    for (peer, n) in counts {
        if let Some(r) = routes.get_mut(peer) {
            r.reserve_exact(n);
        }
    }
    for g in &plan.bgp {
        let Some(at) = attrs.get(g.attrs as usize) else {
            continue;
        };
        let spec = RouteSpec {
            prefix: g.prefix,
            communities: at.communities.clone(),
            large_communities: at.large_communities.clone(),
            local_pref: g.local_pref,
        };
        let v4 = g.prefix.addr().is_ipv4();
        for (peer, to, fam4, fam6) in &at.peers {
            if !(if v4 { *fam4 } else { *fam6 }) {
                continue;
            }
            if let Some(r) = routes.get_mut(peer.as_str()) {
                r.push(spec.clone());
            }
            for &i in plan.services_of(g) {
                if let Some(r) = report_index
                    .get(i as usize)
                    .and_then(|&j| services.get_mut(j))
                {
                    r.announcements.push(Announcement::Bgp {
                        prefix: g.prefix,
                        to: to.clone(),
                    });
                }
            }
        }
    }
    let l2 = plan.l2;
    for l in &l2 {
        let ads: Vec<&str> = l.advertisements.iter().map(String::as_str).collect();
        let via: Arc<str> = Arc::from(ads.join(","));
        for s in &l.services {
            if let Some(r) = report_at(&services, s).and_then(|j| services.get_mut(j)) {
                r.announcements.push(Announcement::L2 {
                    ip: l.ip,
                    via: via.clone(),
                });
            }
        }
    }

    let mut state = AllocationState::default();
    let state_changes = incremental.then(|| {
        touched_keys
            .iter()
            .map(|k| {
                let a = alloc.assignment(k).map(|a| Allocation {
                    ips: a.addresses(),
                    pool: a.pool().to_string(),
                });
                (k.to_string(), a)
            })
            .collect()
    });
    for r in services
        .iter()
        .filter(|_| mode != Mode::Report && !incremental)
    {
        if let Some(pool) = &r.pool {
            state.services.insert(
                format!("{}/{}", r.namespace, r.name),
                Allocation {
                    ips: r.ips.clone(),
                    pool: pool.clone(),
                },
            );
        }
    }

    let pools = alloc
        .stats()
        .into_iter()
        .map(|s| PoolCounts {
            name: s.pool.clone(),
            v4_total: s.ipv4_total,
            v4_in_use: s.ipv4_in_use,
            v6_total: s.ipv6_total,
            v6_in_use: s.ipv6_in_use,
        })
        .collect();

    Desired {
        services,
        peers,
        routes: routes.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        l2,
        state,
        state_changes,
        pools,
        notes,
    }
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
