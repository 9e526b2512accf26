//! The runner's entry points for `oxlb-speaker kubernetes` (feature
//! `kube`): a reload from the API server's objects, and the stale mark.

use std::time::Instant;

use super::{Runner, Shared};

impl Runner {
    /// A reload from objects read elsewhere (`oxlb-speaker kubernetes`:
    /// the API server's stores): validated with the same rules, then the
    /// same compute and apply as a file reload.
    pub(crate) async fn reload_objects(&mut self, objects: &metallb_api::Objects, why: &str) {
        let started = Instant::now();
        let errors =
            |d: metallb_api::Diagnostics| d.errors.iter().map(ToString::to_string).collect();
        let valid = metallb_api::validate(objects, &self.opts).map_err(errors);
        self.apply_loaded(valid, why, started).await;
    }
}

impl Runner {
    /// The L2 members found through the API (the speaker Pods), or None
    /// for the Nodes; taken by the next reload.
    pub(crate) fn set_l2_members(
        &mut self,
        found: Option<Result<Vec<l2::membership::Member>, String>>,
    ) {
        self.l2.set_found_members(found);
    }
}

/// Marks the configuration stale (`metallb_k8s_client_config_stale_bool`
/// 1, `/status` `stale`): the API server cannot be reached, so the last
/// known state is what runs; `/readyz` answers 503 naming the watch and
/// its error. The next apply clears the metric, [`clear_stale_watch`] the
/// 503 (once every failing kind is served again, `kube::stale`).
pub(crate) fn mark_config_stale(shared: &Shared, kind: &str, error: &str) {
    shared.update(|v| {
        v.metrics.config_stale = true;
        v.stale_watch = Some(format!(
            "watch cache stale: the {kind} watch is failing ({error}); announcing the last known state"
        ));
    });
}

/// Every watched kind is served again: `/readyz` no longer says stale.
pub(crate) fn clear_stale_watch(shared: &Shared) {
    shared.update(|v| v.stale_watch = None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_watch_makes_readyz_name_it() {
        let speaker = bgp_session::Speaker::bind(&[]).await.unwrap();
        let shared = Shared::new(speaker, "node1");
        assert_eq!(shared.unready().as_deref(), Some("no configuration loaded"));
        shared.update(|v| v.metrics.config_loaded = true);
        assert_eq!(shared.unready(), None);
        mark_config_stale(&shared, "Service", "client error (Connect)");
        let why = shared.unready().expect("stale watch: not ready");
        assert!(
            why.starts_with("watch cache stale: the Service watch is failing")
                && why.contains("client error (Connect)"),
            "{why}"
        );
        assert!(shared.view().metrics.config_stale);
        clear_stale_watch(&shared);
        assert_eq!(shared.unready(), None);
    }
}
