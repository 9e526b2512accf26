//! Standalone mode: load, allocate, persist, announce; reload on SIGHUP or
//! when the config changes; Cease to every peer on SIGTERM. (The state
//! shared with the HTTP handlers is in `run_shared.rs`.)
//!
//! Order of a change: a new allocation is written to the state file (and
//! fsynced) before any route for it reaches the BGP engine, so a crash never
//! moves an address a router has already learned. When the write fails, the
//! new allocations stay unannounced (what was persisted keeps being
//! announced) and the write is retried with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bgp_proto::adj_rib_out::RouteSpec;
use bgp_session::Speaker;
use metallb_api::Options;
use tokio::signal::unix::{signal, SignalKind};

use crate::desired::ServiceReport;
use crate::desired::{compute_with, router_id_keys, Desired, LiveAllocator, NodeInfo, RouterIdKey};
use crate::metrics::Announced;
use crate::state::{Allocation, AllocationState, StateLock};
use crate::StandaloneArgs;

#[path = "run_shared.rs"]
mod shared;
pub use shared::Shared;

/// Size and modification time of every config file, to notice edits.
fn fingerprint(path: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let one = |p: &Path| {
        let m = std::fs::metadata(p).ok();
        (
            p.to_path_buf(),
            m.as_ref().and_then(|m| m.modified().ok()),
            m.map(|m| m.len()).unwrap_or(0),
        )
    };
    match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut v: Vec<_> = rd.filter_map(Result::ok).map(|e| one(&e.path())).collect();
            v.sort();
            v
        }
        Err(_) => vec![one(path)],
    }
}

/// Waits between failed state file writes: 1 s, doubling up to a minute.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

pub(crate) struct Runner {
    args: StandaloneArgs,
    opts: Options,
    shared: Arc<Shared>,
    /// The state file as loaded, until the first computation with an
    /// allocator restored it; the allocations in force are the allocator's
    /// (`live`), read through `run_state`.
    restore: Option<AllocationState>,
    /// Every Service whose allocation changed since the state file last
    /// held `state`, with its allocation in the file (`None`: not in it):
    /// what is not durable yet, found without comparing all Services.
    unsaved: BTreeMap<String, Option<Allocation>>,
    /// After a whole-state replacement the file held: that state (the
    /// file's content except for the Services in `unsaved`), kept instead
    /// of a note per Service until the file holds `state`.
    saved_base: Option<Arc<AllocationState>>,
    /// The allocation decisions of the last state change not logged yet
    /// (`None`: released), see `Runner::flush_state_log`.
    state_log: Vec<(String, Option<Allocation>)>,
    /// Routes per session as computed, and as handed to the BGP engine
    /// (the computed ones minus those of unpersisted allocations).
    desired_routes: BTreeMap<String, Arc<Vec<RouteSpec>>>,
    handed: BTreeMap<String, Arc<Vec<RouteSpec>>>,
    /// The Service reports of the last apply (shared with `/status`).
    services: Arc<Vec<ServiceReport>>,
    /// When to retry a failed state file write, and the wait after that.
    retry: Option<(Instant, Duration)>,
    /// Derived router IDs, kept while the sessions stay the same.
    router_ids: BTreeMap<RouterIdKey, Ipv4Addr>,
    /// Parsed files, reused while they do not change.
    cache: metallb_api::LoadCache,
    /// The one allocator, synced from the Service diff on each reload.
    pub(crate) live: LiveAllocator,
    /// The L2 node's lifecycle (started with the first L2Advertisement).
    l2: crate::l2::L2Runtime,
    /// After a graceful restart: new allocations wait for End-of-RIB.
    restart: Option<run_restart::RestartHold>,
    /// `--bind-vips`: local addresses for the announced VIPs.
    pub(crate) vips: crate::vip_bind::VipBinder,
}

impl Runner {
    pub(crate) fn new(args: StandaloneArgs, shared: Arc<Shared>, state: AllocationState) -> Self {
        let opts = Options {
            namespace: args.namespace.clone(),
            load_balancer_class: args.lb_class.clone(),
        };
        let l2 = crate::l2::L2Runtime::new(args.l2.clone(), &args.node_name, shared.l2.clone());
        Runner {
            l2,
            vips: crate::vip_bind::VipBinder::new(args.bind_vips),
            args,
            opts,
            shared,
            unsaved: BTreeMap::new(),
            saved_base: None,
            state_log: Vec::new(),
            restore: Some(state),
            desired_routes: BTreeMap::new(),
            handed: BTreeMap::new(),
            services: Arc::default(),
            retry: None,
            router_ids: BTreeMap::new(),
            cache: metallb_api::LoadCache::default(),
            live: LiveAllocator::default(),
            restart: None,
        }
    }

    fn load(&mut self) -> Result<metallb_api::Validated, Vec<String>> {
        let errors =
            |d: metallb_api::Diagnostics| d.errors.iter().map(ToString::to_string).collect();
        let objects = metallb_api::load_cached(&self.args.config, &self.opts, &mut self.cache)
            .map_err(errors)?;
        metallb_api::validate(&objects, &self.opts).map_err(errors)
    }

    /// The node as the plan sees it, with router IDs derived (a socket
    /// lookup of the local address toward each peer) only for sessions not
    /// seen before.
    fn node(&mut self, config: &metallb_api::Config) -> NodeInfo {
        let mut node = NodeInfo::from_config(config, &self.args.node_name);
        let keys = router_id_keys(config, &node);
        self.router_ids.retain(|k, _| keys.contains(k));
        for k in keys {
            let name = &self.args.node_name;
            self.router_ids
                .entry(k)
                .or_insert_with(|| bgp_session::transport::derive_router_id(k.0, k.1, name));
        }
        node.router_ids = self.router_ids.clone();
        node.graceful_restart_time = self.args.graceful_restart_time;
        node
    }

    /// Writes `self.state` to the state file if it differs from what is
    /// there; true when the file holds it.
    async fn persist(&mut self) -> bool {
        let Some(path) = self.args.state_file.clone() else {
            self.unsaved.clear();
            self.saved_base = None;
            return true;
        };
        // Changes that came back to what the file holds need no write.
        if self.file_is_current() && path.exists() {
            self.retry = None;
            return true;
        }
        let result = self.save_state(&path);
        match result {
            Ok(()) => {
                self.unsaved.clear();
                self.saved_base = None;
                self.retry = None;
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.shared
                    .update(|v| v.metrics.state_last_save_seconds = now);
                true
            }
            Err(e) => {
                let wait = self.retry.map_or(RETRY_FIRST, |(_, w)| w);
                self.retry = Some((Instant::now() + wait, (wait * 2).min(RETRY_MAX)));
                tracing::error!(
                    error = %e,
                    retry_in_s = wait.as_secs(),
                    "cannot write the state file; new allocations are not announced until it is written"
                );
                self.shared.update(|v| v.metrics.state_save_failures += 1);
                false
            }
        }
    }

    /// Hands each session its computed routes, minus any route for an
    /// unpersisted allocation that the session was not carrying already.
    async fn announce(&mut self) {
        let held = self.held();
        self.vips.bind_bgp(&self.services, &held).await;
        let speaker = &self.shared.speaker;
        let peers = speaker.peer_names();
        let mut handed = BTreeMap::new();
        for (peer, routes) in &self.desired_routes {
            if !peers.contains(peer) {
                continue;
            }
            let allowed = self.allowed_routes(peer, routes, &held);
            // A list the session already has (the same Arc) is not handed
            // again: the engine would rebuild its table only to find it equal.
            if !self
                .handed
                .get(peer)
                .is_some_and(|h| Arc::ptr_eq(h, &allowed))
            {
                speaker.set_routes(peer, allowed.clone()).await;
            }
            handed.insert(peer.clone(), allowed);
        }
        self.handed = handed;
        self.vips.unbind_stale().await;
        let routes = self.handed.clone();
        let announced = Announced::of(self.services.clone(), &held);
        let unsaved = held.len() as u64;
        self.shared.update(|v| {
            v.routes = routes;
            v.metrics.announced = announced;
            v.metrics.state_unsaved = unsaved;
        });
    }

    /// `routes` minus any route for an unpersisted allocation (`held`) that
    /// the session was not carrying already.
    fn allowed_routes(
        &self,
        peer: &str,
        routes: &Arc<Vec<RouteSpec>>,
        held: &BTreeSet<IpAddr>,
    ) -> Arc<Vec<RouteSpec>> {
        if held.is_empty() {
            return routes.clone();
        }
        // An aggregate (aggregationLength) already carried also covers
        // persisted addresses: it stays. A host route of an unpersisted
        // allocation never goes out.
        let before = self.handed.get(peer);
        let kept_aggregate = |r: &RouteSpec| {
            r.prefix.prefix_len() < r.prefix.max_prefix_len()
                && before.is_some_and(|b| b.iter().any(|x| x.prefix == r.prefix))
        };
        Arc::new(
            routes
                .iter()
                .filter(|r| kept_aggregate(r) || !held.iter().any(|ip| r.prefix.contains(ip)))
                .cloned()
                .collect(),
        )
    }

    /// Retries a failed state file write when due; announces what it held
    /// back once the write succeeds.
    pub(crate) async fn retry_save(&mut self, now: Instant) {
        match self.retry {
            Some((at, _)) if at <= now => {}
            _ => return,
        }
        if self.persist().await {
            tracing::info!("state file written; announcing the held-back allocations");
            self.announce().await;
            let held = self.unpersisted();
            self.vips.bind_l2(|| self.l2.candidate_ips(&held)).await;
            self.l2.refresh(&held);
            self.vips.unbind_stale().await;
        }
    }

    /// Brings the sessions and routes to `d`: peers whose settings did not
    /// change keep their sessions, and each session gets only the route
    /// difference, after the state file holds every new allocation.
    async fn apply(&mut self, mut d: Desired, warnings: Vec<String>, started: Instant) {
        // One line per allocation decision that changed (a walk of the old
        // and new allocations side by side, both in key order, no lookups),
        // logged once the routes are handed over.
        for sv in &d.services {
            if let Some(reason) = &sv.pending {
                tracing::warn!(service = %format_args!("{}/{}", sv.namespace, sv.name), %reason, "service pending");
            }
        }
        self.take_state_changes(&mut d);
        // Persist first: nothing new is announced before it is durable.
        self.persist().await;
        share_equal_lists(&mut d.routes);

        let speaker = &self.shared.speaker;
        let wanted: Vec<String> = d.peers.iter().map(|p| p.name.clone()).collect();
        for name in speaker.peer_names() {
            if !wanted.contains(&name) {
                tracing::info!(peer = %name, "BGPPeer removed from the configuration");
                speaker
                    .remove_peer(&name, "peer removed from the configuration")
                    .await;
            }
        }
        let mut started_peers = BTreeSet::new();
        let held = self.held();
        self.vips.bind_bgp(&d.services, &held).await;
        let speaker = &self.shared.speaker;
        let known = speaker.peer_names();
        for p in &d.peers {
            // A new peer starts with its routes, so its first session sends
            // the whole table before End-of-RIB (RFC 4724 §2), never an empty
            // table followed by the routes as changes.
            let initial = match d.routes.get(&p.name) {
                Some(r) if !known.contains(&p.name) => Some(self.allowed_routes(&p.name, r, &held)),
                _ => None,
            };
            let result = match initial {
                Some(r) => {
                    let res = speaker.upsert_peer_with_routes(p.clone(), r.clone()).await;
                    if res.is_ok() {
                        self.handed.insert(p.name.clone(), r);
                    }
                    res
                }
                None => speaker.upsert_peer(p.clone()).await,
            };
            match result {
                Ok(true) => {
                    tracing::info!(peer = %p.name, address = %p.endpoint.address, "BGP session configured")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "BGPPeer not started");
                    continue;
                }
            }
            started_peers.insert(p.name.clone());
        }
        self.desired_routes = d
            .routes
            .into_iter()
            .filter(|(k, _)| started_peers.contains(k))
            .collect();
        let old_services = std::mem::replace(
            &mut self.services,
            Arc::new(std::mem::take(&mut d.services)),
        );
        self.announce().await;
        self.flush_state_log();

        let services = self.services.clone();
        self.shared.update(|v| {
            v.metrics.config_loaded = true;
            v.metrics.config_stale = false;
            v.metrics.pools = d.pools;
            v.metrics.reloads_ok += 1;
            v.metrics.last_apply_seconds = started.elapsed().as_secs_f64();
            v.services = services;
            v.l2 = d.l2.iter().map(|a| a.ip.to_string()).collect();
            v.warnings = warnings;
            v.last_error.clear();
        });
        // The previous generation's reports (100k Services: 300k
        // allocations) are freed off the reload's path, once no view
        // shares them.
        if Arc::strong_count(&old_services) == 1 {
            tokio::task::spawn_blocking(move || drop(old_services));
        }
    }

    /// Hands the L2 node the VIPs of the allocations in force, those not
    /// persisted yet held back (starting it on first use); its notes join
    /// the config warnings.
    async fn apply_l2(&mut self, config: &metallb_api::Config) -> Result<(), String> {
        let held = self.unpersisted();
        let notes = self.l2.apply(config, &self.live).await?;
        self.vips.bind_l2(|| self.l2.candidate_ips(&held)).await;
        self.l2.refresh(&held);
        self.vips.unbind_stale().await;
        for n in &notes {
            tracing::warn!(warning = %n, "configuration");
        }
        if !notes.is_empty() {
            self.shared.update(|v| v.warnings.extend(notes));
        }
        Ok(())
    }

    /// Loads, computes and applies. `fresh` (SIGHUP) re-reads every file
    /// instead of trusting size and modification time.
    pub(crate) async fn reload(&mut self, why: &str, fresh: bool) {
        let started = Instant::now();
        if fresh {
            self.cache.invalidate();
        }
        let loaded = self.load();
        self.apply_loaded(loaded, why, started).await;
    }

    /// Computes and applies a loaded configuration, or keeps the last good
    /// one and records why this one was rejected.
    async fn apply_loaded(
        &mut self,
        loaded: Result<metallb_api::Validated, Vec<String>>,
        why: &str,
        started: Instant,
    ) {
        match loaded {
            Ok(valid) => {
                let loaded = started.elapsed();
                let node = self.node(&valid.config);
                let d = compute_with(
                    &mut self.live,
                    &valid.config,
                    &node,
                    run_state::previous(&self.restore),
                );
                let computed = started.elapsed();
                let warnings = warnings_of(&valid, &d);
                self.apply(d, warnings, started).await;
                let bfd = crate::bfd::wanted(&valid.config, &node);
                self.shared.bfd.apply(&self.shared.speaker, bfd).await;
                if let Err(e) = self.apply_l2(&valid.config).await {
                    tracing::error!(error = %e, "L2 mode not running");
                }
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                tracing::info!(
                    trigger = why,
                    took_ms = ms(started.elapsed()),
                    load_ms = ms(loaded),
                    compute_ms = ms(computed - loaded),
                    "configuration applied"
                );
            }
            Err(errors) => {
                for e in &errors {
                    tracing::error!(error = %e, "configuration rejected; keeping the last good one");
                }
                self.shared.update(|v| {
                    v.metrics.config_stale = true;
                    v.metrics.reloads_failed += 1;
                    v.last_error = errors;
                });
            }
        }
    }
}

fn warnings_of(valid: &metallb_api::Validated, d: &Desired) -> Vec<String> {
    let w: Vec<String> = valid
        .warnings
        .iter()
        .map(ToString::to_string)
        .chain(d.notes.iter().cloned())
        .collect();
    for x in &w {
        tracing::warn!(warning = %x, "configuration");
    }
    w
}

pub async fn standalone(args: StandaloneArgs) -> i32 {
    // The lock is held until the process exits, so a second speaker on the
    // same state file (a rolling update gone wrong) cannot tear it.
    let (_lock, state) = match &args.state_file {
        Some(p) => {
            match StateLock::acquire(p).and_then(|l| Ok((Some(l), AllocationState::load(p)?))) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("oxlb-speaker: {e}");
                    return 1;
                }
            }
        }
        None => (None, AllocationState::default()),
    };
    // Installed before anything starts: a SIGTERM during start-up waits
    // for the loop below (a clean Cease) instead of killing the process,
    // which routers with graceful restart would take for a crash.
    let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut usr2)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined2()),
    ) else {
        eprintln!("oxlb-speaker: cannot install signal handlers");
        return 1;
    };
    let speaker = match Speaker::bind(&args.bgp_listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oxlb-speaker: {e}");
            return 1;
        }
    };
    let shared = Arc::new(Shared::new(speaker, &args.node_name));
    let mut runner = Runner::new(args.clone(), shared.clone(), state);
    if let Err(e) = runner.vips.start().await {
        eprintln!("oxlb-speaker: {e}");
        return 1;
    }

    // The first load must succeed: a speaker that starts on a broken config
    // would announce nothing and look healthy.
    let started = Instant::now();
    let valid = match runner.load() {
        Ok(v) => v,
        Err(errors) => {
            eprintln!(
                "oxlb-speaker: {}: {} error(s)",
                args.config.display(),
                errors.len()
            );
            for e in errors {
                eprintln!("  error: {e}");
            }
            return 1;
        }
    };
    match crate::http::serve(args.metrics_addr, shared.clone()).await {
        Ok(addr) => tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /status"),
        Err(e) => {
            eprintln!(
                "oxlb-speaker: cannot serve metrics on {}: {e}",
                args.metrics_addr
            );
            return 1;
        }
    }
    if let Err(e) = runner.l2.preflight(&valid.config) {
        eprintln!("oxlb-speaker: {e}");
        return 1;
    }
    let node = runner.node(&valid.config);
    let d = compute_with(
        &mut runner.live,
        &valid.config,
        &node,
        run_state::previous(&runner.restore),
    );
    let warnings = warnings_of(&valid, &d);
    // RFC 4724 §4.1: restarted with announced routes and graceful restart
    // on some session: R bit in the OPENs, persisted routes first.
    if !runner.previous().is_empty() && d.peers.iter().any(|p| p.fsm.graceful_restart.is_some()) {
        shared.speaker.set_restarting(true);
        runner.begin_restart(Duration::from_secs(u64::from(args.graceful_restart_time)));
    }
    // The validated config is not needed once computed (a reload loads its
    // own): kept for the process's life it would be the largest structure
    // of a 100k-Service speaker.
    // L2 mode reads the config once more after the apply (a clone shares
    // the Service records); without an L2Advertisement nothing is kept.
    let l2_config = crate::l2::in_use(&valid.config).then(|| valid.config.clone());
    let bfd = crate::bfd::wanted(&valid.config, &node);
    drop(valid);
    runner.apply(d, warnings, started).await;
    runner.shared.bfd.apply(&runner.shared.speaker, bfd).await;
    let l2 = match l2_config {
        Some(c) => runner.apply_l2(&c).await,
        None => Ok(()),
    };
    if let Err(e) = l2 {
        eprintln!("oxlb-speaker: {e}");
        shared.speaker.shutdown("oxlb-speaker stopping").await;
        runner.vips.shutdown().await;
        return 1;
    }
    tracing::info!(node = %args.node_name, config = %args.config.display(), "oxlb-speaker running");

    let mut seen = fingerprint(&args.config);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let for_restart = loop {
        tokio::select! {
            _ = hup.recv() => {
                seen = fingerprint(&args.config);
                runner.reload("SIGHUP", true).await;
            }
            _ = tick.tick() => {
                let now = fingerprint(&args.config);
                if now != seen {
                    seen = now;
                    runner.reload("file change", false).await;
                }
                runner.retry_save(Instant::now()).await;
                runner.check_restart(Instant::now()).await;
            }
            _ = term.recv() => break args.graceful_restart_on_exit,
            _ = int.recv() => break false,
            // Exit meaning to be back within the restart time.
            _ = usr2.recv() => break true,
        }
    };
    runner.shutdown(for_restart).await;
    0
}

impl Runner {
    /// The exit of `standalone` and `kubernetes`: L2 leaves first, then the
    /// BGP sessions close as `for_restart` says, then the bound VIPs go.
    pub(crate) async fn shutdown(&mut self, for_restart: bool) {
        let shared = self.shared.clone();
        shared.l2.shutdown().await;
        if for_restart {
            // RFC 4724 §4.2 / RFC 8538 §4: the routers keep our routes as
            // stale until the restarted speaker's End-of-RIB.
            tracing::info!("exiting for a restart: routes left to graceful restart");
            shared
                .speaker
                .shutdown_for_restart("oxlb-speaker restarting")
                .await;
        } else {
            // RFC 8538 §3: a Hard Reset where the N bit was exchanged, so the
            // routers withdraw our routes now.
            tracing::info!("shutting down: Cease to every peer");
            shared.speaker.shutdown("oxlb-speaker stopping").await;
            // After the withdrawals: the addresses go once no router sends
            // traffic for them. A restart exit keeps them, as the routers keep
            // forwarding to us until End-of-RIB (the restart reconciles them).
            self.vips.shutdown().await;
        }
    }
}

/// Sessions whose route lists are equal get one shared list, so the
/// speaker holds one copy and the BGP engine builds one route table for
/// them (the plan computes a list per peer; with K peers selecting the same
/// advertisements they are usually all equal).
fn share_equal_lists(routes: &mut BTreeMap<String, Arc<Vec<RouteSpec>>>) {
    let mut distinct: Vec<Arc<Vec<RouteSpec>>> = Vec::new();
    for list in routes.values_mut() {
        match distinct
            .iter()
            .find(|d| Arc::ptr_eq(d, list) || d[..] == list[..])
        {
            Some(d) => *list = d.clone(),
            None => distinct.push(list.clone()),
        }
    }
}

#[path = "run_restart.rs"]
mod run_restart;
#[path = "run_state.rs"]
mod run_state;

#[cfg(feature = "kube")]
#[path = "run_kube.rs"]
mod run_kube;
#[cfg(feature = "kube")]
pub(crate) use run_kube::{clear_stale_watch, mark_config_stale};

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
