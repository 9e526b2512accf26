//! A Service is parsed into the full Kubernetes type and kept as a compact
//! record: every field the allocator and the plan read must survive, and
//! what Kubernetes accepts (unknown fields) or rejects (a mistyped known
//! field) must stay so.

use allocator::ServiceFields;
use metallb_api::{load_str, validate, Options};
use std::collections::BTreeMap;

const FULL: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: blue}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations:
    metallb.io/address-pool: public
    metallb.universe.tf/allow-shared-ip: k1
    metallb.io/loadBalancerIPs: 192.0.2.10,2001:db8::10
    kubectl.kubernetes.io/last-applied-configuration: '{"big": "blob"}'
    example.com/owner: team-blue
spec:
  type: LoadBalancer
  loadBalancerClass: ""
  loadBalancerIP: 192.0.2.10
  externalTrafficPolicy: Local
  selector: {app: web, tier: front}
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00::10"]
  ports:
  - {name: https, port: 443, protocol: TCP, targetPort: 8443}
  - {name: dns, port: 53, protocol: UDP}
  - {port: 80}
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.10
    - hostname: not-an-ip.example
    - ip: 2001:db8::10
"#;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_field_the_allocator_and_the_plan_read_survives_the_projection() {
    let opts = Options::default();
    let objects = load_str(FULL, "svc.yaml", &opts).unwrap();
    let config = validate(&objects, &opts).unwrap().config;
    assert_eq!(config.services.len(), 1);
    let s = &config.services[0];
    let want = ServiceFields {
        namespace: "shop".into(),
        name: "web".into(),
        labels: map(&[("app", "web")]),
        namespace_labels: map(&[("team", "blue")]),
        annotations: map(&[
            ("metallb.io/address-pool", "public"),
            ("metallb.universe.tf/allow-shared-ip", "k1"),
            ("metallb.io/loadBalancerIPs", "192.0.2.10,2001:db8::10"),
        ]),
        load_balancer_ip: "192.0.2.10".into(),
        ports: vec![("TCP".into(), 443), ("UDP".into(), 53), ("TCP".into(), 80)],
        external_traffic_policy: "Local".into(),
        selector: map(&[("app", "web"), ("tier", "front")]),
        ip_families: vec!["IPv4".into(), "IPv6".into()],
        ip_family_policy: "PreferDualStack".into(),
        cluster_ips: vec!["10.96.0.10".into(), "fd00::10".into()],
        cluster_ip: "10.96.0.10".into(),
    };
    assert_eq!(s.fields(), want);
    assert_eq!(
        s.status_ips(),
        [
            "192.0.2.10".parse::<std::net::IpAddr>().unwrap(),
            "2001:db8::10".parse().unwrap()
        ]
    );
    // An empty class is no class.
    assert_eq!(s.load_balancer_class(), None);
}

#[test]
fn annotations_metallb_does_not_read_are_not_kept() {
    let opts = Options::default();
    let objects = load_str(FULL, "svc.yaml", &opts).unwrap();
    let keys: Vec<&str> = objects.services[0]
        .spec
        .extra
        .as_ref()
        .expect("annotations are kept")
        .annotations
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "metallb.io/address-pool",
            "metallb.io/loadBalancerIPs",
            "metallb.universe.tf/allow-shared-ip"
        ]
    );
}

#[test]
fn a_plain_load_balancer_service_keeps_its_ports_and_no_extra_fields() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\nspec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}\n";
    let objects = load_str(yaml, "svc.yaml", &Options::default()).unwrap();
    let r = &objects.services[0].spec;
    assert!(r.is_load_balancer());
    assert_eq!(*r.ports, [(Some("TCP".into()), 80)]);
    assert_eq!(r.extra, None);
    // The record itself: type, ports and the pointer to the rest.
    assert!(std::mem::size_of::<metallb_api::ServiceRecord>() <= 56);
}

#[test]
fn unknown_fields_in_a_service_are_ignored_as_kubernetes_does() {
    let yaml = "apiVersion: v1\nkind: Service\nfooTop: 1\nmetadata: {name: a, fooMeta: x}\n\
                spec: {type: LoadBalancer, fooSpec: [1], ports: [{port: 80, fooPort: y}]}\n\
                status: {fooStatus: {}}\n";
    let opts = Options::default();
    let objects = load_str(yaml, "svc.yaml", &opts).unwrap();
    let config = validate(&objects, &opts).unwrap().config;
    assert_eq!(config.services[0].fields().ports, [("TCP".to_string(), 80)]);
}

#[test]
fn a_mistyped_known_field_in_a_service_is_an_error_naming_object_file_and_field() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\n\
                spec: {type: LoadBalancer, ports: [{port: eighty}]}\n";
    let errs = load_str(yaml, "svc.yaml", &Options::default()).unwrap_err();
    let e = errs.errors[0].to_string();
    assert!(
        e.starts_with("Service shop/a (svc.yaml doc 1): spec.ports[0].port: invalid type"),
        "{e}"
    );
}

#[test]
fn services_of_other_types_and_classes_are_kept_as_records_but_not_handled() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: ClusterIP}\n---\n\
                apiVersion: v1\nkind: Service\nmetadata: {name: b}\n\
                spec: {type: LoadBalancer, loadBalancerClass: other}\n---\n\
                apiVersion: v1\nkind: Service\nmetadata: {name: c}\n";
    let opts = Options::default();
    let objects = load_str(yaml, "svc.yaml", &opts).unwrap();
    assert_eq!(objects.services.len(), 3);
    assert!(validate(&objects, &opts)
        .unwrap()
        .config
        .services
        .is_empty());
    let other = Options {
        load_balancer_class: Some("other".into()),
        ..Options::default()
    };
    let config = validate(&objects, &other).unwrap().config;
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].load_balancer_class(), Some("other"));
}

#[test]
fn a_loaded_service_record_fits_the_160_byte_allocation_class() {
    // One `Arc<Loaded<ServiceRecord>>` per Service is kept: with its two
    // reference counts it must stay within 160 bytes (it was 184, which an
    // allocator rounds to 192).
    let payload = std::mem::size_of::<metallb_api::Loaded<metallb_api::ServiceRecord>>();
    assert!(
        payload + 16 <= 160,
        "Loaded<ServiceRecord> is {payload} bytes"
    );
    assert!(std::mem::size_of::<metallb_api::ServiceRecord>() <= 32);
}

#[test]
fn the_service_type_reads_back_as_written_known_or_not() {
    for (t, lb) in [
        ("LoadBalancer", true),
        ("ClusterIP", false),
        ("NodePort", false),
        ("ExternalName", false),
        ("loadbalancer", false),
        ("Custom", false),
    ] {
        let yaml = format!("apiVersion: v1\nkind: Service\nmetadata: {{name: a, namespace: shop}}\nspec: {{type: {t}, ports: [{{port: 80}}]}}\n");
        let objects = load_str(&yaml, "svc.yaml", &Options::default()).unwrap();
        let r = &objects.services[0].spec;
        assert_eq!(r.type_name(), Some(t), "spec.type {t}");
        assert_eq!(r.is_load_balancer(), lb, "spec.type {t}");
    }
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\nspec: {ports: [{port: 80}]}\n";
    let objects = load_str(yaml, "svc.yaml", &Options::default()).unwrap();
    assert_eq!(objects.services[0].spec.type_name(), None);
}
