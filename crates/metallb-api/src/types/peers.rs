//! `BGPPeer` spec types: the v1beta2 storage form, the v1beta1 form and its
//! conversion, and the password secret reference.

use super::strict;
#[cfg(feature = "crd")]
use super::EmptyStatus;
use allocator::LabelSelector;
use serde::{Deserialize, Serialize};

#[cfg(feature = "crd")]
use schemars::JsonSchema;

/// `BGPPeer.spec.passwordSecret` (a `SecretReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "crd", derive(JsonSchema))]
pub struct SecretReference {
    /// Secret name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub name: String,
    /// Secret namespace (must be the MetalLB namespace if set).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub namespace: String,
}

/// `BGPPeer.spec` in its v1beta2 (storage) form. Durations are Go duration
/// strings; numeric fields are wide so that out-of-range values give a
/// validation error naming the field rather than a type error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta2",
        kind = "BGPPeer",
        root = "BgpPeerCr",
        namespaced,
        status = "EmptyStatus",
        printcolumn = r#"{"name": "Address", "type": "string", "jsonPath": ".spec.peerAddress"}"#,
        printcolumn = r#"{"name": "ASN", "type": "string", "jsonPath": ".spec.peerASN"}"#,
        printcolumn = r#"{"name": "BFD Profile", "type": "string", "jsonPath": ".spec.bfdProfile"}"#,
        printcolumn = r#"{"name": "Multi Hops", "type": "string", "jsonPath": ".spec.ebgpMultiHop"}"#,
    )
)]
// RFC 4271 §4.2: a hold time is zero or at least three seconds, and the
// keepalive interval is at most the hold time (MetalLB's webhook rule).
#[cfg_attr(
    feature = "crd",
    schemars(extend("x-kubernetes-validations" = [{
        "rule": "!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration(self.holdTime)",
        "message": "keepaliveTime must be less than or equal to holdTime",
        "fieldPath": ".keepaliveTime",
        "reason": "FieldValueInvalid"
    }]))
)]
pub struct BgpPeerSpec {
    /// Local ASN (required, non-zero).
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "self >= 1 && self <= 4294967295",
            "message": "myASN must be an AS number in 1..=4294967295",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default, rename = "myASN")]
    pub my_asn: u64,
    /// Peer ASN (XOR `dynamicASN`).
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "self >= 0 && self <= 4294967295",
            "message": "peerASN must be an AS number in 0..=4294967295 (0: use dynamicASN)",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default, rename = "peerASN")]
    pub peer_asn: u64,
    /// `internal` or `external` (XOR `peerASN`).
    #[serde(default, rename = "dynamicASN", deserialize_with = "strict::nullable")]
    pub dynamic_asn: String,
    /// `local-as` override (not supported in standalone mode).
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "self >= 0 && self <= 4294967295",
            "message": "localASN must be an AS number in 0..=4294967295",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default, rename = "localASN")]
    pub local_asn: u64,
    /// Peer IP (XOR `interface`).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub peer_address: String,
    /// Unnumbered BGP interface (XOR `peerAddress`).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub interface: String,
    /// Local address to bind.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub source_address: String,
    /// Default 179, max 16384.
    #[serde(default)]
    pub peer_port: Option<i64>,
    /// Go duration.
    // RFC 4271 §4.2: the hold time is zero or at least three seconds.
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "duration(self) == duration('0s') || duration(self) >= duration('3s')",
            "message": "holdTime must be 0s or at least 3s",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default)]
    pub hold_time: Option<String>,
    /// Go duration.
    #[serde(default)]
    pub keepalive_time: Option<String>,
    /// Go duration, whole seconds 1..=65535.
    #[serde(default)]
    pub connect_time: Option<String>,
    /// IPv4 router ID.
    #[serde(default, rename = "routerID", deserialize_with = "strict::nullable")]
    pub router_id: String,
    /// Nodes that peer (empty = all).
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP-MD5 password (XOR `passwordSecret`).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub password: String,
    /// Secret holding the password.
    #[serde(default)]
    pub password_secret: Option<SecretReference>,
    /// BFDProfile name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub bfd_profile: String,
    /// Graceful restart.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub enable_graceful_restart: bool,
    /// Multi-hop eBGP.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub ebgp_multi_hop: bool,
    /// VRF (not supported in standalone mode).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub vrf: String,
    /// Deprecated, no effect.
    #[serde(default, rename = "disableMP", deserialize_with = "strict::nullable")]
    pub disable_mp: bool,
    /// Carry the other address family on the session too.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub dual_stack_address_family: bool,
}

/// `BGPPeer.spec` in the deprecated v1beta1 form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "BGPPeer",
        root = "BgpPeerV1beta1Cr",
        namespaced,
        status = "EmptyStatus",
        deprecated = "v1beta1 is deprecated, please use v1beta2",
        storage = false,
        printcolumn = r#"{"name": "Address", "type": "string", "jsonPath": ".spec.peerAddress"}"#,
        printcolumn = r#"{"name": "ASN", "type": "string", "jsonPath": ".spec.peerASN"}"#,
        printcolumn = r#"{"name": "BFD Profile", "type": "string", "jsonPath": ".spec.bfdProfile"}"#,
        printcolumn = r#"{"name": "Multi Hops", "type": "string", "jsonPath": ".spec.ebgpMultiHop"}"#,
    )
)]
pub struct BgpPeerSpecV1beta1 {
    /// Local ASN.
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "self >= 1 && self <= 4294967295",
            "message": "myASN must be an AS number in 1..=4294967295",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default, rename = "myASN")]
    pub my_asn: u64,
    /// Peer ASN.
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "self >= 0 && self <= 4294967295",
            "message": "peerASN must be an AS number in 0..=4294967295 (0: use dynamicASN)",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default, rename = "peerASN")]
    pub peer_asn: u64,
    /// Peer IP.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub peer_address: String,
    /// Local address.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub source_address: String,
    /// Peer port.
    #[serde(default)]
    pub peer_port: Option<i64>,
    /// Go duration.
    // RFC 4271 §4.2: the hold time is zero or at least three seconds.
    #[cfg_attr(
        feature = "crd",
        schemars(extend("x-kubernetes-validations" = [{
            "rule": "duration(self) == duration('0s') || duration(self) >= duration('3s')",
            "message": "holdTime must be 0s or at least 3s",
            "reason": "FieldValueInvalid"
        }]))
    )]
    #[serde(default)]
    pub hold_time: Option<String>,
    /// Go duration.
    #[serde(default)]
    pub keepalive_time: Option<String>,
    /// IPv4 router ID.
    #[serde(default, rename = "routerID", deserialize_with = "strict::nullable")]
    pub router_id: String,
    /// Nodes that peer.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP-MD5 password.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub password: String,
    /// BFDProfile name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub bfd_profile: String,
    /// Multi-hop eBGP.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub ebgp_multi_hop: bool,
}

impl From<BgpPeerSpecV1beta1> for BgpPeerSpec {
    fn from(s: BgpPeerSpecV1beta1) -> Self {
        BgpPeerSpec {
            my_asn: s.my_asn,
            peer_asn: s.peer_asn,
            peer_address: s.peer_address,
            source_address: s.source_address,
            peer_port: s.peer_port,
            hold_time: s.hold_time,
            keepalive_time: s.keepalive_time,
            router_id: s.router_id,
            node_selectors: s.node_selectors,
            password: s.password,
            bfd_profile: s.bfd_profile,
            ebgp_multi_hop: s.ebgp_multi_hop,
            ..BgpPeerSpec::default()
        }
    }
}
