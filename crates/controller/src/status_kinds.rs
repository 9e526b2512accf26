//! MetalLB's status-only kinds (`ServiceL2Status`, `ServiceBGPStatus`,
//! `ConfigurationState`): an empty spec, everything in `status`. The speaker
//! writes the first two, each component one `ConfigurationState`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One interface a ServiceL2Status announces on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InterfaceInfo {
    /// Interface name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// `ServiceL2Status.status`: which node announces a Service in layer 2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceL2StatusFields {
    /// The announcing node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The Service's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// The Service's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_namespace: String,
    /// Interfaces announced on (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceInfo>,
}

/// `ServiceL2Status` (status only).
#[derive(CustomResource, Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceL2Status",
    root = "ServiceL2StatusCr",
    namespaced,
    status = "ServiceL2StatusFields",
    printcolumn = r#"{"name": "Allocated Node", "type": "string", "jsonPath": ".status.node"}"#,
    printcolumn = r#"{"name": "Service Name", "type": "string", "jsonPath": ".status.serviceName"}"#,
    printcolumn = r#"{"name": "Service Namespace", "type": "string", "jsonPath": ".status.serviceNamespace"}"#
)]
pub struct ServiceL2StatusSpec {}

/// `ServiceBGPStatus.status`: the peers one node announces a Service to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBgpStatusFields {
    /// The announcing node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The Service's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// The Service's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_namespace: String,
    /// BGPPeer names the Service is configured to go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// `ServiceBGPStatus` (status only).
#[derive(CustomResource, Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceBGPStatus",
    root = "ServiceBgpStatusCr",
    namespaced,
    status = "ServiceBgpStatusFields",
    printcolumn = r#"{"name": "Node", "type": "string", "jsonPath": ".status.node"}"#,
    printcolumn = r#"{"name": "Service Name", "type": "string", "jsonPath": ".status.serviceName"}"#,
    printcolumn = r#"{"name": "Service Namespace", "type": "string", "jsonPath": ".status.serviceNamespace"}"#
)]
pub struct ServiceBgpStatusSpec {}

/// `ConfigurationState.status`: whether a component's config is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStateFields {
    /// `Valid`, `Invalid` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Valid", "Invalid", "Unknown"]))]
    pub result: Option<String>,
    /// Summary of the errors when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<String>,
    /// `configReconcilerValid`, `poolReconcilerValid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `ConfigurationState` (status only).
#[derive(CustomResource, Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ConfigurationState",
    root = "ConfigurationStateCr",
    namespaced,
    status = "ConfigurationStateFields",
    printcolumn = r#"{"name": "Result", "type": "string", "jsonPath": ".status.result"}"#,
    printcolumn = r#"{"name": "ErrorSummary", "type": "string", "jsonPath": ".status.errorSummary"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
pub struct ConfigurationStateSpec {}
