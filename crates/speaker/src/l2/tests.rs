use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::desired::{compute as compute_desired, NodeInfo};
use l2::membership::Fencing;

const POOLS: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28, '2001:db8:100::/124']}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgponly, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28], autoAssign: false}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: a}}
status: {addresses: [{type: InternalIP, address: 192.0.2.101}, {type: InternalIP, address: '2001:db8::101'}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {rack: b}}
status: {addresses: [{type: InternalIP, address: 192.0.2.102}]}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {rack: b}}
status: {addresses: [{type: InternalIP, address: 192.0.2.103}]}
";

fn ad(name: &str, spec: &str) -> String {
    format!("---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n")
}

fn svc(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, labels: {{app: {name}}}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n{extra}"
    )
}

fn config(yaml: &str) -> Config {
    let opts = metallb_api::Options::default();
    let objects = metallb_api::load_str(yaml, "test.yaml", &opts).expect("loads");
    metallb_api::validate(&objects, &opts)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config
}

/// The L2 plan of `yaml` with the allocations the allocator makes for it,
/// over the config's Nodes.
fn plan(yaml: &str) -> L2Plan {
    let c = config(yaml);
    let d = compute_desired(
        &c,
        &NodeInfo::from_config(&c, "n1"),
        &AllocationState::default(),
    );
    let names = member_names(&c, None).unwrap();
    compute(&c, &d.state, &names)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ips(p: &L2Plan) -> Vec<String> {
    p.desired.vips.iter().map(|v| v.ip.to_string()).collect()
}

#[test]
fn a_pool_without_an_l2_advertisement_never_appears() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("lan", "{ipAddressPools: [lan]}"),
        svc("web", ""),
        svc("bgp", "  loadBalancerIP: 198.51.100.3\n")
    );
    let p = plan(&yaml);
    assert_eq!(ips(&p), vec!["192.0.2.0"]);
    assert_eq!(p.desired.vips[0].services, vec!["default/web"]);
}

#[test]
fn a_config_without_l2_advertisements_has_no_vips() {
    let p = plan(&format!("{POOLS}{}", svc("web", "")));
    assert!(p.desired.vips.is_empty());
}

#[test]
fn a_dual_stack_service_gives_two_vips_with_its_first_ip_as_election_ip() {
    let yaml = format!(
        "{POOLS}{}{}",
        ad("lan", "{}"),
        svc(
            "web",
            "  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: RequireDualStack\n"
        )
    );
    let p = plan(&yaml);
    assert_eq!(ips(&p), vec!["192.0.2.0", "2001:db8:100::"]);
    for v in &p.desired.vips {
        assert_eq!(v.election_ip.to_string(), "192.0.2.0");
        assert_eq!(v.services, vec!["default/web"]);
    }
}

#[test]
fn matching_nodes_are_those_an_applicable_ad_selects_and_all_members_without_selectors() {
    let selective = format!(
        "{POOLS}{}{}",
        ad("a", "{nodeSelectors: [{matchLabels: {rack: b}}]}"),
        svc("web", "")
    );
    assert_eq!(
        plan(&selective).desired.vips[0].matching_nodes,
        set(&["n2", "n3"])
    );
    let open = format!("{POOLS}{}{}", ad("a", "{}"), svc("web", ""));
    assert_eq!(
        plan(&open).desired.vips[0].matching_nodes,
        set(&["n1", "n2", "n3"])
    );
    // An ad of another pool selecting n1 adds nothing.
    let other = format!(
        "{POOLS}{}{}{}",
        ad(
            "a",
            "{ipAddressPools: [lan], nodeSelectors: [{matchLabels: {rack: b}}]}"
        ),
        ad(
            "b",
            "{ipAddressPools: [bgponly], nodeSelectors: [{matchLabels: {rack: a}}]}"
        ),
        svc("web", "")
    );
    assert_eq!(
        plan(&other).desired.vips[0].matching_nodes,
        set(&["n2", "n3"])
    );
}

#[test]
fn interfaces_are_the_union_of_the_ads_and_none_when_one_ad_lists_none() {
    let listed = format!(
        "{POOLS}{}{}{}",
        ad("a", "{interfaces: [eth0]}"),
        ad("b", "{interfaces: [eth1, eth0]}"),
        svc("web", "")
    );
    assert_eq!(
        plan(&listed).desired.vips[0].interfaces,
        Some(set(&["eth0", "eth1"]))
    );
    let open = format!(
        "{POOLS}{}{}{}",
        ad("a", "{interfaces: [eth0]}"),
        ad("b", "{}"),
        svc("web", "")
    );
    assert_eq!(plan(&open).desired.vips[0].interfaces, None);
}

#[test]
fn service_selectors_decide_which_ads_apply_to_each_service() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("web-only", "{serviceSelectors: [{matchLabels: {app: web}}], nodeSelectors: [{matchLabels: {rack: a}}]}"),
        svc("web", ""),
        svc("db", "")
    );
    let p = plan(&yaml);
    assert_eq!(p.desired.vips.len(), 1);
    assert_eq!(p.desired.vips[0].services, vec!["default/web"]);
    assert_eq!(p.desired.vips[0].matching_nodes, set(&["n1"]));
}

#[test]
fn scores_sum_the_preferred_node_selector_weights_of_the_ads_selecting_each_node() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("a", "{preferredNodeSelectors: [{weight: 40, preference: {matchLabels: {rack: b}}}]}"),
        ad("b", "{nodeSelectors: [{matchLabels: {rack: b}}], preferredNodeSelectors: [{weight: 2, preference: {matchLabels: {kubernetes.io/hostname: n3}}}]}"),
        svc("web", "")
    );
    let v = &plan(&yaml).desired.vips[0];
    let want: BTreeMap<String, i64> = [("n2".to_string(), 40), ("n3".to_string(), 42)].into();
    assert_eq!(v.scores, want);
    // The election follows the score: n3 first for every member alive.
    let check = check_vips(&plan(&yaml));
    assert_eq!(check[0].winner.as_deref(), Some("n3"));
    assert_eq!(check[0].candidates, vec!["n3", "n2", "n1"]);
}

#[test]
fn local_traffic_policy_without_endpoint_slices_gives_no_ready_set_and_a_note() {
    let yaml = format!(
        "{POOLS}{}{}",
        ad("a", "{}"),
        svc("web", "  externalTrafficPolicy: Local\n")
    );
    let p = plan(&yaml);
    assert_eq!(p.desired.vips[0].ready_nodes, None);
    assert_eq!(p.notes.len(), 1);
    assert!(p.notes[0].contains("default/web"), "{}", p.notes[0]);
    assert!(p.notes[0].contains("no EndpointSlices"), "{}", p.notes[0]);
    let cluster = format!("{POOLS}{}{}", ad("a", "{}"), svc("web", ""));
    assert!(plan(&cluster).notes.is_empty());
}

#[test]
fn a_shared_ip_lists_both_services_once_as_one_vip() {
    let share = "  loadBalancerIP: 192.0.2.5\n";
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("a", "{}"),
        svc("a", share).replace(
            "labels: {app: a}}",
            "labels: {app: a}, annotations: {metallb.io/allow-shared-ip: k}}"
        ),
        svc("b", share).replace("port: 80", "port: 81").replace(
            "labels: {app: b}}",
            "labels: {app: b}, annotations: {metallb.io/allow-shared-ip: k}}"
        )
    );
    let p = plan(&yaml);
    assert_eq!(ips(&p), vec!["192.0.2.5"]);
    assert_eq!(p.desired.vips[0].services, vec!["default/a", "default/b"]);
}

#[test]
fn check_names_the_winner_and_candidates_or_why_there_is_none() {
    let yaml = format!(
        "{POOLS}{}{}",
        ad("a", "{nodeSelectors: [{matchLabels: {rack: z}}]}"),
        svc("web", "")
    );
    let c = config(&yaml);
    let d = compute_desired(
        &c,
        &NodeInfo::from_config(&c, "n1"),
        &AllocationState::default(),
    );
    let (vips, _) = check(&c, &d.state, None).unwrap();
    assert_eq!(vips[0].winner, None);
    let lines = check_lines(&vips);
    assert!(
        lines[1].contains("no candidate: no node matches"),
        "{lines:?}"
    );
    // With --ml-members the names come from the flag; all alive.
    let open = config(&format!("{POOLS}{}{}", ad("a", "{}"), svc("web", "")));
    let d = compute_desired(
        &open,
        &NodeInfo::from_config(&open, "n1"),
        &AllocationState::default(),
    );
    let (vips, notes) = check(&open, &d.state, Some("x=192.0.2.9,y=192.0.2.10")).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("2 members") && n.contains("--l2-fencing off")),
        "{notes:?}"
    );
    let mut want = vec!["x".to_string(), "y".to_string()];
    want.sort_by_key(|n| l2::election::order_key(n, "192.0.2.0"));
    assert_eq!(vips[0].candidates, want);
    assert_eq!(vips[0].winner.as_ref(), Some(&want[0]));
    let lines = check_lines(&vips);
    assert!(lines[1].starts_with("192.0.2.0 "), "{lines:?}");
    assert!(lines[1].contains(&want.join(",")), "{lines:?}");
}

#[test]
fn members_flag_errors_name_the_entry() {
    assert_eq!(
        parse_members("n1=192.0.2.1,n2").unwrap_err(),
        "--ml-members: entry 1 \"n2\": expected NAME=IP"
    );
    assert_eq!(
        parse_members("n1=192.0.2.1,n2=foo").unwrap_err(),
        "--ml-members: entry 1 \"n2=foo\": \"foo\" is not an IP address"
    );
    assert_eq!(
        parse_members("n1=192.0.2.1,n1=192.0.2.2").unwrap_err(),
        "--ml-members: entry 1 \"n1=192.0.2.2\": \"n1\" is listed twice"
    );
    let m = parse_members("n1=192.0.2.1, n2=2001:db8::2").unwrap();
    assert_eq!(m[1].name, "n2");
    assert_eq!(m[1].addr.to_string(), "2001:db8::2");
}

#[test]
fn members_come_from_nodes_with_the_first_internal_ip_of_our_family() {
    let c = config(POOLS);
    let m = members_from_config(&c, "n1").unwrap();
    let got: Vec<String> = m.iter().map(|m| format!("{}={}", m.name, m.addr)).collect();
    assert_eq!(
        got,
        vec!["n1=192.0.2.101", "n2=192.0.2.102", "n3=192.0.2.103"]
    );
    let without = config(&format!(
        "{POOLS}---\napiVersion: v1\nkind: Node\nmetadata: {{name: n4}}\n"
    ));
    assert_eq!(
        members_from_config(&without, "n1").unwrap_err(),
        vec!["Node n4: status.addresses: no IPv4 InternalIP (Node n1's membership address 192.0.2.101 is IPv4)"]
    );
    let e = members_from_config(&c, "ghost").unwrap_err();
    assert!(e[0].starts_with("Node ghost: not in the config"), "{e:?}");
}

fn runtime(args: L2Args, node: &str) -> runtime::L2Runtime {
    runtime::L2Runtime::new(args, node, Arc::default())
}

#[test]
fn two_members_need_a_secret_and_get_the_fencing_note() {
    let members = parse_members("n1=192.0.2.1,n2=192.0.2.2").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = L2Args::default();
    // No file and (in this test process) no env variable set.
    if std::env::var(SECRET_ENV).is_err() {
        let e = runtime(args.clone(), "n1")
            .node_config(members.clone())
            .unwrap_err();
        assert!(e.contains("the membership secret is required"), "{e}");
    }
    let path = dir.path().join("secret");
    std::fs::write(&path, "s3cret\n").unwrap();
    args.ml_secret_file = Some(path);
    let (cfg, notes) = runtime(args.clone(), "n1")
        .node_config(members.clone())
        .unwrap();
    assert_eq!(cfg.secret, b"s3cret");
    assert_eq!(cfg.bind.to_string(), "192.0.2.1:7946");
    assert_eq!(cfg.fencing, Fencing::Majority);
    assert!(notes[0].contains("--l2-fencing off"), "{notes:?}");
    args.l2_fencing = FencingArg::Off;
    args.ml_bind_addr = Some("192.0.2.1:17946".into());
    let (cfg, notes) = runtime(args, "n1").node_config(members.clone()).unwrap();
    assert_eq!(cfg.bind.to_string(), "192.0.2.1:17946");
    assert_eq!(cfg.fencing, Fencing::Off);
    assert!(notes.is_empty());
    let e = runtime(L2Args::default(), "n9")
        .node_config(members)
        .unwrap_err();
    assert_eq!(
        e,
        "L2: --node-name \"n9\" is not one of the members (n1,n2)"
    );
}

#[test]
fn a_lone_member_runs_without_a_configured_secret() {
    let members = parse_members("n1=192.0.2.1").unwrap();
    let (cfg, _) = runtime(L2Args::default(), "n1")
        .node_config(members)
        .unwrap();
    assert!(!cfg.secret.is_empty());
}

fn sample_status() -> l2::node::NodeStatus {
    l2::node::NodeStatus {
        vips: vec![
            l2::node::VipStatus {
                ip: "192.0.2.5".parse().unwrap(),
                winner: Some("n1".into()),
                candidates: vec!["n1".into(), "n2".into()],
                reason: None,
                announcing_on: vec!["eth0".into()],
                requests_received: 7,
                responses_sent: 6,
                gratuitous_sent: 3,
            },
            l2::node::VipStatus {
                ip: "2001:db8::5".parse().unwrap(),
                winner: None,
                candidates: Vec::new(),
                reason: Some("no node matches".into()),
                announcing_on: Vec::new(),
                requests_received: 0,
                responses_sent: 0,
                gratuitous_sent: 0,
            },
        ],
        members: vec![("n1".into(), true), ("n2".into(), false)],
        fenced: None,
        interfaces: vec!["eth0".into()],
        drops: vec![("not_ours", 4)],
        failover_seconds: vec![0.12, 0.4],
    }
}

#[test]
fn status_shows_each_vip_with_its_winner_counters_and_the_members() {
    let s = sample_status();
    let j = status_json("n1", &["192.0.2.5".to_string()], Some(&s), None);
    assert_eq!(j["active"], true);
    assert_eq!(j["vips"][0]["winner"], "n1");
    assert_eq!(j["vips"][0]["announcing"], true);
    assert_eq!(j["vips"][0]["announcing_on"], serde_json::json!(["eth0"]));
    assert_eq!(j["vips"][0]["requests_received"], 7);
    assert_eq!(j["vips"][1]["winner"], serde_json::Value::Null);
    assert_eq!(j["vips"][1]["reason"], "no node matches");
    assert_eq!(
        j["members"],
        serde_json::json!([{"name": "n1", "alive": true}, {"name": "n2", "alive": false}])
    );
    assert_eq!(j["drops"]["not_ours"], 4);
    assert_eq!(j["failovers"], 2);
    let idle = status_json("n1", &[], None, Some("L2: no secret"));
    assert_eq!(idle["active"], false);
    assert_eq!(idle["error"], "L2: no secret");
}

#[test]
fn metrics_carry_metallb_names_per_ip_the_announcer_and_the_failover_histogram() {
    let m = L2Metrics::new();
    assert_eq!(m.render(None), "");
    let text = m.render(Some(&sample_status()));
    for want in [
        "metallb_layer2_requests_received{ip=\"192.0.2.5\"} 7",
        "metallb_layer2_responses_sent{ip=\"192.0.2.5\"} 6",
        "metallb_layer2_gratuitous_sent{ip=\"192.0.2.5\"} 3",
        "metallb_layer2_requests_received{ip=\"2001:db8::5\"} 0",
        "oxlb_layer2_announcer{ip=\"192.0.2.5\",node=\"n1\"} 1",
        "oxlb_layer2_failover_seconds_count 2",
        "oxlb_layer2_failover_seconds_bucket{le=\"0.15\"} 1",
        "oxlb_layer2_failover_seconds_bucket{le=\"0.5\"} 2",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(
        !text.contains("oxlb_layer2_announcer{ip=\"2001:db8::5\""),
        "{text}"
    );
    // A second scrape gives the same counts, not doubled.
    let again = m.render(Some(&sample_status()));
    assert!(
        again.contains("metallb_layer2_requests_received{ip=\"192.0.2.5\"} 7"),
        "{again}"
    );
    assert!(
        again.contains("oxlb_layer2_failover_seconds_count 2"),
        "{again}"
    );
}

#[test]
fn preflight_fails_without_a_secret_for_three_nodes_and_passes_without_l2() {
    if std::env::var(SECRET_ENV).is_ok() {
        return;
    }
    let with_ad = config(&format!("{POOLS}{}", ad("a", "{}")));
    let e = runtime(L2Args::default(), "n1")
        .preflight(&with_ad)
        .unwrap_err();
    assert!(e.contains("there are 3 members"), "{e}");
    assert!(runtime(L2Args::default(), "n1")
        .preflight(&config(POOLS))
        .is_ok());
    // A Node without an InternalIP names itself.
    let e = runtime(L2Args::default(), "n1")
        .preflight(&config(&format!(
            "{POOLS}{}---\napiVersion: v1\nkind: Node\nmetadata: {{name: n4}}\n",
            ad("a", "{}")
        )))
        .unwrap_err();
    assert!(
        e.starts_with("Node n4: status.addresses: no IPv4 InternalIP"),
        "{e}"
    );
}

#[test]
fn a_vip_of_an_unsaved_allocation_is_held_back_unless_the_node_has_it_already() {
    let mut r = runtime(L2Args::default(), "n1");
    r.plan = plan(&format!(
        "{POOLS}{}{}{}",
        ad("a", "{}"),
        svc("a", ""),
        svc("b", "")
    ))
    .desired;
    let a: IpAddr = "192.0.2.0".parse().unwrap();
    let b: IpAddr = "192.0.2.1".parse().unwrap();
    r.feed(&[b].into());
    assert_eq!(r.fed, [a].into());
    r.feed(&BTreeSet::new());
    assert_eq!(r.fed, [a, b].into());
    // Held again (say a rewrite failed) after the node had it: kept.
    r.feed(&[b].into());
    assert_eq!(r.fed, [a, b].into());
}

#[test]
fn a_config_without_nodes_makes_this_node_the_only_member_with_no_secret_needed() {
    // examples/ (and the demo) run one standalone speaker with an
    // L2Advertisement and no Node objects: that must start, alone.
    let alone = POOLS
        .split("---\napiVersion: v1\nkind: Node")
        .next()
        .unwrap();
    let with_ad = config(&format!("{alone}{}", ad("a", "{}")));
    assert!(with_ad.nodes.is_empty());
    let r = runtime(L2Args::default(), "NodeA");
    r.preflight(&with_ad)
        .unwrap_or_else(|e| panic!("a lone node must start: {e}"));
    // With Nodes in the config, a node missing from them is still an error.
    let e = runtime(L2Args::default(), "NodeA")
        .preflight(&config(&format!("{POOLS}{}", ad("a", "{}"))))
        .unwrap_err();
    assert!(e.starts_with("Node NodeA: not in the config"), "{e}");
}

mod local;
mod members;
