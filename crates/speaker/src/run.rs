//! Standalone mode: load, allocate, announce; reload on SIGHUP or when the
//! config changes; Cease to every peer on SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use bgp_session::Speaker;
use metallb_api::Options;
use tokio::signal::unix::{signal, SignalKind};

use crate::desired::{compute, Desired, NodeInfo, ServiceReport};
use crate::metrics::{Metrics, MetricsView};
use crate::state::State;
use crate::StandaloneArgs;

#[derive(Default)]
struct View {
    metrics: MetricsView,
    services: Vec<ServiceReport>,
    routes: BTreeMap<String, Vec<String>>,
    l2: Vec<String>,
    warnings: Vec<String>,
    last_error: Vec<String>,
}

/// State shared with the HTTP handlers.
pub struct Shared {
    speaker: Speaker,
    metrics: Metrics,
    view: RwLock<View>,
}

impl Shared {
    fn view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn render_metrics(&self) -> String {
        let view = self.view().metrics.clone();
        self.metrics.render(&view, &self.speaker.status())
    }

    pub fn ready(&self) -> bool {
        self.view().metrics.config_loaded
    }

    pub fn status_json(&self) -> serde_json::Value {
        let v = self.view();
        serde_json::json!({
            "node": v.metrics.node,
            "config": {
                "loaded": v.metrics.config_loaded,
                "stale": v.metrics.config_stale,
                "errors": v.last_error,
                "warnings": v.warnings,
            },
            "services": v.services,
            "sessions": self.speaker.status(),
            "routes": v.routes,
            "l2": { "eligible": v.l2, "active": false, "note": "the ARP/NDP responder is not part of this build yet" },
        })
    }
}

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

struct Runner {
    args: StandaloneArgs,
    opts: Options,
    shared: Arc<Shared>,
    state: State,
    /// Parsed files, reused while they do not change.
    cache: metallb_api::LoadCache,
}

impl Runner {
    fn load(&mut self) -> Result<metallb_api::Validated, Vec<String>> {
        let errors =
            |d: metallb_api::Diagnostics| d.errors.iter().map(ToString::to_string).collect();
        let objects = metallb_api::load_cached(&self.args.config, &self.opts, &mut self.cache)
            .map_err(errors)?;
        metallb_api::validate(&objects, &self.opts).map_err(errors)
    }

    /// Brings the sessions and routes to `d`: peers whose settings did not
    /// change keep their sessions, and each session gets only the route
    /// difference.
    async fn apply(&mut self, d: Desired, warnings: Vec<String>, started: Instant) {
        let speaker = &self.shared.speaker;
        // One line per allocation decision that changed.
        for s in &d.services {
            let key = format!("{}/{}", s.namespace, s.name);
            let before = self
                .state
                .services
                .get(&key)
                .map(|a| a.ips.clone())
                .unwrap_or_default();
            match &s.pending {
                Some(reason) => tracing::warn!(service = %key, %reason, "service pending"),
                None if before != s.ips => tracing::info!(
                    service = %key,
                    ips = ?s.ips,
                    pool = s.pool.as_deref().unwrap_or(""),
                    "IP allocated"
                ),
                None => {}
            }
        }
        for gone in self
            .state
            .services
            .keys()
            .filter(|k| !d.state.services.contains_key(*k))
        {
            tracing::info!(service = %gone, "IP released");
        }
        // The state file is written (and fsynced) on a blocking thread while
        // the routes go out; both finish before the reload counts as applied.
        // Unchanged allocations are not rewritten.
        let save = match &self.args.state_file {
            Some(p) if d.state.services != self.state.services || !p.exists() => {
                let (state, path) = (d.state.clone(), p.clone());
                Some(tokio::task::spawn_blocking(move || state.save(&path)))
            }
            _ => None,
        };
        self.state = d.state.clone();

        let wanted: Vec<String> = d.peers.iter().map(|p| p.name.clone()).collect();
        for name in speaker.peer_names() {
            if !wanted.contains(&name) {
                tracing::info!(peer = %name, "BGPPeer removed from the configuration");
                speaker
                    .remove_peer(&name, "peer removed from the configuration")
                    .await;
            }
        }
        for p in &d.peers {
            let name = p.name.clone();
            match speaker.upsert_peer(p.clone()).await {
                Ok(true) => {
                    tracing::info!(peer = %name, address = %p.endpoint.address, "BGP session configured")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "BGPPeer not started");
                    continue;
                }
            }
            if let Some(r) = d.routes.get(&name) {
                speaker.set_routes(&name, r.clone()).await;
            }
        }

        if let Some(save) = save {
            match save.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(
                    error = %e,
                    "cannot write the state file; allocations will not survive a restart"
                ),
                Err(e) => tracing::error!(error = %e, "state file writer failed"),
            }
        }

        let routes = d
            .routes
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|r| r.prefix.to_string()).collect()))
            .collect();
        let mut v = self.shared.view.write().unwrap_or_else(|e| e.into_inner());
        v.metrics.config_loaded = true;
        v.metrics.config_stale = false;
        v.metrics.pools = d.pools;
        v.metrics.announced = d.announced;
        v.metrics.reloads_ok += 1;
        v.metrics.last_apply_seconds = started.elapsed().as_secs_f64();
        v.services = d.services;
        v.routes = routes;
        v.l2 = d.plan.l2.iter().map(|a| a.ip.to_string()).collect();
        v.warnings = warnings;
        v.last_error.clear();
    }

    async fn reload(&mut self, why: &str) {
        let started = Instant::now();
        match self.load() {
            Ok(valid) => {
                let loaded = started.elapsed();
                let node = NodeInfo::from_config(&valid.config, &self.args.node_name);
                let d = compute(&valid.config, &node, &self.state);
                let computed = started.elapsed();
                let warnings = warnings_of(&valid, &d);
                self.apply(d, warnings, started).await;
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
                let mut v = self.shared.view.write().unwrap_or_else(|e| e.into_inner());
                v.metrics.config_stale = true;
                v.metrics.reloads_failed += 1;
                v.last_error = errors;
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
    let opts = Options {
        namespace: args.namespace.clone(),
        load_balancer_class: args.lb_class.clone(),
    };
    let state = match &args.state_file {
        Some(p) => match State::load(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oxlb-speaker: {e}");
                return 1;
            }
        },
        None => State::default(),
    };
    let speaker = match Speaker::bind(&args.bgp_listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oxlb-speaker: {e}");
            return 1;
        }
    };
    let shared = Arc::new(Shared {
        speaker,
        metrics: Metrics::new(),
        view: RwLock::new(View {
            metrics: MetricsView {
                node: args.node_name.clone(),
                ..Default::default()
            },
            ..Default::default()
        }),
    });
    let mut runner = Runner {
        args: args.clone(),
        opts,
        shared: shared.clone(),
        state,
        cache: metallb_api::LoadCache::default(),
    };

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
    let node = NodeInfo::from_config(&valid.config, &args.node_name);
    let d = compute(&valid.config, &node, &runner.state);
    let warnings = warnings_of(&valid, &d);
    runner.apply(d, warnings, started).await;
    tracing::info!(node = %args.node_name, config = %args.config.display(), "oxlb-speaker running");

    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("oxlb-speaker: cannot install signal handlers");
        return 1;
    };
    let mut seen = fingerprint(&args.config);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = hup.recv() => {
                seen = fingerprint(&args.config);
                runner.reload("SIGHUP").await;
            }
            _ = tick.tick() => {
                let now = fingerprint(&args.config);
                if now != seen {
                    seen = now;
                    runner.reload("file change").await;
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down: Cease to every peer");
    shared.speaker.shutdown("oxlb-speaker stopping").await;
    0
}
