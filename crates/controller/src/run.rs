//! `oxlb-controller run`: watches on Services, IPAddressPools and
//! Namespaces into compact stores ([`crate::store`]), one [`Engine`] pass
//! per batch of changes, then the writes the pass asks for.
//!
//! Nothing is allocated before all three stores have their first full list
//! and (with `--leader-elect`) before this replica holds the Lease: the
//! first pass of every leadership term restores every existing
//! `status.loadBalancer.ingress`. A failed status write schedules the next
//! pass with exponential backoff (100 ms doubling to 30 s): the pass is
//! level-triggered, so it re-derives and re-sends every write still needed.

use crate::engine::{self, Action, Engine};
use crate::lease::{Elector, Timing};
use crate::metrics::Metrics;
use crate::objects::{objects, project_namespace, project_pool, project_service};
use crate::store::{lock, Key, Shared, Store};
use crate::writes::{retried, Writer};
use allocator::ServiceKey;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use metallb_api::types::{IpAddressPoolCr, IpAddressPoolSpec};
use metallb_api::{Objects, Options};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A kubeconfig file; `None`: in-cluster, then `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// The MetalLB namespace (IPAddressPools, the Lease).
    pub namespace: String,
    /// `--lb-class`.
    pub lb_class: Option<String>,
    /// `--metrics-addr` (`None`: no endpoint).
    pub metrics_addr: Option<SocketAddr>,
    /// `--leader-elect`, with its timing.
    pub leader_elect: Option<Timing>,
}

/// A failure that stops the controller.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {msg}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        msg: String,
    },
    /// No client could be built.
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// The metrics address could not be bound.
    #[error("--metrics-addr {addr}: {err}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        err: std::io::Error,
    },
    /// A task ended for good.
    #[error("{0} ended")]
    Ended(&'static str),
}

async fn client(s: &Settings) -> Result<Client, RunError> {
    let Some(path) = &s.kubeconfig else {
        return Ok(Client::try_default().await?);
    };
    let err = |msg: String| RunError::Kubeconfig {
        path: path.display().to_string(),
        msg,
    };
    let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Ok(Client::try_from(cfg)?)
}

/// Watches `api` into `store` through `project`, sending `()` on change.
/// Watch errors (API server down, 410 Gone) are retried with the watcher's
/// default backoff and end in a relist.
fn watch_into<K, V>(
    api: Api<K>,
    store: Shared<V>,
    project: fn(K) -> (Key, V),
    tx: mpsc::Sender<()>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    V: Send + 'static,
{
    tokio::spawn(async move {
        let s = watcher(api, watcher::Config::default()).default_backoff();
        let mut s = std::pin::pin!(s);
        while let Some(ev) = s.next().await {
            match ev {
                Ok(ev) => {
                    if lock(&store).apply(ev, project) {
                        // A full channel already holds a wake-up.
                        let _ = tx.try_send(());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch error (retrying with backoff)"),
            }
        }
    })
}

/// How many writes a pass keeps in flight.
const WRITES_IN_FLIGHT: usize = 16;

/// Status writes that succeeded, kept until the store shows them (or 5 s),
/// so a pass that runs before the watch delivers our own write does not
/// send it twice.
type Written = HashMap<ServiceKey, (Vec<IpAddr>, Option<String>, Instant)>;

/// See [`Stores::config_generation`].
type ConfigGen = (Vec<(String, IpAddressPoolSpec)>, u64);

struct Stores {
    svcs: Shared<crate::objects::ServiceEntry>,
    pools: Shared<Arc<IpAddressPoolCr>>,
    nss: Shared<metallb_api::Loaded<Namespace>>,
}

impl Stores {
    fn ready(&self) -> bool {
        lock(&self.svcs).ready && lock(&self.pools).ready && lock(&self.nss).ready
    }

    fn objects(&self) -> Objects {
        let (p, n, s) = (lock(&self.pools), lock(&self.nss), lock(&self.svcs));
        objects(p.values(), n.values(), s.values())
    }

    /// The pools and namespaces, and only the Services of `keys` that exist.
    fn objects_of(&self, keys: &[Key]) -> Objects {
        let (p, n, s) = (lock(&self.pools), lock(&self.nss), lock(&self.svcs));
        objects(p.values(), n.values(), keys.iter().filter_map(|k| s.get(k)))
    }

    /// What a full pass depends on besides the Services: the pools'
    /// names and specs (not their status, which the controller itself
    /// writes) and the namespaces' generation.
    fn config_generation(&self) -> ConfigGen {
        let mut specs: Vec<(String, IpAddressPoolSpec)> = lock(&self.pools)
            .values()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), p.spec.clone()))
            .collect();
        specs.sort_by(|a, b| a.0.cmp(&b.0));
        (specs, lock(&self.nss).generation)
    }

    fn pool_statuses(&self) -> BTreeMap<String, Option<metallb_api::types::IpAddressPoolStatus>> {
        lock(&self.pools)
            .values()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.status.clone(),
                )
            })
            .collect()
    }
}

/// The decisions of an incremental pass over `changed` Services, or
/// `None` when the configuration does not validate (then a full pass
/// decides what the last good config does).
fn decide_changed(
    engine: &mut Engine,
    stores: &Stores,
    changed: &[Key],
    opts: &Options,
    m: &Metrics,
) -> Option<Vec<Action>> {
    let objs = stores.objects_of(changed);
    let v = metallb_api::validate(&objs, opts).ok()?;
    let keys: Vec<ServiceKey> = changed
        .iter()
        .map(|(ns, n)| ServiceKey::new(ns.clone(), n.clone()))
        .collect();
    let mut out = engine.pass_changed(&v.config, &keys);
    out.extend(engine::clear_not_load_balancers(
        &objs.services,
        opts.load_balancer_class.as_deref(),
    ));
    if let Some(alloc) = engine.allocator() {
        let stats = alloc.stats();
        out.extend(engine::pool_status_actions(&stats, &stores.pool_statuses()));
        m.set_pools(stats);
    }
    Some(out)
}

/// The decisions of one full pass (sans-IO apart from reading the stores).
fn decide(
    engine: &mut Engine,
    stores: &Stores,
    last_good_pools: &mut Option<Objects>,
    opts: &Options,
    m: &Metrics,
) -> Vec<Action> {
    let objs = stores.objects();
    let mut out = Vec::new();
    let config = match metallb_api::validate(&objs, opts) {
        Ok(v) => {
            m.config_loaded.store(true, Ordering::Relaxed);
            m.config_stale.store(false, Ordering::Relaxed);
            engine.config_accepted();
            out.push(engine::config_state(None));
            *last_good_pools = Some(Objects {
                ip_address_pools: objs.ip_address_pools.clone(),
                ..Objects::default()
            });
            Some(v.config)
        }
        Err(diags) => {
            // The last good configuration keeps running: the current
            // Services and Namespaces with the last pools that validated.
            m.config_stale.store(true, Ordering::Relaxed);
            tracing::warn!("configuration rejected, keeping the last good one: {diags}");
            out.extend(engine.config_rejected(&diags));
            out.push(engine::config_state(Some(&diags)));
            last_good_pools.as_ref().and_then(|good| {
                let merged = Objects {
                    ip_address_pools: good.ip_address_pools.clone(),
                    namespaces: objs.namespaces.clone(),
                    services: objs.services.clone(),
                    ..Objects::default()
                };
                metallb_api::validate(&merged, opts).ok().map(|v| v.config)
            })
        }
    };
    if let Some(config) = config {
        out.extend(engine.pass(&config));
        if let Some(note) = &engine.pools_note {
            tracing::warn!("{note}");
        }
    }
    out.extend(engine::clear_not_load_balancers(
        &objs.services,
        opts.load_balancer_class.as_deref(),
    ));
    if let Some(alloc) = engine.allocator() {
        let stats = alloc.stats();
        out.extend(engine::pool_status_actions(&stats, &stores.pool_statuses()));
        m.set_pools(stats);
    }
    out
}

fn already_written(written: &Written, a: &Action) -> bool {
    let Action::SetStatus { key, ips, pool } = a else {
        return false;
    };
    written
        .get(key)
        .is_some_and(|(i, p, _)| i == ips && p == pool)
}

/// Runs until a task ends for good.
pub async fn run(s: Settings) -> Result<(), RunError> {
    let client = client(&s).await?;
    let metrics = Arc::new(Metrics::default());
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = s.metrics_addr {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| RunError::Metrics { addr, err })?;
        tracing::info!("metrics, /healthz, /readyz on {addr}");
        let m = metrics.clone();
        tasks.spawn(async move {
            let e = crate::metrics::serve(l, m).await;
            tracing::error!(error = %e, "metrics listener failed");
            "metrics listener"
        });
    }
    let (lead_tx, mut lead_rx) = watch::channel(s.leader_elect.is_none());
    if let Some(timing) = s.leader_elect {
        metrics.elect.store(true, Ordering::Relaxed);
        let el = Elector::new(crate::lease_io::identity(), timing);
        tracing::info!(
            identity = el.id(),
            "leader election on Lease {}/{}",
            s.namespace,
            crate::lease_io::LEASE_NAME
        );
        let api: Api<Lease> = Api::namespaced(client.clone(), &s.namespace);
        tasks.spawn(async move {
            crate::lease_io::run(api, el, lead_tx).await;
            "leader election"
        });
    }
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let stores = Stores {
        svcs: Arc::new(std::sync::Mutex::new(Store::default())),
        pools: Arc::new(std::sync::Mutex::new(Store::default())),
        nss: Arc::new(std::sync::Mutex::new(Store::default())),
    };
    let watches = [
        (
            "Service watch",
            watch_into(
                Api::<Service>::all(client.clone()),
                stores.svcs.clone(),
                project_service,
                tx.clone(),
            ),
        ),
        (
            "IPAddressPool watch",
            watch_into(
                Api::<IpAddressPoolCr>::namespaced(client.clone(), &s.namespace),
                stores.pools.clone(),
                project_pool,
                tx.clone(),
            ),
        ),
        (
            "Namespace watch",
            watch_into(
                Api::<Namespace>::all(client.clone()),
                stores.nss.clone(),
                project_namespace,
                tx,
            ),
        ),
    ];
    for (name, h) in watches {
        tasks.spawn(async move {
            let _ = h.await;
            name
        });
    }
    let writer = Writer {
        instance: crate::lease_io::identity(),
        client,
        namespace: s.namespace.clone(),
        services: stores.svcs.clone(),
        pools: stores.pools.clone(),
    };
    let opts = Options {
        namespace: s.namespace.clone(),
        load_balancer_class: s.lb_class.clone(),
    };
    let work = async {
        while !stores.ready() {
            if rx.recv().await.is_none() {
                return;
            }
        }
        metrics.synced.store(true, Ordering::Relaxed);
        tracing::info!("stores ready");
        let mut engine: Option<Engine> = None;
        let mut last_good: Option<Objects> = None;
        let mut written = Written::new();
        let mut backoff = Duration::ZERO;
        // When the last full pass ran and on which pool/namespace
        // generations; None: the next pass must be full.
        let mut full_at: Option<(Instant, ConfigGen)> = None;
        loop {
            let leading = *lead_rx.borrow_and_update();
            metrics.leading.store(leading, Ordering::Relaxed);
            let mut wait = Duration::from_secs(30);
            if !leading {
                // A follower keeps its stores warm and writes nothing; a
                // new term starts from the Services' status again.
                engine = None;
                full_at = None;
            } else {
                // No batching window: what the watches have delivered by
                // now is this pass (a yield lets them store what is already
                // read); what arrives while it decides and writes is the
                // next one. A fixed 20 ms window was the largest share of
                // Service created -> status set (docs/benchmarks.md §9.1).
                tokio::task::yield_now().await;
                while rx.try_recv().is_ok() {}
                let eng = engine.get_or_insert_with(|| {
                    tracing::info!("leading: restoring allocations from Service status");
                    Engine::default()
                });
                let t = Instant::now();
                let (changed, relisted) = lock(&stores.svcs).take_changes();
                let gen = stores.config_generation();
                // Full: first pass of a term, a relist, a pool or namespace
                // change, a retry, a stale config, or the 30 s resync.
                let incremental = !relisted
                    && backoff.is_zero()
                    && !metrics.config_stale.load(Ordering::Relaxed)
                    && full_at
                        .as_ref()
                        .is_some_and(|(at, g)| *g == gen && at.elapsed() < Duration::from_secs(30));
                let actions = match incremental
                    .then(|| decide_changed(eng, &stores, &changed, &opts, &metrics))
                    .flatten()
                {
                    Some(a) => a,
                    None => {
                        full_at = Some((t, gen));
                        decide(eng, &stores, &mut last_good, &opts, &metrics)
                    }
                };
                let decided = t.elapsed();
                written.retain(|_, (_, _, at)| at.elapsed() < Duration::from_secs(5));
                let mut failed = false;
                let n = actions.len();
                // A status write skipped as already done takes its
                // deprecatedAnnotation warning with it (one per write).
                let skipped: std::collections::HashSet<ServiceKey> = actions
                    .iter()
                    .filter(|a| already_written(&written, a))
                    .filter_map(|a| match a {
                        Action::SetStatus { key, .. } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                let todo: Vec<Action> = crate::write_gate::status_first(
                    actions
                        .into_iter()
                        .filter(|a| !already_written(&written, a))
                        .filter(|a| {
                            !matches!(a, Action::Event { key, reason: "deprecatedAnnotation", .. }
                                if skipped.contains(key))
                        })
                        .collect(),
                );
                // Writes to different objects are independent: up to 16 in
                // flight (a bulk of new Services is bound by round trips),
                // and only while we lead.
                let w = &writer;
                let results = crate::write_gate::while_leading(
                    todo,
                    &lead_rx,
                    WRITES_IN_FLIGHT,
                    |a| async move { (w.apply(&a).await, a) },
                )
                .await;
                for (r, a) in results {
                    metrics.count_write(r.is_ok());
                    match r {
                        Ok(()) => {
                            if let Action::SetStatus { key, ips, pool } = a {
                                written.insert(key, (ips, pool, Instant::now()));
                            }
                        }
                        Err(e) => {
                            failed |= retried(&a);
                            tracing::warn!(error = %e, action = ?a, "write failed");
                        }
                    }
                }
                tracing::debug!(
                    incremental,
                    changed = changed.len(),
                    decide_ms = decided.as_secs_f64() * 1e3,
                    total_ms = t.elapsed().as_secs_f64() * 1e3,
                    actions = n,
                    "pass"
                );
                if failed {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
                    wait = backoff;
                    tracing::info!("retrying failed writes in {backoff:?}");
                } else {
                    backoff = Duration::ZERO;
                    if !written.is_empty() {
                        // Re-check once the remembered writes expire.
                        wait = Duration::from_secs(6);
                    }
                }
            }
            // Level-triggered: a pass also runs every 30 s without a change.
            tokio::select! {
                r = rx.recv() => if r.is_none() { return },
                r = lead_rx.changed() => if r.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    };
    let name = tokio::select! {
        n = tasks.join_next() => match n {
            Some(Ok(n)) => n,
            _ => "a task",
        },
        () = work => "change channel",
    };
    Err(RunError::Ended(name))
}
