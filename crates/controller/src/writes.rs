//! The driver's side of an [`Action`]: Service status + annotation in one
//! `services/status` merge patch, IPAddressPool status through its status
//! subresource, Events as `events.k8s.io/v1` objects.
//!
//! Events are created directly rather than through kube-runtime's
//! `Recorder`: its series cache keeps every Event published in the last
//! minutes and scans all of them on each publish, which at 10k new
//! Services measured as the controller's largest memory and CPU cost. The
//! engine emits an Event only when something changed, so there is nothing
//! to aggregate.

use crate::engine::{Action, POOL_ANNOTATION};
use crate::objects::ServiceEntry;
use crate::status_kinds::{ConfigurationStateCr, ConfigurationStateSpec};
use crate::store::{lock, Shared};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use metallb_api::types::IpAddressPoolCr;
use std::sync::Arc;

/// What a write needs.
pub struct Writer {
    /// The client.
    pub client: Client,
    /// `reportingInstance` of our Events.
    pub instance: String,
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
/// `ConfigState` is not retried either: every full pass says it again,
/// and an API server without the kind (CRDs older than MetalLB 0.15.3) or
/// a Role without it must not turn every pass into a full one.
pub fn retried(a: &Action) -> bool {
    matches!(a, Action::SetStatus { .. } | Action::PoolStatus { .. })
}

/// The controller's `ConfigurationState` (MetalLB names it `controller`).
pub const CONFIG_STATE_NAME: &str = "controller";

/// The condition MetalLB's controller sets on it.
const CONDITION: &str = "poolReconcilerValid";

impl Writer {
    /// Creates one Event on `regarding` (in its namespace).
    async fn publish(
        &self,
        warning: bool,
        reason: &str,
        note: &str,
        action: &str,
        regarding: ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let ns = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or("oxlb-controller"),
                    now.as_nanosecond()
                )),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(action.into()),
            reason: Some(reason.into()),
            note: Some(note.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            reporting_controller: Some("oxlb-controller".into()),
            reporting_instance: Some(self.instance.clone()),
            regarding: Some(regarding),
            ..Event::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &ev)
            .await?;
        Ok(())
    }

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
                let r = reference("Service", &key.namespace, &key.name, uid);
                self.publish(*warning, reason, message, "Allocate", r)
                    .await?;
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
                let r = reference(kind, namespace, name, uid);
                // MetalLB's ConfigurationState reason for a config the
                // controller refuses.
                self.publish(true, "ConfigurationError", message, "Validate", r)
                    .await?;
            }
            Action::ConfigState { valid, summary } => {
                self.config_state(*valid, summary.as_deref()).await?;
            }
        }
        Ok(())
    }

    /// Brings `ConfigurationState/controller` to `valid`/`summary`: read
    /// it (created, labelled as MetalLB's, when missing or deleted), and
    /// patch its status only when the result or the summary differ, so
    /// `lastTransitionTime` is the time of the change and an unchanged
    /// pass writes nothing.
    async fn config_state(&self, valid: bool, summary: Option<&str>) -> Result<(), kube::Error> {
        let api: Api<ConfigurationStateCr> = Api::namespaced(self.client.clone(), &self.namespace);
        let current = match api.get_opt(CONFIG_STATE_NAME).await? {
            Some(o) => o.status,
            None => {
                let obj = ConfigurationStateCr {
                    metadata: ObjectMeta {
                        name: Some(CONFIG_STATE_NAME.into()),
                        namespace: Some(self.namespace.clone()),
                        labels: Some(
                            [(
                                "metallb.io/component-type".to_string(),
                                "controller".to_string(),
                            )]
                            .into(),
                        ),
                        ..ObjectMeta::default()
                    },
                    spec: ConfigurationStateSpec {},
                    status: None,
                };
                match api.create(&PostParams::default(), &obj).await {
                    Ok(_) => None,
                    // Another replica (or a previous term) created it.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        api.get_opt(CONFIG_STATE_NAME).await?.and_then(|o| o.status)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let result = if valid { "Valid" } else { "Invalid" };
        let (status, reason) = if valid {
            ("True", "Reconciled")
        } else {
            ("False", "ConfigurationError")
        };
        let shown = current.as_ref().and_then(|c| {
            c.conditions
                .iter()
                .find(|x| x.type_ == CONDITION)
                .map(|x| (x.status.as_str(), x.last_transition_time.clone()))
        });
        if let Some(c) = &current {
            if c.result.as_deref() == Some(result)
                && c.error_summary.as_deref() == summary
                && shown.as_ref().is_some_and(|(s, _)| *s == status)
                && c.conditions.len() == 1
            {
                return Ok(());
            }
        }
        // The condition's time moves only when its status flips.
        let since = match shown {
            Some((s, t)) if s == status => t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            _ => Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        let patch = serde_json::json!({"status": {
            "result": result,
            "errorSummary": summary,
            "conditions": [{
                "type": CONDITION,
                "status": status,
                "reason": reason,
                "message": summary.unwrap_or(""),
                "lastTransitionTime": since,
            }],
        }});
        api.patch_status(
            CONFIG_STATE_NAME,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        Ok(())
    }
}
