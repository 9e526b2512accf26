//! `oxlb-controller run`: reflectors on Services, IPAddressPools and
//! Namespaces (compact records: managedFields and the last-applied
//! annotation stripped before the store), one [`Engine`] pass per batch of
//! changes, then the Service status writes and Events the pass asks for.
//!
//! Nothing is allocated before all three stores have their first full list:
//! the first pass restores every existing `status.loadBalancer.ingress`.

use crate::engine::{Action, Engine, POOL_ANNOTATION};
use crate::objects::{compact, objects};
use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Service};
use kube::api::{Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use metallb_api::types::IpAddressPoolCr;
use metallb_api::Options;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A kubeconfig file; `None`: in-cluster, then `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// The MetalLB namespace (where IPAddressPools are read).
    pub namespace: String,
    /// `--lb-class`.
    pub lb_class: Option<String>,
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
    /// A watch ended for good.
    #[error("watch of {0} ended")]
    WatchEnded(&'static str),
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

/// Runs a reflector for `api`, sending `()` on every change.
fn reflect<K>(api: Api<K>, tx: mpsc::Sender<()>) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let s = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o: &mut K| compact(o.meta_mut()))
        .reflect(writer);
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(s);
        while let Some(ev) = s.next().await {
            match ev {
                Ok(_) => {
                    // A full channel already holds a wake-up.
                    let _ = tx.try_send(());
                }
                Err(e) => tracing::warn!(error = %e, "watch error (retrying with backoff)"),
            }
        }
    });
    (store, task)
}

fn reference(svc: Option<&Service>, key: &allocator::ServiceKey) -> ObjectReference {
    match svc {
        Some(s) => s.object_ref(&()),
        None => ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            namespace: Some(key.namespace.clone()),
            name: Some(key.name.clone()),
            ..ObjectReference::default()
        },
    }
}

async fn apply(
    svcs: &Store<Service>,
    client: &Client,
    recorder: &Recorder,
    action: Action,
) -> Result<(), kube::Error> {
    match action {
        Action::SetStatus { key, ips, pool } => {
            let api: Api<Service> = Api::namespaced(client.clone(), &key.namespace);
            let ingress: Vec<_> = ips
                .iter()
                .map(|ip| serde_json::json!({"ip": ip.to_string()}))
                .collect();
            // One write, as MetalLB's UpdateStatus: the annotation rides
            // along with the status subresource.
            let patch = serde_json::json!({
                "metadata": {"annotations": {POOL_ANNOTATION: pool}},
                "status": {"loadBalancer": {"ingress": ingress}},
            });
            api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Action::Event {
            key,
            warning,
            reason,
            message,
        } => {
            let obj = svcs.get(&reflector::ObjectRef::new(&key.name).within(&key.namespace));
            let ev = Event {
                type_: if warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: reason.into(),
                note: Some(message),
                action: "Allocate".into(),
                secondary: None,
            };
            recorder
                .publish(&ev, &reference(obj.as_deref(), &key))
                .await?;
        }
    }
    Ok(())
}

/// Runs until a watch ends for good.
pub async fn run(s: Settings) -> Result<(), RunError> {
    let client = client(&s).await?;
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let (svcs, t1) = reflect(Api::<Service>::all(client.clone()), tx.clone());
    let (pools, t2) = reflect(
        Api::<IpAddressPoolCr>::namespaced(client.clone(), &s.namespace),
        tx.clone(),
    );
    let (nss, t3) = reflect(Api::<Namespace>::all(client.clone()), tx);
    let ended = async {
        let mut tasks =
            stream::iter([("Services", t1), ("IPAddressPools", t2), ("Namespaces", t3)])
                .map(|(n, t)| async move {
                    let _ = t.await;
                    n
                })
                .buffer_unordered(3);
        tasks.next().await.unwrap_or("watchers")
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "oxlb-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let opts = Options {
        namespace: s.namespace.clone(),
        load_balancer_class: s.lb_class.clone(),
    };
    let work = async {
        for (name, ready) in [
            ("Services", svcs.wait_until_ready().await),
            ("IPAddressPools", pools.wait_until_ready().await),
            ("Namespaces", nss.wait_until_ready().await),
        ] {
            if ready.is_err() {
                return name;
            }
        }
        tracing::info!("stores ready, restoring allocations from Service status");
        let mut engine = Engine::default();
        loop {
            // Batch what arrives within 20 ms into one pass.
            tokio::time::sleep(Duration::from_millis(20)).await;
            while rx.try_recv().is_ok() {}
            let objs = objects(&pools.state(), &nss.state(), &svcs.state());
            match metallb_api::validate(&objs, &opts) {
                Ok(v) => {
                    for action in engine.pass(&v.config) {
                        if let Err(e) = apply(&svcs, &client, &recorder, action.clone()).await {
                            tracing::warn!(error = %e, ?action, "write failed");
                        }
                    }
                    if let Some(note) = &engine.pools_note {
                        tracing::warn!("{note}");
                    }
                }
                Err(diags) => {
                    // The last good configuration keeps running.
                    tracing::warn!("configuration rejected, keeping the last good one: {diags}");
                }
            }
            // Level-triggered: a pass also runs every 30 s without a
            // change, so a failed status write is retried.
            if let Ok(None) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                return "change channel";
            }
        }
    };
    let name = tokio::select! {
        n = ended => n,
        n = work => n,
    };
    Err(RunError::WatchEnded(name))
}
