//! The state a running speaker shares with its HTTP handlers: the BGP
//! engine, metrics, the `/status` view and the L2 node.

use std::sync::{Arc, RwLock};

use bgp_session::Speaker;

use crate::http::{StatusParts, View};
use crate::metrics::Metrics;

/// State shared with the HTTP handlers.
pub struct Shared {
    pub(crate) speaker: Speaker,
    pub(crate) metrics: Metrics,
    pub(crate) view: RwLock<View>,
    /// Caps concurrent `/status` and `/metrics` renders.
    pub(crate) renders: Arc<tokio::sync::Semaphore>,
    /// The L2 node (if running) and its metric families.
    pub(crate) l2: Arc<crate::l2::L2Shared>,
    pub(crate) l2_metrics: crate::l2::L2Metrics,
    /// BFD sessions of the BGPPeers with a bfdProfile.
    pub(crate) bfd: Arc<crate::bfd::BfdShared>,
}

impl Shared {
    pub(crate) fn new(speaker: Speaker, node: &str) -> Self {
        let mut view = View::default();
        view.metrics.node = node.to_string();
        view.parts = Arc::new(StatusParts::of(&view));
        Shared {
            speaker,
            metrics: Metrics::new(),
            view: RwLock::new(view),
            renders: Arc::new(tokio::sync::Semaphore::new(crate::http::MAX_RENDERS)),
            l2: Arc::default(),
            l2_metrics: crate::l2::L2Metrics::new(),
            bfd: Arc::default(),
        }
    }

    pub(crate) fn view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the view and re-renders its `/status` parts once.
    pub(super) fn update(&self, f: impl FnOnce(&mut View)) {
        let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
        f(&mut v);
        v.parts = Arc::new(StatusParts::of(&v));
    }

    pub fn render_metrics(&self) -> String {
        let view = self.view().metrics.clone();
        let mut text = self.metrics.render(&view, &self.speaker.status());
        text.push_str(&self.l2_metrics.render(self.l2.status().as_ref()));
        text.push_str(&self.bfd.render_metrics());
        text
    }

    /// Why `/readyz` is not 200: no configuration yet, or (kubernetes) a
    /// stale watch cache; `None` when ready.
    pub fn unready(&self) -> Option<String> {
        let v = self.view();
        if !v.metrics.config_loaded {
            return Some("no configuration loaded".into());
        }
        v.stale_watch.clone()
    }
}
