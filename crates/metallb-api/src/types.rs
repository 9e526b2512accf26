//! The `metallb.io` CRD spec types, field for field (camelCase as in the
//! CRDs). Every spec type denies unknown fields so a misspelt field is an
//! error rather than silently ignored. Label selectors are
//! [`allocator::LabelSelector`]s, read through a strict mirror so that a
//! typo inside a selector (`matchLabel:`) is also caught.
//!
//! With the `crd` feature the spec types also derive kube's
//! `CustomResource` and schemars' `JsonSchema`: the CRDs `oxlb-controller
//! crds` prints are generated from these types (kinds, versions, printer
//! columns and the CEL rules the API server checks at apply time). Label
//! selectors take the schema of `metav1.LabelSelector`.
//!
//! This file holds the status types, the strict selector mirror, pools and
//! advertisements; `peers` holds `BGPPeer`, `profiles` `BFDProfile` and
//! `Community` (all re-exported here).

mod peers;
mod profiles;

pub use peers::*;
pub use profiles::*;

use allocator::{LabelSelector, LabelSelectorRequirement, Operator, PoolSpec, ServiceAllocation};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "crd")]
use schemars::JsonSchema;

/// `IPAddressPool.status`, written by the controller (MetalLB v0.15+).
#[cfg(feature = "crd")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressPoolStatus {
    /// IPv4 addresses in use.
    #[serde(rename = "assignedIPv4")]
    pub assigned_ipv4: i64,
    /// IPv6 addresses in use.
    #[serde(rename = "assignedIPv6")]
    pub assigned_ipv6: i64,
    /// IPv4 addresses free.
    #[serde(rename = "availableIPv4")]
    pub available_ipv4: i64,
    /// IPv6 addresses free (saturated at i64::MAX).
    #[serde(rename = "availableIPv6")]
    pub available_ipv6: i64,
}

/// The status of the `metallb.io` kinds whose status MetalLB leaves empty.
#[cfg(feature = "crd")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EmptyStatus {}

/// Strict mirror of `metav1.LabelSelector`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictSelector {
    #[serde(default)]
    match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    match_expressions: Option<Vec<StrictRequirement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictRequirement {
    key: String,
    operator: Operator,
    #[serde(default)]
    values: Option<Vec<String>>,
}

impl From<StrictSelector> for LabelSelector {
    fn from(s: StrictSelector) -> Self {
        LabelSelector {
            match_labels: s.match_labels.unwrap_or_default(),
            match_expressions: s
                .match_expressions
                .unwrap_or_default()
                .into_iter()
                .map(|r| LabelSelectorRequirement {
                    key: r.key,
                    operator: r.operator,
                    values: r.values.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

pub(crate) mod strict {
    use super::*;

    pub(crate) fn selector<'de, D: Deserializer<'de>>(d: D) -> Result<LabelSelector, D::Error> {
        Ok(Option::<StrictSelector>::deserialize(d)?
            .map(Into::into)
            .unwrap_or_default())
    }

    pub(crate) fn selectors<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<LabelSelector>, D::Error> {
        Ok(Option::<Vec<StrictSelector>>::deserialize(d)?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// `null` reads as the default (Kubernetes treats `field: null` as unset).
    pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}

/// `IPAddressPool.spec` (strict mirror of [`allocator::PoolSpec`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "IPAddressPool",
        root = "IpAddressPoolCr",
        namespaced,
        status = "IpAddressPoolStatus",
        printcolumn = r#"{"name": "Auto Assign", "type": "boolean", "jsonPath": ".spec.autoAssign"}"#,
        printcolumn = r#"{"name": "Avoid Buggy IPs", "type": "boolean", "jsonPath": ".spec.avoidBuggyIPs"}"#,
        printcolumn = r#"{"name": "Addresses", "type": "string", "jsonPath": ".spec.addresses"}"#,
    )
)]
pub struct IpAddressPoolSpec {
    /// CIDRs or `a-b` ranges.
    // MetalLB's address syntax: a CIDR (host bits allowed, masked later) or
    // `first-last`; a bare IP is not an address range. (The family and
    // order of a range's ends are checked by metallb-api's validation: the
    // rule must stay within the API server's CEL cost budget at 256 items.)
    #[cfg_attr(
        feature = "crd",
        schemars(
            length(max = 256),
            inner(length(max = 100)),
            extend("x-kubernetes-validations" = [{
                "rule": "self.all(a, isCIDR(a.trim()) || (a.split('-').size() == 2 && a.split('-').all(p, isIP(p.trim()))))",
                "message": "each address must be a CIDR (192.0.2.0/24) or a range (192.0.2.10-192.0.2.20)",
                "reason": "FieldValueInvalid"
            }])
        )
    )]
    #[serde(default, deserialize_with = "strict::nullable")]
    pub addresses: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub auto_assign: Option<bool>,
    /// Never hand out x.x.x.0 / x.x.x.255.
    #[serde(
        default,
        rename = "avoidBuggyIPs",
        deserialize_with = "strict::nullable"
    )]
    pub avoid_buggy_ips: bool,
    /// Restricts and orders the pool for matching services.
    #[serde(default)]
    pub service_allocation: Option<ServiceAllocationSpec>,
}

/// `IPAddressPool.spec.serviceAllocation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(feature = "crd", derive(JsonSchema))]
pub struct ServiceAllocationSpec {
    /// Lower is preferred; 0 = last.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub priority: i32,
    /// Allowed namespaces.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub namespaces: Vec<String>,
    /// Allowed namespaces by label.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Allowed services by label.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub service_selectors: Vec<LabelSelector>,
}

impl From<&IpAddressPoolSpec> for PoolSpec {
    fn from(s: &IpAddressPoolSpec) -> Self {
        PoolSpec {
            addresses: s.addresses.clone(),
            auto_assign: s.auto_assign.unwrap_or(true),
            avoid_buggy_ips: s.avoid_buggy_ips,
            service_allocation: s.service_allocation.as_ref().map(|a| ServiceAllocation {
                priority: a.priority,
                namespaces: a.namespaces.clone(),
                namespace_selectors: a.namespace_selectors.clone(),
                service_selectors: a.service_selectors.clone(),
            }),
        }
    }
}

/// `L2Advertisement.spec.preferredNodeSelectors[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "crd", derive(JsonSchema))]
pub struct PreferredNodeSelector {
    /// 1..=100.
    pub weight: i32,
    /// The nodes preferred.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selector")]
    pub preference: LabelSelector,
}

/// `L2Advertisement.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "L2Advertisement",
        root = "L2AdvertisementCr",
        namespaced,
        status = "EmptyStatus",
        printcolumn = r#"{"name": "IPAddressPools", "type": "string", "jsonPath": ".spec.ipAddressPools"}"#,
        printcolumn = r#"{"name": "IPAddressPool Selectors", "type": "string", "jsonPath": ".spec.ipAddressPoolSelectors"}"#,
        printcolumn = r#"{"name": "Interfaces", "type": "string", "jsonPath": ".spec.interfaces"}"#,
        printcolumn = r#"{"name": "Node Selectors", "type": "string", "jsonPath": ".spec.nodeSelectors", "priority": 10}"#,
    )
)]
pub struct L2AdvertisementSpec {
    /// Pools by name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub ip_address_pools: Vec<String>,
    /// Pools by label.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes allowed to announce (empty = all).
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces to announce on (empty = all).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub interfaces: Vec<String>,
    /// Services the ad applies to (empty = all).
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub service_selectors: Vec<LabelSelector>,
    /// Soft node preference.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

/// `BGPAdvertisement.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(
    feature = "crd",
    derive(kube::CustomResource, JsonSchema),
    kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "BGPAdvertisement",
        root = "BgpAdvertisementCr",
        namespaced,
        status = "EmptyStatus",
        printcolumn = r#"{"name": "IPAddressPools", "type": "string", "jsonPath": ".spec.ipAddressPools"}"#,
        printcolumn = r#"{"name": "IPAddressPool Selectors", "type": "string", "jsonPath": ".spec.ipAddressPoolSelectors"}"#,
        printcolumn = r#"{"name": "Peers", "type": "string", "jsonPath": ".spec.peers"}"#,
        printcolumn = r#"{"name": "Node Selectors", "type": "string", "jsonPath": ".spec.nodeSelectors", "priority": 10}"#,
    )
)]
pub struct BgpAdvertisementSpec {
    /// IPv4 aggregation length (default 32).
    #[serde(default)]
    pub aggregation_length: Option<i64>,
    /// IPv6 aggregation length (default 128).
    #[serde(default, rename = "aggregationLengthV6")]
    pub aggregation_length_v6: Option<i64>,
    /// LOCAL_PREF (0 = unset, as in MetalLB).
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// `AA:NN`, `large:A:B:C` or a Community alias.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub communities: Vec<String>,
    /// Pools by name.
    #[serde(default, deserialize_with = "strict::nullable")]
    pub ip_address_pools: Vec<String>,
    /// Pools by label.
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that announce (empty = all).
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// BGPPeer names (empty = all).
    #[serde(default, deserialize_with = "strict::nullable")]
    pub peers: Vec<String>,
    /// Services the ad applies to (empty = all).
    #[cfg_attr(
        feature = "crd",
        schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>")
    )]
    #[serde(default, deserialize_with = "strict::selectors")]
    pub service_selectors: Vec<LabelSelector>,
}
