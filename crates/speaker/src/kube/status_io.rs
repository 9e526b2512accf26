//! The driver of [`super::status::StatusCore`]: one task that lists this
//! node's status objects, carries out the core's writes and publishes the
//! `nodeAssigned` Events. It is fed through a `watch` channel (the latest
//! [`Announcing`] wins), so the apply path never waits for the API server:
//! a slow or unreachable API server only delays the status objects.
//!
//! A failed write (or list) makes the core forget what it owns; the next
//! pass re-lists first (a create whose answer was lost is found then, not
//! created twice), after a backoff of 0.5 s doubling to 30 s. Changes
//! arriving within [`COALESCE`] of each other are written as one pass, so
//! a flapping election costs at most a few writes a second.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams,
};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use crate::desired::ServiceReport;
use crate::run::Shared;

use super::status::{
    announcing_of, Action, Announcing, Owned, Protocol, ServiceKey, StatusCore, NODE_LABEL,
    SERVICE_NAMESPACE_LABEL, SERVICE_NAME_LABEL,
};

/// Changes closer together than this are written in one pass.
const COALESCE: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the writes need.
pub struct StatusWriter {
    pub client: Client,
    /// The speaker's namespace: where the status objects live.
    pub namespace: String,
    pub node: String,
    /// The speaker Pod, owner of the objects (`--pod-name` + `--pod-uid`);
    /// `None`: no ownerReference (the objects outlive the Pod until the
    /// next speaker on this node deletes them).
    pub owner: Option<OwnerReference>,
    /// The Services' uids, for the Events' `regarding`.
    pub services: Store<Service>,
}

fn resource(p: Protocol) -> ApiResource {
    ApiResource {
        group: "metallb.io".into(),
        version: "v1beta1".into(),
        api_version: "metallb.io/v1beta1".into(),
        kind: p.kind().into(),
        plural: p.plural().into(),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl StatusWriter {
    fn api(&self, p: Protocol) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource(p))
    }

    /// Every ServiceL2Status and ServiceBGPStatus labelled with this node.
    async fn list(&self) -> Result<Vec<Owned>, String> {
        let lp = ListParams::default().labels(&format!("{NODE_LABEL}={}", self.node));
        let mut out = Vec::new();
        for p in [Protocol::Layer2, Protocol::Bgp] {
            let list = self.api(p).list(&lp).await.map_err(|e| {
                format!(
                    "list {} in {} (label {NODE_LABEL}={}): {e}",
                    p.plural(),
                    self.namespace,
                    self.node
                )
            })?;
            out.extend(list.items.iter().filter_map(|o| owned_of(p, o)));
        }
        Ok(out)
    }

    fn status_body(
        &self,
        p: Protocol,
        service: &ServiceKey,
        items: &[String],
    ) -> serde_json::Value {
        let list: Vec<serde_json::Value> = match p {
            Protocol::Layer2 => items.iter().map(|i| json!({ "name": i })).collect(),
            Protocol::Bgp => items.iter().map(|i| json!(i)).collect(),
        };
        json!({ "status": {
            "node": self.node,
            "serviceName": service.name,
            "serviceNamespace": service.namespace,
            (p.list_field()): list,
        }})
    }

    /// Creates the object, then writes its status (the status subresource
    /// ignores a status given on create). Reports both steps to `core`.
    async fn create(
        &self,
        core: &mut StatusCore,
        p: Protocol,
        service: &ServiceKey,
        items: &[String],
    ) -> Result<(), String> {
        let what = || format!("{} for Service {service}", p.kind());
        let obj = DynamicObject {
            types: Some(kube::api::TypeMeta {
                api_version: "metallb.io/v1beta1".into(),
                kind: p.kind().into(),
            }),
            metadata: ObjectMeta {
                generate_name: Some(p.generate_name().into()),
                namespace: Some(self.namespace.clone()),
                labels: Some(
                    [
                        (NODE_LABEL.to_string(), self.node.clone()),
                        (SERVICE_NAME_LABEL.to_string(), service.name.clone()),
                        (
                            SERVICE_NAMESPACE_LABEL.to_string(),
                            service.namespace.clone(),
                        ),
                    ]
                    .into(),
                ),
                owner_references: self.owner.clone().map(|o| vec![o]),
                ..ObjectMeta::default()
            },
            data: json!({ "spec": {} }),
        };
        let made = self
            .api(p)
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| format!("create {}: {e}", what()))?;
        let Some(name) = made.metadata.name else {
            return Err(format!(
                "create {}: the answer has no metadata.name",
                what()
            ));
        };
        core.created(Owned {
            protocol: p,
            name: name.clone(),
            service: service.clone(),
            items: Vec::new(),
        });
        self.patch(core, p, &name, service, items).await
    }

    async fn patch(
        &self,
        core: &mut StatusCore,
        p: Protocol,
        name: &str,
        service: &ServiceKey,
        items: &[String],
    ) -> Result<(), String> {
        let body = self.status_body(p, service, items);
        self.api(p)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| {
                format!(
                    "patch {} {}/{name} status.{}: {e}",
                    p.kind(),
                    self.namespace,
                    p.list_field()
                )
            })?;
        core.patched(p, name, items.to_vec());
        Ok(())
    }

    async fn delete(&self, core: &mut StatusCore, p: Protocol, name: &str) -> Result<(), String> {
        match self.api(p).delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(format!(
                    "delete {} {}/{name}: {e}",
                    p.kind(),
                    self.namespace
                ))
            }
        }
        core.deleted(p, name);
        Ok(())
    }

    /// `nodeAssigned` on the Service, as an `events.k8s.io/v1` Event. Not
    /// retried: an Event is a notice, not state.
    async fn event(&self, p: Protocol, service: &ServiceKey) {
        let uid = self
            .services
            .get(&ObjectRef::new(&service.name).within(&service.namespace))
            .and_then(|s| s.metadata.uid.clone());
        let now = Timestamp::now();
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", service.name, now.as_nanosecond())),
                namespace: Some(service.namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some("Announce".into()),
            reason: Some("nodeAssigned".into()),
            note: Some(format!(
                "announcing from node \"{}\" with protocol \"{}\"",
                self.node,
                p.word()
            )),
            type_: Some("Normal".into()),
            reporting_controller: Some("oxlb-speaker".into()),
            reporting_instance: Some(format!("oxlb-speaker-{}", self.node)),
            regarding: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Service".into()),
                namespace: Some(service.namespace.clone()),
                name: Some(service.name.clone()),
                uid,
                ..ObjectReference::default()
            }),
            ..Event::default()
        };
        if let Err(e) = Api::<Event>::namespaced(self.client.clone(), &service.namespace)
            .create(&PostParams::default(), &ev)
            .await
        {
            tracing::warn!(service = %service, error = %e, "Event nodeAssigned on Service not published");
        }
    }

    /// One write of the plan.
    async fn write(&self, core: &mut StatusCore, a: &Action) -> Result<(), String> {
        match a {
            Action::Create {
                protocol,
                service,
                items,
            } => self.create(core, *protocol, service, items).await,
            Action::Patch {
                protocol,
                name,
                service,
                items,
            } => self.patch(core, *protocol, name, service, items).await,
            Action::Delete { protocol, name } => self.delete(core, *protocol, name).await,
            Action::Event { protocol, service } => {
                self.event(*protocol, service).await;
                Ok(())
            }
        }
    }
}

/// A listed object as the core sees it: the Service from the labels (the
/// status fields when a label is missing); an object naming no Service is
/// kept with an empty key, which nothing announces, so it is deleted.
fn owned_of(p: Protocol, o: &DynamicObject) -> Option<Owned> {
    let name = o.metadata.name.clone()?;
    let labels = o.metadata.labels.as_ref();
    let status = o.data.get("status");
    let field = |label: &str, status_field: &str| {
        labels
            .and_then(|l| l.get(label).cloned())
            .or_else(|| {
                status
                    .and_then(|s| s.get(status_field))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let service = ServiceKey {
        namespace: field(SERVICE_NAMESPACE_LABEL, "serviceNamespace"),
        name: field(SERVICE_NAME_LABEL, "serviceName"),
    };
    let items = status
        .and_then(|s| s.get(p.list_field()))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| match p {
                    Protocol::Layer2 => v.get("name").and_then(|n| n.as_str()),
                    Protocol::Bgp => v.as_str(),
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(Owned {
        protocol: p,
        name,
        service,
        items,
    })
}

/// Runs the writer until `rx`'s sender is dropped; `None` on `rx`: no
/// apply yet, nothing is known to be announced (the writer only lists).
pub fn spawn(
    w: StatusWriter,
    mut rx: watch::Receiver<Option<Arc<Announcing>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut core = StatusCore::new();
        let mut backoff = BACKOFF_MIN;
        loop {
            let now = rx.borrow_and_update().as_deref().cloned();
            let mut todo = match now {
                Some(now) => core.set_announcing(now),
                None => Vec::new(),
            };
            let mut failed = None;
            if !core.listed() {
                match w.list().await {
                    Ok(objects) => todo.extend(core.set_owned(objects)),
                    Err(e) => failed = Some(e),
                }
            }
            if failed.is_none() {
                todo.extend(core.plan());
            }
            for a in &todo {
                if failed.is_some() && !matches!(a, Action::Event { .. }) {
                    continue;
                }
                if let Err(e) = w.write(&mut core, a).await {
                    failed = Some(e);
                }
            }
            match failed {
                None => {
                    backoff = BACKOFF_MIN;
                    if rx.changed().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(COALESCE).await;
                }
                Some(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "status object write failed; re-listing and retrying");
                    core.forget_owned();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    })
}

/// The run loop's side: computes what this node announces and hands it
/// to the writer task (never waiting for it).
pub struct StatusFeed {
    node: String,
    shared: Arc<Shared>,
    tx: watch::Sender<Option<Arc<Announcing>>>,
    /// The inputs of the last computation: the Service reports (by
    /// pointer: each apply makes a new `Arc`) and the L2 view's winners.
    last: Option<(Arc<Vec<ServiceReport>>, L2Key)>,
    _task: tokio::task::JoinHandle<()>,
}

/// What of the L2 view the status objects depend on: fenced, and per VIP
/// the winner and the interfaces answered on (not the counters).
type L2Key = Option<(bool, Vec<(std::net::IpAddr, Option<String>, Vec<String>)>)>;

impl StatusFeed {
    /// Starts the writer task for `args`' node and namespace.
    pub fn start(
        client: Client,
        args: &super::KubernetesArgs,
        services: Store<Service>,
        shared: Arc<Shared>,
    ) -> Self {
        let (tx, rx) = watch::channel(None);
        let writer = StatusWriter {
            client,
            namespace: args.namespace.clone(),
            node: args.node_name.clone(),
            owner: owner_of(args.pod_name.as_deref(), args.pod_uid.as_deref()),
            services,
        };
        StatusFeed {
            node: args.node_name.clone(),
            shared,
            tx,
            last: None,
            _task: spawn(writer, rx),
        }
    }

    /// After each apply and each second (L2 elections move without an
    /// apply): recomputes only when the Service reports or the L2 winners
    /// changed, sends only a changed set.
    pub fn publish(&mut self) {
        let services = self.shared.view().services.clone();
        let l2 = self.shared.l2.status();
        let key: L2Key = l2.as_ref().map(|s| {
            let vips = s
                .vips
                .iter()
                .map(|v| (v.ip, v.winner.clone(), v.announcing_on.clone()))
                .collect();
            (s.fenced.is_some(), vips)
        });
        if let Some((s, k)) = &self.last {
            if Arc::ptr_eq(s, &services) && *k == key {
                return;
            }
        }
        let now = announcing_of(&self.node, &services, l2.as_ref());
        self.last = Some((services, key));
        self.tx.send_if_modified(|old| {
            let changed = old.as_deref() != Some(&now);
            if changed {
                *old = Some(Arc::new(now));
            }
            changed
        });
    }
}

/// The speaker Pod as the owner of the status objects, when both its name
/// and uid are known.
fn owner_of(name: Option<&str>, uid: Option<&str>) -> Option<OwnerReference> {
    let (Some(name), Some(uid)) = (name, uid) else {
        return None;
    };
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: name.into(),
        uid: uid.into(),
        ..OwnerReference::default()
    })
}
