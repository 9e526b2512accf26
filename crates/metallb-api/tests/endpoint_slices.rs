//! `discovery.k8s.io/v1` EndpointSlices: loaded as compact records (the
//! Service from `kubernetes.io/service-name`, each endpoint's node and
//! usability), validated into the nodes with a usable endpoint per Service.

use metallb_api::{load_str, validate, EndpointRecord, Options};
use std::collections::BTreeSet;

fn slice(name: &str, labels: &str, endpoints: &str) -> String {
    format!(
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: shop{labels}}}\naddressType: IPv4\nports: [{{port: 8080, protocol: TCP}}]\nendpoints: {endpoints}\n"
    )
}

const WEB: &str = ", labels: {kubernetes.io/service-name: web}";

#[test]
fn a_slice_loads_its_service_and_each_endpoint_node_and_usability() {
    let yaml = slice(
        "web-abc",
        WEB,
        "[{addresses: [198.18.0.1], nodeName: n1}, {addresses: [198.18.0.2], nodeName: n2, conditions: {ready: false}}, {addresses: [198.18.0.3], nodeName: n3, conditions: {ready: true, serving: true, terminating: true}}, {addresses: [198.18.0.4]}]",
    );
    let opts = Options::default();
    let objects = load_str(&yaml, "eps.yaml", &opts).expect("loads");
    assert_eq!(objects.endpoint_slices.len(), 1);
    let s = &objects.endpoint_slices[0];
    assert_eq!((s.namespace.as_str(), s.name.as_str()), ("shop", "web-abc"));
    assert_eq!(s.spec.service.as_deref(), Some("web"));
    let rec = |n: Option<&str>, usable| EndpointRecord {
        node_name: n.map(str::to_string),
        usable,
    };
    assert_eq!(
        s.spec.endpoints,
        vec![
            rec(Some("n1"), true),
            rec(Some("n2"), false),
            rec(Some("n3"), false),
            rec(None, true),
        ]
    );
    let v = validate(&objects, &opts).expect("validates");
    let ready = v.config.ready_endpoint_nodes.expect("slices present");
    assert_eq!(ready["shop/web"], BTreeSet::from(["n1".to_string()]));
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn a_badly_typed_slice_field_names_the_file_object_and_field() {
    let yaml = slice(
        "web-abc",
        WEB,
        "[{addresses: [198.18.0.1], nodeName: n1, conditions: {ready: maybe}}]",
    );
    let errs = load_str(&yaml, "eps.yaml", &Options::default()).expect_err("must fail");
    let errs: Vec<String> = errs.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "EndpointSlice shop/web-abc (eps.yaml doc 1): endpoints[0].conditions.ready: "
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn a_slice_without_the_service_name_label_is_ignored_with_a_warning_naming_it() {
    let yaml = format!(
        "{}{}",
        slice("orphan", "", "[{addresses: [198.18.0.1], nodeName: n1}]"),
        slice("web-abc", WEB, "[{addresses: [198.18.0.2], nodeName: n2}]"),
    );
    let opts = Options::default();
    let objects = load_str(&yaml, "eps.yaml", &opts).expect("loads");
    let v = validate(&objects, &opts).expect("validates");
    let ready = v
        .config
        .ready_endpoint_nodes
        .expect("one slice names a Service");
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready["shop/web"], BTreeSet::from(["n2".to_string()]));
    let warnings: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "EndpointSlice shop/orphan (eps.yaml doc 1): metadata.labels[kubernetes.io/service-name]: missing"
        ),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_config_without_slices_has_no_ready_endpoint_nodes() {
    let opts = Options::default();
    let objects = load_str(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n",
        "n.yaml",
        &opts,
    )
    .expect("loads");
    let v = validate(&objects, &opts).expect("validates");
    assert_eq!(v.config.ready_endpoint_nodes, None);
}

#[test]
fn the_api_servers_complete_list_without_slices_means_no_endpoint_anywhere() {
    let opts = Options::default();
    let mut objects = load_str(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n",
        "n.yaml",
        &opts,
    )
    .expect("loads");
    objects.endpoint_slices_complete = true;
    let v = validate(&objects, &opts).expect("validates");
    assert_eq!(v.config.ready_endpoint_nodes, Some(Default::default()));
}

#[test]
fn unknown_slice_fields_are_ignored_as_for_the_other_core_kinds() {
    let yaml = slice(
        "web-abc",
        WEB,
        "[{addresses: [198.18.0.1], nodeName: n1, futureField: 1}]",
    )
    .replace(
        "addressType: IPv4",
        "addressType: IPv4\nnewTopLevel: {x: 1}",
    );
    let objects = load_str(&yaml, "eps.yaml", &Options::default()).expect("loads");
    assert_eq!(objects.endpoint_slices[0].spec.endpoints.len(), 1);
}

#[test]
fn slices_in_a_kubectl_list_load_one_by_one() {
    let item = |name: &str, node: &str| {
        format!("- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n  metadata: {{name: {name}, namespace: shop, labels: {{kubernetes.io/service-name: web}}}}\n  addressType: IPv4\n  endpoints: [{{addresses: [198.18.0.1], nodeName: {node}}}]\n")
    };
    let yaml = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        item("web-a", "n1"),
        item("web-b", "n2")
    );
    let opts = Options::default();
    let objects = load_str(&yaml, "eps.yaml", &opts).expect("loads");
    let v = validate(&objects, &opts).expect("validates");
    let ready = v.config.ready_endpoint_nodes.expect("slices present");
    assert_eq!(
        ready["shop/web"],
        BTreeSet::from(["n1".to_string(), "n2".to_string()])
    );
}

#[test]
fn a_cached_reload_keeps_slices_from_every_file_and_finds_a_duplicate_across_files() {
    use metallb_api::{load_cached, load_with, LoadCache};
    let dir = tempfile::tempdir().unwrap();
    let a = slice("web-a", WEB, "[{addresses: [198.18.0.1], nodeName: n1}]");
    let b = slice("web-b", WEB, "[{addresses: [198.18.0.2], nodeName: n2}]");
    std::fs::write(dir.path().join("a.yaml"), &a).unwrap();
    std::fs::write(dir.path().join("b.yaml"), &b).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    let cached = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(cached, load_with(dir.path(), &opts).unwrap());
    assert_eq!(cached.endpoint_slices.len(), 2);
    std::fs::write(dir.path().join("c.yaml"), &a).unwrap();
    let errs = load_cached(dir.path(), &opts, &mut cache).expect_err("duplicate");
    let errs: Vec<String> = errs.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("EndpointSlice shop/web-a (") && errs[0].contains("duplicate object"),
        "{}",
        errs[0]
    );
}
