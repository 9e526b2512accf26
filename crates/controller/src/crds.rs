//! The `metallb.io` CRDs, generated from the Rust types: metallb-api's spec
//! types (with its `crd` feature) and the status-only kinds here.
//!
//! Versions: every kind is served at v1beta1 only, except BGPPeer, which is
//! served at v1beta1 (deprecated, with MetalLB's warning) and v1beta2, the
//! storage version. Conversion is `None`: the v1beta1 fields are a subset of
//! v1beta2's with the same names and shapes, so the API server only rewrites
//! `apiVersion`. An object exported from MetalLB (`kubectl get -o yaml`
//! prints the storage version, v1beta2) applies unchanged; reading a
//! v1beta2-only field through v1beta1 is not possible (MetalLB converts with
//! a webhook; we need none).

use crate::status_kinds::{ConfigurationStateCr, ServiceBgpStatusCr, ServiceL2StatusCr};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::crd::merge_crds;
use kube::CustomResourceExt;
use metallb_api::types::{
    BfdProfileCr, BgpAdvertisementCr, BgpPeerCr, BgpPeerV1beta1Cr, CommunityCr, IpAddressPoolCr,
    L2AdvertisementCr,
};

/// A CRD that could not be built or printed.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The two BGPPeer versions did not merge.
    #[error("CustomResourceDefinition bgppeers.metallb.io: merging v1beta1 and v1beta2: {0}")]
    Merge(String),
    /// YAML serialisation failed.
    #[error("CustomResourceDefinition {name}: rendering YAML: {source}")]
    Yaml {
        /// The CRD's name.
        name: String,
        /// The serialiser's error.
        source: serde_yaml_ng::Error,
    },
    /// JSON round trip failed.
    #[error("CustomResourceDefinition {name}: {source}")]
    Json {
        /// The CRD's name.
        name: String,
        /// The serialiser's error.
        source: serde_json::Error,
    },
}

/// All nine CRDs, in a stable order.
pub fn all() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    let peers = merge_crds(vec![BgpPeerV1beta1Cr::crd(), BgpPeerCr::crd()], "v1beta2")
        .map_err(|e| CrdError::Merge(e.to_string()))?;
    Ok(vec![
        BfdProfileCr::crd(),
        BgpAdvertisementCr::crd(),
        peers,
        CommunityCr::crd(),
        ConfigurationStateCr::crd(),
        IpAddressPoolCr::crd(),
        L2AdvertisementCr::crd(),
        ServiceBgpStatusCr::crd(),
        ServiceL2StatusCr::crd(),
    ])
}

/// Removes what the derive emits but a CRD should not carry: `default`
/// values (the API server would write `myASN: 0`, `addresses: []` into
/// every stored object, which MetalLB's CRDs do not) and
/// `additionalProperties: false` (not allowed beside `properties` in a
/// structural schema; unknown fields are pruned, and kubectl's strict field
/// validation reports them).
fn tidy(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("default");
            if m.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) {
                m.remove("additionalProperties");
            }
            // `properties` maps field names to schemas: a field named
            // `default` would be a schema, so recurse by value only.
            for (_, child) in m.iter_mut() {
                tidy(child);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The defaults MetalLB's CRDs declare (the API server writes them into
/// stored objects, and printer columns show them): (CRD, spec field, value).
/// The derive's own defaults are all removed by [`tidy`] first.
const METALLB_DEFAULTS: &[(&str, &str, &str)] = &[
    ("bgpadvertisements.metallb.io", "aggregationLength", "32"),
    ("bgpadvertisements.metallb.io", "aggregationLengthV6", "128"),
    ("bgppeers.metallb.io", "disableMP", "false"),
    ("bgppeers.metallb.io", "dualStackAddressFamily", "false"),
    ("bgppeers.metallb.io", "peerPort", "179"),
    ("ipaddresspools.metallb.io", "autoAssign", "true"),
    ("ipaddresspools.metallb.io", "avoidBuggyIPs", "false"),
];

fn add_defaults(name: &str, versions: &mut serde_json::Value) {
    let Some(versions) = versions.as_array_mut() else {
        return;
    };
    for v in versions {
        // A field a version lacks (disableMP in v1beta1) is skipped.
        for (_, field, value) in METALLB_DEFAULTS.iter().filter(|d| d.0 == name) {
            let path = format!("/schema/openAPIV3Schema/properties/spec/properties/{field}");
            if let (Some(serde_json::Value::Object(prop)), Ok(val)) =
                (v.pointer_mut(&path), serde_json::from_str(value))
            {
                prop.insert("default".into(), val);
            }
        }
    }
}

/// All CRDs as one multi-document YAML stream (what `oxlb-controller crds`
/// prints and `deploy/crds.yaml` holds).
pub fn render_yaml() -> Result<String, CrdError> {
    let mut out = String::new();
    for crd in all()? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let mut v = serde_json::to_value(&crd).map_err(|source| CrdError::Json {
            name: name.clone(),
            source,
        })?;
        if let Some(versions) = v.pointer_mut("/spec/versions") {
            tidy(versions);
            add_defaults(&name, versions);
        }
        let text =
            serde_yaml_ng::to_string(&v).map_err(|source| CrdError::Yaml { name, source })?;
        out.push_str("---\n");
        out.push_str(&text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_crds_yaml_is_the_output_of_the_crds_command() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crds.yaml");
        let on_disk = std::fs::read_to_string(path).expect("deploy/crds.yaml is readable");
        let generated = render_yaml().expect("CRDs render");
        assert!(
            on_disk == generated,
            "deploy/crds.yaml is stale: run `cargo run -p controller --bin oxlb-controller -- crds > deploy/crds.yaml`"
        );
    }

    #[test]
    fn bgppeer_serves_v1beta1_deprecated_and_stores_v1beta2() {
        let crds = all().unwrap();
        let peers = crds
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some("bgppeers.metallb.io"))
            .unwrap();
        let v: Vec<_> = peers
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage, v.deprecated))
            .collect();
        assert_eq!(
            v,
            [
                ("v1beta2", true, true, None),
                ("v1beta1", true, false, Some(true))
            ]
        );
        assert!(peers.spec.conversion.is_none());
    }

    #[test]
    fn every_kind_is_namespaced_in_the_metallb_group() {
        let crds = all().unwrap();
        assert_eq!(crds.len(), 9);
        for c in &crds {
            assert_eq!(c.spec.group, "metallb.io");
            assert_eq!(c.spec.scope, "Namespaced");
        }
    }

    #[test]
    fn no_kind_has_a_short_name_as_in_metallbs_crds() {
        // MetalLB's config/crd/bases name each kind by kind, listKind
        // (the API server's default), plural and singular only: a short
        // name of ours would be a name `kubectl get` accepts here and not
        // with MetalLB.
        for c in &all().unwrap() {
            let n = &c.spec.names;
            assert_eq!(n.short_names, None, "{}", n.kind);
            assert_eq!(n.singular.as_deref(), Some(n.kind.to_lowercase().as_str()));
        }
    }

    #[test]
    fn rendered_schemas_carry_exactly_metallbs_defaults() {
        let text = render_yaml().unwrap();
        // BGPAdvertisement 2, IPAddressPool 2, BGPPeer v1beta2 3 (disableMP,
        // dualStackAddressFamily, peerPort) + v1beta1 1 (peerPort).
        let want = 2 + 2 + 3 + 1;
        assert_eq!(text.matches("default:").count(), want, "{text}");
        assert!(text.contains("isCIDR"), "pool address rule present");
    }
}
