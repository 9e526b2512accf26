//! Node addresses: the InternalIPs L2 mode's membership runs on.

use metallb_api::{load_str, validate, Options, Validated};
use std::net::IpAddr;

fn check(yaml: &str) -> Result<Validated, Vec<String>> {
    let opts = Options::default();
    let objects = load_str(yaml, "c.yaml", &opts)
        .map_err(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    validate(&objects, &opts).map_err(|e| e.errors.iter().map(ToString::to_string).collect())
}

fn node(name: &str, addresses: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{zone: a}}}}\nstatus:\n  addresses: {addresses}\n---\n"
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn internal_ips_are_kept_in_order_and_other_types_ignored() {
    let yaml = node(
        "n1",
        "[{type: Hostname, address: n1}, {type: ExternalIP, address: 203.0.113.1}, {type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: '2001:db8::11'}]",
    );
    let v = check(&yaml).unwrap();
    assert_eq!(
        v.config.node_addresses["n1"],
        vec![ip("192.0.2.11"), ip("2001:db8::11")]
    );
    assert_eq!(v.config.nodes["n1"]["zone"], "a");
}

#[test]
fn a_node_without_an_internal_ip_has_no_addresses_but_keeps_its_labels() {
    let yaml = format!(
        "{}apiVersion: v1\nkind: Node\nmetadata: {{name: n2}}\n",
        node("n1", "[{type: ExternalIP, address: 203.0.113.1}]")
    );
    let v = check(&yaml).unwrap();
    assert!(v.config.node_addresses.is_empty());
    assert!(v.config.nodes.contains_key("n1") && v.config.nodes.contains_key("n2"));
}

#[test]
fn an_internal_ip_that_is_not_an_address_is_an_error_naming_node_and_entry() {
    let e = check(&node(
        "n1",
        "[{type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: n1.example}]",
    ))
    .unwrap_err();
    assert_eq!(
        e,
        [
            "Node n1 (c.yaml doc 1): status.addresses[1].address: Invalid value: \"n1.example\": an InternalIP must be an IP address"
        ]
    );
}
