//! The speaker Pods (those of `--ml-labels` in `--namespace`), watched
//! into a map of [`PodRecord`]s: each Pod is projected as it arrives and
//! dropped, no Pod object is kept. Wakes the run loop on every change
//! that alters a record, as the reflectors do.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

use super::members::PodRecord;
use super::stale::{Failing, Probe};
use crate::run::Shared;

/// The record of `pod`, keyed by its name.
pub fn record(pod: &Pod) -> (String, PodRecord) {
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    let mut ips: Vec<IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| p.ip.parse().ok())
        .collect();
    if ips.is_empty() {
        ips.extend(
            status
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse::<IpAddr>().ok()),
        );
    }
    let phase = status.and_then(|s| s.phase.as_deref());
    (
        meta.name.clone().unwrap_or_default(),
        PodRecord {
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            ips,
            terminating: meta.deletion_timestamp.is_some(),
            finished: matches!(phase, Some("Succeeded" | "Failed")),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            created: meta
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_second()),
        },
    )
}

/// The watch and its map.
pub struct PodWatch {
    records: Arc<Mutex<BTreeMap<String, PodRecord>>>,
    ready: watch::Receiver<bool>,
    _task: tokio::task::JoinHandle<()>,
}

fn lock(m: &Mutex<BTreeMap<String, PodRecord>>) -> MutexGuard<'_, BTreeMap<String, PodRecord>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PodWatch {
    /// Watches the Pods in `ns` matching the label selector `labels`; a
    /// watch error marks the configuration stale and is retried with the
    /// watcher's backoff, the map keeping what it had.
    pub fn start(
        client: &Client,
        ns: &str,
        labels: &str,
        tx: mpsc::Sender<()>,
        shared: Arc<Shared>,
        failing_kinds: Failing,
    ) -> Self {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let probe_api = api.clone();
        let probe_labels = labels.to_string();
        let probe: Probe = Arc::new(move || {
            let api = probe_api.clone();
            let lp = ListParams::default().labels(&probe_labels).limit(1);
            Box::pin(async move {
                api.list_metadata(&lp)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        });
        let records = Arc::new(Mutex::new(BTreeMap::new()));
        let (ready_tx, ready) = watch::channel(false);
        let map = records.clone();
        let s = watcher(api, watcher::Config::default().labels(labels)).default_backoff();
        let task = tokio::spawn(async move {
            let mut s = std::pin::pin!(s);
            let mut failing = false;
            // A re-list is gathered here and replaces the map when complete.
            let mut relist: Option<BTreeMap<String, PodRecord>> = None;
            while let Some(ev) = s.next().await {
                let changed = match ev {
                    Ok(ev) => {
                        if failing {
                            tracing::info!(kind = "Pod", "watch back");
                            failing = false;
                            failing_kinds.recovered(&shared, "Pod");
                        }
                        match ev {
                            watcher::Event::Init => {
                                relist = Some(BTreeMap::new());
                                false
                            }
                            watcher::Event::InitApply(p) => {
                                let (name, r) = record(&p);
                                relist.get_or_insert_with(BTreeMap::new).insert(name, r);
                                false
                            }
                            watcher::Event::InitDone => {
                                let new = relist.take().unwrap_or_default();
                                let mut m = lock(&map);
                                let changed = *m != new || !*ready_tx.borrow();
                                *m = new;
                                drop(m);
                                ready_tx.send_replace(true);
                                changed
                            }
                            watcher::Event::Apply(p) => {
                                let (name, r) = record(&p);
                                lock(&map).insert(name, r.clone()) != Some(r)
                            }
                            watcher::Event::Delete(p) => {
                                let (name, _) = record(&p);
                                lock(&map).remove(&name).is_some()
                            }
                        }
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(kind = "Pod", error = %e, "watch failing; keeping the last known speaker Pods, retrying with backoff");
                            failing = true;
                        } else {
                            tracing::debug!(kind = "Pod", error = %e, "watch still failing");
                        }
                        failing_kinds.failed(&shared, "Pod", &e.to_string(), probe.clone());
                        false
                    }
                };
                if changed {
                    // A full channel already holds a wake-up.
                    let _ = tx.try_send(());
                }
            }
        });
        PodWatch {
            records,
            ready,
            _task: task,
        }
    }

    /// Waits for the first full list; `Err` when the watch ended first.
    pub async fn wait_until_ready(&self) -> Result<(), &'static str> {
        let mut r = self.ready.clone();
        r.wait_for(|ready| *ready)
            .await
            .map(|_| ())
            .map_err(|_| "Pod")
    }

    /// The records now, by Pod name.
    pub fn records(&self) -> BTreeMap<String, PodRecord> {
        lock(&self.records).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_is_projected_to_node_addresses_and_lifecycle() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "speaker-x", "creationTimestamp": "2026-01-02T03:04:05Z",
                         "deletionTimestamp": "2026-01-02T03:05:05Z"},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "podIP": "192.0.2.11",
                       "podIPs": [{"ip": "192.0.2.11"}, {"ip": "2001:db8::11"}]}
        }))
        .unwrap();
        let (name, r) = record(&pod);
        assert_eq!(name, "speaker-x");
        assert_eq!(r.node.as_deref(), Some("n1"));
        assert_eq!(r.ips.len(), 2);
        assert_eq!(r.ips[1].to_string(), "2001:db8::11");
        assert!(r.terminating);
        assert!(!r.finished);
        assert!(!r.ready, "no Ready condition");
        assert_eq!(r.created, 1_767_323_045);
    }

    #[test]
    fn a_pod_is_ready_only_with_its_ready_condition_true() {
        let with = |ready: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "speaker-r"},
                "spec": {"nodeName": "n1", "containers": []},
                "status": {"phase": "Running", "podIP": "192.0.2.11", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": ready}]}
            }))
            .unwrap()
        };
        assert!(record(&with("True")).1.ready);
        assert!(!record(&with("False")).1.ready);
    }

    #[test]
    fn a_pod_with_only_pod_ip_or_nothing_yet() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a"},
            "spec": {"containers": []},
            "status": {"phase": "Failed", "podIP": "192.0.2.12"}
        }))
        .unwrap();
        let (_, r) = record(&pod);
        assert_eq!(r.ips, vec!["192.0.2.12".parse::<IpAddr>().unwrap()]);
        assert!(r.finished);
        assert_eq!(r.node, None);
        let bare: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "b"}})).unwrap();
        assert_eq!(record(&bare).1, PodRecord::default());
    }
}
