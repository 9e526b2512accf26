//! The driver's side of an [`Action`]: Service status + annotation in one
//! `services/status` merge patch, IPAddressPool status through its status
//! subresource, Events through `kube::runtime::events`.

use crate::engine::{Action, POOL_ANNOTATION};
use crate::objects::ServiceEntry;
use crate::store::{lock, Shared};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client};
use metallb_api::types::IpAddressPoolCr;
use std::sync::Arc;

/// What a write needs.
pub struct Writer {
    /// The client.
    pub client: Client,
    /// Events.
    pub recorder: Recorder,
    /// The MetalLB namespace (pools).
    pub namespace: String,
    /// For the Services' uids.
    pub services: Shared<ServiceEntry>,
    /// For the pools' uids.
    pub pools: Shared<Arc<IpAddressPoolCr>>,
}

fn reference(kind: &str, namespace: &str, name: &str, uid: Option<String>) -> ObjectReference {
    let api_version = match kind {
        "Service" | "Namespace" => "v1",
        "BGPPeer" => "metallb.io/v1beta2",
        _ => "metallb.io/v1beta1",
    };
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
        name: Some(name.into()),
        uid,
        ..ObjectReference::default()
    }
}

/// Whether a failed write is worth retrying soon (status writes are; an
/// Event that could not be published is not re-sent).
pub fn retried(a: &Action) -> bool {
    matches!(a, Action::SetStatus { .. } | Action::PoolStatus { .. })
}

impl Writer {
    /// Performs one action.
    pub async fn apply(&self, action: &Action) -> Result<(), kube::Error> {
        match action {
            Action::SetStatus { key, ips, pool } => {
                let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
                let ingress: Vec<_> = ips
                    .iter()
                    .map(|ip| serde_json::json!({"ip": ip.to_string()}))
                    .collect();
                // One write, as MetalLB's UpdateStatus: the annotation
                // rides along with the status subresource.
                let patch = serde_json::json!({
                    "metadata": {"annotations": {POOL_ANNOTATION: pool}},
                    "status": {"loadBalancer": {"ingress": ingress}},
                });
                api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            Action::PoolStatus { pool, status } => {
                let api: Api<IpAddressPoolCr> =
                    Api::namespaced(self.client.clone(), &self.namespace);
                let patch = serde_json::json!({ "status": status });
                api.patch_status(pool, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            Action::Event {
                key,
                warning,
                reason,
                message,
            } => {
                let uid = lock(&self.services)
                    .get(&(key.namespace.clone(), key.name.clone()))
                    .and_then(|e| e.uid.clone());
                let ev = Event {
                    type_: if *warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: (*reason).into(),
                    note: Some(message.clone()),
                    action: "Allocate".into(),
                    secondary: None,
                };
                let r = reference("Service", &key.namespace, &key.name, uid);
                self.recorder.publish(&ev, &r).await?;
            }
            Action::ConfigEvent {
                kind,
                namespace,
                name,
                message,
            } => {
                let uid = if kind == "IPAddressPool" {
                    lock(&self.pools)
                        .get(&(namespace.clone(), name.clone()))
                        .and_then(|p| p.metadata.uid.clone())
                } else {
                    None
                };
                let ev = Event {
                    type_: EventType::Warning,
                    // MetalLB's ConfigurationState reason for a config the
                    // controller refuses.
                    reason: "ConfigurationError".into(),
                    note: Some(message.clone()),
                    action: "Validate".into(),
                    secondary: None,
                };
                let r = reference(kind, namespace, name, uid);
                self.recorder.publish(&ev, &r).await?;
            }
        }
        Ok(())
    }
}
