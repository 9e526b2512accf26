//! `BFDProfile` and `Community` spec types.

use super::strict;
#[cfg(feature = "crd")]
use super::EmptyStatus;
use serde::{Deserialize, Serialize};

#[cfg(feature = "crd")]
use schemars::JsonSchema;

/// `BFDProfile.spec`. Unset fields take MetalLB's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "BFDProfile",
        root = "BfdProfileCr",
        namespaced,
        status = "EmptyStatus",
        printcolumn = r#"{"name": "Passive Mode", "type": "boolean", "jsonPath": ".spec.passiveMode"}"#,
        printcolumn = r#"{"name": "Transmit Interval", "type": "integer", "jsonPath": ".spec.transmitInterval"}"#,
        printcolumn = r#"{"name": "Receive Interval", "type": "integer", "jsonPath": ".spec.receiveInterval"}"#,
        printcolumn = r#"{"name": "Multiplier", "type": "integer", "jsonPath": ".spec.detectMultiplier"}"#,
    )
)]
pub struct BfdProfileSpec {
    /// ms, 10..=60000 (300).
    #[serde(default)]
    pub receive_interval: Option<i64>,
    /// ms, 10..=60000 (300).
    #[serde(default)]
    pub transmit_interval: Option<i64>,
    /// 2..=255 (3).
    #[serde(default)]
    pub detect_multiplier: Option<i64>,
    /// ms, 10..=60000 (50).
    #[serde(default)]
    pub echo_interval: Option<i64>,
    /// Echo mode.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub echo_mode: bool,
    /// Passive mode.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub passive_mode: bool,
    /// 1..=254 (multi-hop only).
    #[serde(default)]
    pub minimum_ttl: Option<i64>,
}

/// `Community.spec.communities[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "crd", derive(JsonSchema))]
pub struct CommunityAlias {
    /// Alias name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub name: String,
    /// `AA:NN` or `large:A:B:C`.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub value: String,
}

/// `Community.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "Community",
        root = "CommunityCr",
        namespaced,
        status = "EmptyStatus",
    )
)]
pub struct CommunitySpec {
    /// Aliases.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub communities: Vec<CommunityAlias>,
}
