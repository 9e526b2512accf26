//! List items are read by a fast parse (no YAML value tree, no full
//! Kubernetes object) when they are plain Services; it must be exactly as
//! strict as the full parse, and every error must name the file, the
//! item, the object and the field with the same words as before. Each case
//! is also loaded with a trailing `# &`, which makes the loader parse the
//! file whole (the old path), and the two results compared.

use metallb_api::{load_str, Options};

fn list(items: &[&str]) -> String {
    let mut s = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in items {
        s.push_str("- ");
        s.push_str(i);
        s.push('\n');
    }
    s
}

/// The errors of loading `text` (which must fail), one line each, after
/// checking the whole-file path gives the same.
fn errors(text: &str) -> Vec<String> {
    let opts = Options::default();
    let cut = load_str(text, "svc.yaml", &opts);
    let whole = load_str(&format!("{text}# &\n"), "svc.yaml", &opts);
    assert_eq!(cut, whole, "for:\n{text}");
    let errs = cut.expect_err("must not load");
    errs.errors.iter().map(|e| e.to_string()).collect()
}

const OK: &str = "{apiVersion: v1, kind: Service, metadata: {name: ok, namespace: a}, spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}}";

#[test]
fn an_unquoted_number_for_a_string_field_names_the_item_object_and_field() {
    let text = list(&[
        OK,
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}, spec: {type: LoadBalancer, loadBalancerIP: 80}}",
    ]);
    assert_eq!(
        errors(&text),
        ["Service a/s (svc.yaml doc 1 items[1]): spec.loadBalancerIP: invalid type: integer `80`, expected a string"]
    );
}

#[test]
fn an_unquoted_boolean_for_a_string_field_names_the_item_object_and_field() {
    let text = list(&[
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a, labels: {app: true}}, spec: {type: LoadBalancer}}",
        OK,
    ]);
    assert_eq!(
        errors(&text),
        ["Service a/s (svc.yaml doc 1 items[0]): metadata.labels.app: invalid type: boolean `true`, expected a string"]
    );
}

#[test]
fn a_duplicate_key_in_an_item_names_the_item_and_the_key() {
    let text = list(&[
        OK,
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}, spec: {type: LoadBalancer, type: ClusterIP}}",
    ]);
    assert_eq!(
        errors(&text),
        [
            r#"svc.yaml doc 1: invalid YAML: items[1].spec: duplicate entry with key "type" at line 5 column 76"#
        ]
    );
}

#[test]
fn a_wrong_type_in_an_item_names_the_item_object_and_field() {
    let text = list(&[
        OK,
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}, spec: {type: LoadBalancer, ports: [{port: '80'}]}}",
    ]);
    assert_eq!(
        errors(&text),
        [
            r#"Service a/s (svc.yaml doc 1 items[1]): spec.ports[0].port: invalid type: string "80", expected i32"#
        ]
    );
}

#[test]
fn a_duplicate_service_read_by_the_fast_parse_names_where_it_was_first_defined() {
    let text = list(&[OK, OK]);
    assert_eq!(errors(&text), ["Service a/ok (svc.yaml doc 1 items[1]): metadata.name: duplicate object: already defined in svc.yaml doc 1 items[0]"]);
}

#[test]
fn block_items_with_string_numbers_and_duplicate_keys_are_as_strict() {
    let head = "apiVersion: v1\nkind: List\nitems:\n";
    let number = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s\n    namespace: a\n  spec:\n    type: LoadBalancer\n    ipFamilyPolicy: 1\n";
    let duplicate = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: t\n    name: u\n";
    assert_eq!(
        errors(&format!("{head}{number}")),
        ["Service a/s (svc.yaml doc 1 items[0]): spec.ipFamilyPolicy: invalid type: integer `1`, expected a string"]
    );
    assert_eq!(
        errors(&format!("{head}{number}{duplicate}")),
        [
            r#"svc.yaml doc 1: invalid YAML: items[1].metadata: duplicate entry with key "name" at line 15 column 5"#
        ]
    );
}

#[test]
fn plain_services_in_a_list_load_as_when_the_file_is_parsed_whole() {
    let text = list(&[
        OK,
        "{apiVersion: v1, kind: Service, metadata: {name: b, namespace: a, labels: {app: web}, annotations: {metallb.io/address-pool: p, x: y}}, spec: {type: LoadBalancer, selector: {app: web}, ipFamilies: [IPv4], ports: [{port: 53, protocol: UDP, targetPort: dns}]}}",
        "{apiVersion: v1, kind: Service, metadata: {name: c}, spec: {type: ClusterIP}}",
        "{apiVersion: v1, kind: Service, metadata: {name: d, uid: x}, spec: {type: LoadBalancer, loadBalancerIP: '198.51.100.7'}}",
    ]);
    let opts = Options::default();
    let cut = load_str(&text, "svc.yaml", &opts).expect("loads");
    assert_eq!(cut.services.len(), 4);
    assert_eq!(
        Ok(cut),
        load_str(&format!("{text}# &\n"), "svc.yaml", &opts)
    );
}

#[test]
fn a_duplicate_across_the_parallel_parse_chunks_names_the_first_item() {
    // More items than one thread takes, so that a 2-CPU machine parses
    // them on two threads; the duplicate pair straddles the middle.
    let n = 6000;
    let mut items: Vec<String> = (0..n)
        .map(|i| format!("{{apiVersion: v1, kind: Service, metadata: {{name: s{i}, namespace: a}}, spec: {{type: LoadBalancer}}}}"))
        .collect();
    items[n - 10] = items[10].clone();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    assert_eq!(
        errors(&list(&refs)),
        [format!("Service a/s10 (svc.yaml doc 1 items[{}]): metadata.name: duplicate object: already defined in svc.yaml doc 1 items[10]", n - 10)]
    );
}
