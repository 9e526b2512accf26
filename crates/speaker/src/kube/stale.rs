//! Which watches are failing, and when the cache is current again.
//!
//! A watch error marks the configuration stale (the metric, and `/readyz`
//! 503 naming the watch). The mark must end when the API server serves
//! that kind again, but a watch resumed from its resourceVersion yields no
//! event until an object changes, so after an outage in which nothing
//! changed no event would ever say so. Each failing kind therefore leaves
//! a probe (a one-item list of that kind, with the speaker's own
//! credentials); once every failing kind's probe succeeds (or its watch
//! delivers again) the mark is lifted and the stores are applied once
//! more. A kind that stays refused (RBAC) keeps `/readyz` at 503.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::run::Shared;

/// A cheap request that succeeds when the kind is served again.
pub type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The failing kinds and their probes.
#[derive(Clone, Default)]
pub struct Failing(Arc<Mutex<BTreeMap<&'static str, Probe>>>);

impl Failing {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Probe>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A watch error: `kind` is failing (again).
    pub fn failed(&self, shared: &Shared, kind: &'static str, error: &str, probe: Probe) {
        self.lock().insert(kind, probe);
        crate::run::mark_config_stale(shared, kind, error);
    }

    /// `kind`'s watch delivered: the mark ends when no kind is failing.
    pub fn recovered(&self, shared: &Shared, kind: &'static str) {
        let empty = {
            let mut m = self.lock();
            m.remove(kind);
            m.is_empty()
        };
        if empty {
            crate::run::clear_stale_watch(shared);
        }
    }

    /// Probes the failing kinds each second; when none is left failing,
    /// lifts the mark and wakes the run loop (`tx`) to apply the stores.
    pub fn spawn_probes(
        self,
        shared: Arc<Shared>,
        tx: mpsc::Sender<()>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let probes: Vec<(&'static str, Probe)> =
                    self.lock().iter().map(|(k, p)| (*k, p.clone())).collect();
                if probes.is_empty() {
                    continue;
                }
                for (kind, probe) in probes {
                    match probe().await {
                        Ok(()) => {
                            self.lock().remove(kind);
                        }
                        Err(e) => tracing::debug!(kind, error = %e, "still failing"),
                    }
                }
                if self.lock().is_empty() {
                    tracing::info!("every watched kind is served again; applying the stores");
                    crate::run::clear_stale_watch(&shared);
                    if tx.send(()).await.is_err() {
                        return;
                    }
                }
            }
        })
    }
}
