//! `oxlb-speaker check` with L2Advertisements: each L2 VIP's winner and
//! candidates among the config's Nodes (or `--ml-members`), all assumed
//! alive, in the table and in the JSON output.

use std::process::Command;

const CONFIG: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgponly, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan], nodeSelectors: [{matchLabels: {rack: b}}]}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: a}}
status: {addresses: [{type: InternalIP, address: 192.0.2.101}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {rack: b}}
status: {addresses: [{type: InternalIP, address: 192.0.2.102}]}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {rack: b}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: bgp, namespace: default}
spec: {type: LoadBalancer, loadBalancerIP: 198.51.100.3, ports: [{port: 80, protocol: TCP}]}
";

fn check(extra: &[&str]) -> (String, String) {
    check_config(CONFIG, extra)
}

fn check_config(config: &str, extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb-speaker"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .args(extra)
        .output()
        .expect("run oxlb-speaker");
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

/// MetalLB's order among equal scores: sha256("node#ip") ascending.
fn ordered(nodes: &[&str], ip: &str) -> Vec<String> {
    let mut v: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    v.sort_by_key(|n| l2_order(n, ip));
    v
}

fn l2_order(node: &str, ip: &str) -> [u8; 32] {
    l2::election::order_key(node, ip)
}

#[test]
fn check_table_names_the_winner_and_candidates_of_each_l2_vip_only() {
    let (out, _) = check(&[]);
    let want = ordered(&["n2", "n3"], "192.0.2.0");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("192.0.2.0 "))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    let cols: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(cols[1], want[0], "{out}");
    assert_eq!(cols[2], want.join(","), "{out}");
    assert_eq!(cols[3], "default/web", "{out}");
    // The BGP-only pool's IP is not an L2 VIP.
    assert!(
        !out.lines().any(|l| l.starts_with("198.51.100.3 ")),
        "{out}"
    );
    // n3 has no InternalIP: standalone would need one.
    assert!(
        out.contains("warning: L2: Node n3: status.addresses: no InternalIP"),
        "{out}"
    );
}

#[test]
fn check_json_lists_l2_vips_and_ml_members_replace_the_nodes() {
    let (out, _) = check(&[
        "--output",
        "json",
        "--ml-members",
        "x=192.0.2.9,n2=192.0.2.10",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let l2 = v["l2"].as_array().expect("l2 array");
    assert_eq!(l2.len(), 1, "{out}");
    assert_eq!(l2[0]["ip"], "192.0.2.0");
    assert_eq!(l2[0]["election_ip"], "192.0.2.0");
    // x has no labels, so only n2 matches rack: b.
    assert_eq!(l2[0]["winner"], "n2");
    assert_eq!(l2[0]["candidates"], serde_json::json!(["n2"]));
    assert_eq!(l2[0]["services"], serde_json::json!(["default/web"]));
}

#[test]
fn a_bad_ml_members_entry_fails_check_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, CONFIG).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb-speaker"))
        .args(["check", "--ml-members", "n1=192.0.2.1,n2"])
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run oxlb-speaker");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ml-members: entry 1 \"n2\": expected NAME=IP"),
        "{err}"
    );
}

#[test]
fn check_restricts_a_local_service_to_the_node_with_a_ready_endpoint() {
    // web becomes externalTrafficPolicy: Local; of the matching n2 and n3,
    // only n3 has a ready endpoint (n2's is not ready, n1 does not match).
    let config = CONFIG.replace(
        "metadata: {name: web, namespace: default}\nspec: {type: LoadBalancer,",
        "metadata: {name: web, namespace: default}\nspec: {type: LoadBalancer, externalTrafficPolicy: Local,",
    ) + "
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [198.18.0.1], nodeName: n1}
- {addresses: [198.18.0.2], nodeName: n2, conditions: {ready: false}}
- {addresses: [198.18.0.3], nodeName: n3, conditions: {ready: true}}
";
    assert!(config.contains("externalTrafficPolicy: Local"), "{config}");
    let (out, err) = check_config(&config, &["--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let l2 = v["l2"].as_array().expect("l2 array");
    assert_eq!(l2.len(), 1, "{out}");
    assert_eq!(l2[0]["winner"], "n3", "{out}");
    assert_eq!(l2[0]["candidates"], serde_json::json!(["n3"]), "{out}");
    assert!(
        !out.contains("no EndpointSlices") && !err.contains("no EndpointSlices"),
        "{out}{err}"
    );
    // Without a ready endpoint anywhere the table gives the reason.
    let none = config.replace(
        "nodeName: n3, conditions: {ready: true}",
        "nodeName: n3, conditions: {ready: false}",
    );
    let (out, _) = check_config(&none, &[]);
    let line = out
        .lines()
        .find(|l| l.starts_with("192.0.2.0 "))
        .unwrap_or_else(|| panic!("no L2 line: {out}"));
    assert!(
        line.contains("no candidate: externalTrafficPolicy is Local and none of the 2 live matching nodes has a ready endpoint"),
        "{out}"
    );
}
