//! The fast parse against the full one (YAML `Value`, then the Kubernetes
//! `Service`, then the projection): wherever the fast parse gives a result
//! it must be the full parse's, and it must decline what the full parse
//! rejects.

use super::*;
use crate::service::ServiceRecord;
use k8s_openapi::api::core::v1::Service;
use serde_yaml_ng::Value;

/// Identity, labels and record as the full parse gives them, or None if
/// the full parse rejects the document (or it is not a v1 Service).
fn full(text: &str) -> Option<(String, String, Labels, ServiceRecord)> {
    let v: Value = serde_yaml_ng::from_str(text).ok()?;
    if v.get("apiVersion")?.as_str()? != "v1" || v.get("kind")?.as_str()? != "Service" {
        return None;
    }
    let mut svc: Service = serde_yaml_ng::from_value(v).ok()?;
    let name = svc.metadata.name.clone().filter(|n| !n.is_empty())?;
    let ns = svc
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let labels = svc.metadata.labels.take().unwrap_or_default();
    Some((name, ns, labels, ServiceRecord::from_service(svc)))
}

fn fast(body: &str) -> Option<(String, String, Labels, ServiceRecord)> {
    let f = parse_item(body, || Some(body.to_string()))?;
    Some((
        f.name,
        f.namespace,
        f.labels,
        ServiceRecord::from_fields(f.fields),
    ))
}

/// The flow reader alone (no fallback to the YAML parser).
fn flow_only(body: &str) -> Option<(String, String, Labels, ServiceRecord)> {
    let f = from_top(crate::flow::from_str(body).ok()?)?;
    Some((
        f.name,
        f.namespace,
        f.labels,
        ServiceRecord::from_fields(f.fields),
    ))
}

const FLOW: &str =
    "{apiVersion: v1, kind: Service, metadata: {name: svc-000001, namespace: bench, \
    labels: {app: web}, annotations: {metallb.io/address-pool: 'v4-a', other: \"x\"}}, \
    spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}, {port: 53, protocol: UDP, \
    targetPort: dns, name: d}], selector: {app: web}, ipFamilies: [IPv4, IPv6], \
    ipFamilyPolicy: PreferDualStack, loadBalancerClass: c, externalTrafficPolicy: Local}}\n";

const BLOCK: &str = "apiVersion: v1
kind: Service
metadata:
  name: svc-000002
  namespace: team-a
  labels:
    app: db
  annotations:
    metallb.io/loadBalancerIPs: \"198.19.64.7\"
    metallb.io/allow-shared-ip: \"k-198.19.64.7\"
spec:
  type: LoadBalancer
  ports: [{port: 1026, protocol: TCP}]
  loadBalancerIP: 198.19.192.4
  clusterIP: 10.0.0.1
  clusterIPs: [10.0.0.1]
";

#[test]
fn a_flow_item_is_read_by_the_flow_reader_as_the_full_parse_reads_it() {
    let got = flow_only(FLOW).expect("the flow reader reads it");
    assert_eq!(Some(got), full(FLOW));
}

#[test]
fn a_block_item_is_read_by_the_typed_parse_as_the_full_parse_reads_it() {
    assert_eq!(flow_only(BLOCK), None);
    let got = fast(BLOCK).expect("the typed parse reads it");
    assert_eq!(Some(got), full(BLOCK));
}

/// Every text obtained from `base` by replacing, inserting or deleting one
/// character from a set that matters to YAML.
fn mutations(base: &str) -> Vec<String> {
    let chars = [
        "", " ", ",", ":", "'", "\"", "{", "}", "[", "]", "#", "-", "0", "9", "a", "!", "\\", "\n",
        "~", ".", "é",
    ];
    let mut out = Vec::new();
    let idx: Vec<usize> = base.char_indices().map(|(i, _)| i).collect();
    for &i in &idx {
        let next = base[i..].chars().next().map_or(0, char::len_utf8);
        for c in chars {
            out.push(format!("{}{c}{}", &base[..i], &base[i + next..]));
            if !c.is_empty() {
                out.push(format!("{}{c}{}", &base[..i], &base[i..]));
            }
        }
    }
    out
}

#[test]
fn no_one_character_edit_makes_the_fast_parse_differ_from_the_full_parse() {
    let mut read = 0;
    for base in [FLOW, BLOCK] {
        for m in mutations(base) {
            if let Some(got) = fast(&m) {
                read += 1;
                assert_eq!(Some(got), full(&m), "for:\n{m}");
            }
            if let Some(got) = flow_only(&m) {
                assert_eq!(Some(got), full(&m), "flow reader, for:\n{m}");
            }
        }
    }
    // The edits inside names and values still read: the check is not empty.
    assert!(read > 100, "only {read} edited texts were read");
}

#[test]
fn unquoted_numbers_and_booleans_for_string_fields_are_declined() {
    for body in [
        "{apiVersion: v1, kind: Service, metadata: {name: 80}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: true}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: 1.5}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s, labels: {a: 0x10}}}",
        "metadata: {name: 80}\napiVersion: v1\nkind: Service\n",
        "metadata: {name: s, labels: {a: yes, b: false}}\napiVersion: v1\nkind: Service\n",
    ] {
        assert_eq!(fast(body), None, "{body}");
        assert_eq!(full(body), None, "the full parse rejects {body}");
    }
}

#[test]
fn duplicate_keys_are_declined_at_every_level() {
    for body in [
        "{apiVersion: v1, kind: Service, kind: Service, metadata: {name: s}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s, name: t}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s, labels: {a: b, a: c}}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 1, port: 2}]}}",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  name: t\n",
    ] {
        assert_eq!(fast(body), None, "{body}");
        assert_eq!(full(body), None, "the full parse rejects {body}");
    }
}

#[test]
fn wrong_types_unknown_fields_and_missing_ports_are_left_to_the_full_parse() {
    for body in [
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: {port: 1}}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{protocol: TCP}]}}",
        "{apiVersion: v1, kind: Service, metadata: [s]}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: '80'}]}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 4294967296}]}}",
    ] {
        assert_eq!(fast(body), None, "{body}");
    }
    // Unknown fields and nulls: accepted by the full parse (unknown fields
    // as Kubernetes does, a null as unset), but left to it.
    for body in [
        "{apiVersion: v1, kind: Service, metadata: {name: s, uid: x}}",
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: null}}",
    ] {
        assert_eq!(fast(body), None, "{body}");
        assert!(full(body).is_some(), "{body}");
    }
}
