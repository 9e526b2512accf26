//! Unit tests of `desired`: from a config to the Services, routes and sessions.

use super::*;
use crate::state::Allocation;
use std::net::Ipv4Addr;

const BASE: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28, '2001:db8:100::/124']}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor6, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: '2001:db8:1::1'}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
spec: {communities: ['64512:100']}
";

fn svc(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n{extra}"
    )
}

fn desired(yaml: &str, previous: &AllocationState) -> Desired {
    let opts = metallb_api::Options::default();
    let objects = metallb_api::load_str(yaml, "test.yaml", &opts).expect("loads");
    let config = metallb_api::validate(&objects, &opts)
        .expect("valid")
        .config;
    compute(&config, &NodeInfo::from_config(&config, "node1"), previous)
}

#[test]
fn services_get_the_lowest_free_addresses_and_their_routes_go_to_the_right_family() {
    let yaml = format!(
        "{BASE}{}{}",
        svc("a", ""),
        svc(
            "v6",
            "  ipFamilies: [IPv6]\n  ipFamilyPolicy: SingleStack\n"
        )
    );
    let d = desired(&yaml, &AllocationState::default());
    let ips: Vec<String> = d.services.iter().map(|s| s.ips[0].to_string()).collect();
    assert_eq!(ips, vec!["192.0.2.0", "2001:db8:100::"]);
    let r4: Vec<String> = d.routes["tor4"]
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    let r6: Vec<String> = d.routes["tor6"]
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(r4, vec!["192.0.2.0/32"]);
    assert_eq!(r6, vec!["2001:db8:100::/128"]);
    assert_eq!(
        d.routes["tor4"][0].communities,
        vec![Community::new(64512, 100)]
    );
    assert_eq!(d.peers.len(), 2);
}

#[test]
fn allocations_from_the_state_file_are_kept_whatever_else_changes() {
    let mut previous = AllocationState::default();
    previous.services.insert(
        "default/b".into(),
        Allocation {
            ips: vec!["192.0.2.5".parse().unwrap()],
            pool: "default".into(),
        },
    );
    // "a" sorts first and would take .0; "b" keeps .5 from the state.
    let yaml = format!("{BASE}{}{}", svc("a", ""), svc("b", ""));
    let d = desired(&yaml, &previous);
    let b = d.services.iter().find(|s| s.name == "b").unwrap();
    assert_eq!(b.ips, vec!["192.0.2.5".parse::<IpAddr>().unwrap()]);
    assert_eq!(d.state.services["default/b"].ips, b.ips);
}

#[test]
fn a_service_that_cannot_be_served_is_pending_with_metallbs_reason() {
    let yaml = format!("{BASE}{}", svc("x", "  loadBalancerIP: 203.0.113.9\n"));
    let d = desired(&yaml, &AllocationState::default());
    let x = &d.services[0];
    assert!(x.ips.is_empty());
    let reason = x.pending.clone().unwrap();
    assert!(reason.contains("203.0.113.9"), "{reason}");
    assert!(d.routes["tor4"].is_empty());
}

#[test]
fn each_service_lists_its_bgp_lines_then_its_l2_line_and_only_its_own() {
    let yaml = format!(
        "{BASE}---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: l2all, namespace: metallb-system}}\n{}{}{}",
        svc("b", ""),
        svc("a", ""),
        svc("c", "  loadBalancerIP: 203.0.113.9\n"),
    );
    let d = desired(&yaml, &AllocationState::default());
    let lines = |n: &str| {
        d.services
            .iter()
            .find(|s| s.name == n)
            .map(|s| {
                s.announcements
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap()
    };
    assert_eq!(
        lines("a"),
        vec![
            "bgp 192.0.2.0/32 to tor4 (198.51.100.1)".to_string(),
            "l2 192.0.2.0 via l2all".to_string(),
        ]
    );
    assert_eq!(
        lines("b"),
        vec![
            "bgp 192.0.2.1/32 to tor4 (198.51.100.1)".to_string(),
            "l2 192.0.2.1 via l2all".to_string(),
        ]
    );
    assert!(lines("c").is_empty());
    let l2: Vec<String> = d.l2.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(l2, vec!["192.0.2.0", "192.0.2.1"]);
    let names: Vec<&str> = d.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(d.state.services.len(), 2);
    assert_eq!(d.state.services["default/b"].pool, "default");
}

#[test]
fn a_peer_that_does_not_select_this_node_gets_no_session() {
    let yaml = BASE.replace(
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1}",
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, nodeSelectors: [{matchLabels: {kubernetes.io/hostname: other}}]}",
    );
    let d = desired(&yaml, &AllocationState::default());
    let names: Vec<&str> = d.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["tor6"]);
}

#[test]
fn single_hop_ebgp_uses_ttl_1_and_multihop_255() {
    let yaml = BASE.replace(
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1}",
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, ebgpMultiHop: true}",
    );
    let d = desired(&yaml, &AllocationState::default());
    let ttl = |n: &str| d.peers.iter().find(|p| p.name == n).unwrap().endpoint.ttl;
    assert_eq!((ttl("tor4"), ttl("tor6")), (255, 1));
}

#[test]
fn router_ids_come_from_the_caller_and_a_set_router_id_wins() {
    let yaml = BASE.replace(
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: '2001:db8:1::1'}",
        "spec: {myASN: 64512, peerASN: 64513, peerAddress: '2001:db8:1::1', routerID: 192.0.2.99}",
    );
    let opts = metallb_api::Options::default();
    let objects = metallb_api::load_str(&yaml, "test.yaml", &opts).expect("loads");
    let config = metallb_api::validate(&objects, &opts)
        .expect("valid")
        .config;
    let mut node = NodeInfo::from_config(&config, "node1");
    let tor4: IpAddr = "198.51.100.1".parse().unwrap();
    assert_eq!(router_id_keys(&config, &node), vec![(tor4, None)]);
    node.router_ids
        .insert((tor4, None), Ipv4Addr::new(198, 51, 100, 7));
    let d = compute(&config, &node, &AllocationState::default());
    let id = |n: &str| d.peers.iter().find(|p| p.name == n).unwrap().fsm.router_id;
    assert_eq!(id("tor4"), Ipv4Addr::new(198, 51, 100, 7));
    assert_eq!(id("tor6"), Ipv4Addr::new(192, 0, 2, 99));
}

/// Loads and validates `yaml`, then computes with `live`.
fn desired_live(live: &mut LiveAllocator, yaml: &str, previous: &AllocationState) -> Desired {
    let opts = metallb_api::Options::default();
    let objects = metallb_api::load_str(yaml, "test.yaml", &opts).expect("loads");
    let config = metallb_api::validate(&objects, &opts)
        .expect("valid")
        .config;
    compute_with(
        live,
        &config,
        &NodeInfo::from_config(&config, "node1"),
        previous,
    )
}

#[test]
fn a_live_reload_reports_only_the_services_whose_allocation_it_touched() {
    let mut live = LiveAllocator::default();
    let first = desired_live(
        &mut live,
        &format!("{BASE}{}{}{}", svc("a", ""), svc("b", ""), svc("c", "")),
        &AllocationState::default(),
    );
    assert!(
        first.state_changes.is_none(),
        "the first sync is a whole state"
    );
    assert_eq!(first.state.services.len(), 3);

    // "b" removed, "d" added, "a" and "c" untouched.
    let d = desired_live(
        &mut live,
        &format!("{BASE}{}{}{}", svc("a", ""), svc("c", ""), svc("d", "")),
        &first.state,
    );
    assert!(d.state.services.is_empty());
    let changes = d
        .state_changes
        .expect("a reload keeping the pools is incremental");
    let keys: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["default/b", "default/d"]);
    assert_eq!(changes[0].1, None, "b is released");
    assert_eq!(
        changes[1].1.as_ref().map(|a| a.ips.clone()),
        Some(vec!["192.0.2.1".parse().unwrap()]),
        "d takes the address b freed"
    );
}

#[test]
fn a_reload_that_changes_the_pools_reports_the_whole_state() {
    let mut live = LiveAllocator::default();
    let first = desired_live(
        &mut live,
        &format!("{BASE}{}", svc("a", "")),
        &AllocationState::default(),
    );
    let more = BASE.replace("192.0.2.0/28", "192.0.2.0/27");
    let d = desired_live(&mut live, &format!("{more}{}", svc("a", "")), &first.state);
    assert!(d.state_changes.is_none());
    assert_eq!(d.state.services.len(), 1);
}

#[test]
fn a_pending_service_that_gets_a_released_address_is_among_the_changes() {
    let one = BASE.replace("[192.0.2.0/28, '2001:db8:100::/124']", "[192.0.2.7/32]");
    let mut live = LiveAllocator::default();
    let first = desired_live(
        &mut live,
        &format!("{one}{}{}", svc("a", ""), svc("b", "")),
        &AllocationState::default(),
    );
    assert_eq!(first.state.services.len(), 1, "b is pending: one address");
    let d = desired_live(&mut live, &format!("{one}{}", svc("b", "")), &first.state);
    let changes = d.state_changes.expect("incremental");
    let got: Vec<(&str, Option<Vec<IpAddr>>)> = changes
        .iter()
        .map(|(k, a)| (k.as_str(), a.as_ref().map(|a| a.ips.clone())))
        .collect();
    assert_eq!(
        got,
        vec![
            ("default/a", None),
            ("default/b", Some(vec!["192.0.2.7".parse().unwrap()])),
        ]
    );
}

const LOCAL_WEB_SLICE: &str = "
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [198.18.0.1]
  nodeName: node2
  conditions: {ready: true}
";

fn routes4_on(yaml: &str, node: &str, slices_complete: bool) -> Vec<String> {
    let opts = metallb_api::Options::default();
    let mut objects = metallb_api::load_str(yaml, "test.yaml", &opts).expect("loads");
    objects.endpoint_slices_complete = slices_complete;
    let config = metallb_api::validate(&objects, &opts)
        .expect("valid")
        .config;
    let d = compute(
        &config,
        &NodeInfo::from_config(&config, node),
        &AllocationState::default(),
    );
    d.routes["tor4"]
        .iter()
        .map(|r| r.prefix.to_string())
        .collect()
}

#[test]
fn an_etp_local_service_goes_over_bgp_only_from_the_nodes_with_a_ready_endpoint() {
    let yaml = format!(
        "{BASE}{}{}{LOCAL_WEB_SLICE}",
        svc("web", "  externalTrafficPolicy: Local\n"),
        svc("other", "")
    );
    // node2 holds web's endpoint: both Services; node1 only the Cluster one
    assert_eq!(
        routes4_on(&yaml, "node2", false),
        vec!["192.0.2.0/32", "192.0.2.1/32"]
    );
    assert_eq!(routes4_on(&yaml, "node1", false), vec!["192.0.2.0/32"]);
}

#[test]
fn an_etp_local_service_without_slices_is_announced_from_files_but_not_from_the_api() {
    let yaml = format!("{BASE}{}", svc("web", "  externalTrafficPolicy: Local\n"));
    // a file without slices: endpoints unknown, announced as before
    assert_eq!(routes4_on(&yaml, "node1", false), vec!["192.0.2.0/32"]);
    // the API server's complete list without a slice: no endpoint anywhere
    assert!(routes4_on(&yaml, "node1", true).is_empty());
}
