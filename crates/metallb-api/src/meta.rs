//! What a process reading objects from the API server drops before an
//! object enters its store (shared by oxlb-controller and
//! `oxlb-speaker kubernetes`, so both keep the same compact records).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation `kubectl apply` writes: a full copy of the object.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what neither the controller nor the speaker reads: `managedFields`
/// and the last-applied annotation are most of a small object's size.
pub fn compact(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use std::collections::BTreeMap;

    #[test]
    fn compact_drops_managed_fields_and_last_applied_but_keeps_other_annotations() {
        let mut m = ObjectMeta {
            managed_fields: Some(vec![ManagedFieldsEntry::default()]),
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED_ANNOTATION.to_string(), "{}".to_string()),
                ("metallb.io/address-pool".to_string(), "a".to_string()),
            ])),
            ..ObjectMeta::default()
        };
        compact(&mut m);
        assert_eq!(m.managed_fields, None);
        let a = m.annotations.unwrap_or_default();
        assert_eq!(a.len(), 1);
        assert_eq!(
            a.get("metallb.io/address-pool").map(String::as_str),
            Some("a")
        );
    }
}
