//! `externalTrafficPolicy: Local` with EndpointSlices in the config: the
//! candidates are the matching nodes with a ready endpoint of the Service.

use super::*;

fn slice(name: &str, service: &str, endpoints: &str) -> String {
    format!(
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: {endpoints}\n"
    )
}

const LOCAL: &str = "  externalTrafficPolicy: Local\n";

#[test]
fn local_traffic_policy_with_slices_restricts_ready_nodes_to_those_with_a_ready_endpoint() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("a", "{}"),
        svc("web", LOCAL),
        slice(
            "web-1",
            "web",
            "[{addresses: [198.18.0.2], nodeName: n2}, {addresses: [198.18.0.3], nodeName: n3, conditions: {ready: true}}]"
        )
    );
    let p = plan(&yaml);
    assert_eq!(p.desired.vips[0].ready_nodes, Some(set(&["n2", "n3"])));
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn cluster_traffic_policy_with_slices_gives_no_ready_set() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("a", "{}"),
        svc("web", ""),
        slice("web-1", "web", "[{addresses: [198.18.0.2], nodeName: n2}]")
    );
    assert_eq!(plan(&yaml).desired.vips[0].ready_nodes, None);
}

#[test]
fn local_traffic_policy_without_any_slice_gives_no_ready_set() {
    let yaml = format!("{POOLS}{}{}", ad("a", "{}"), svc("web", LOCAL));
    let p = plan(&yaml);
    assert_eq!(p.desired.vips[0].ready_nodes, None);
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
}

#[test]
fn an_endpoint_not_ready_or_terminating_or_of_another_service_is_not_counted() {
    let yaml = format!(
        "{POOLS}{}{}{}{}",
        ad("a", "{}"),
        svc("web", LOCAL),
        slice(
            "web-1",
            "web",
            "[{addresses: [198.18.0.1], nodeName: n1, conditions: {ready: false}}, {addresses: [198.18.0.2], nodeName: n2, conditions: {ready: true, terminating: true}}, {addresses: [198.18.0.3], nodeName: n3}]"
        ),
        slice("db-1", "db", "[{addresses: [198.18.0.4], nodeName: n1}]")
    );
    let p = plan(&yaml);
    assert_eq!(p.desired.vips[0].ready_nodes, Some(set(&["n3"])));
}

#[test]
fn check_gives_the_reason_when_no_candidate_has_a_ready_endpoint() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        ad("a", "{}"),
        svc("web", LOCAL),
        slice(
            "web-1",
            "web",
            "[{addresses: [198.18.0.1], nodeName: n1, conditions: {ready: false}}]"
        )
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
        lines[1].contains("no candidate: externalTrafficPolicy is Local and none of the 3 live matching nodes has a ready endpoint"),
        "{lines:?}"
    );
}

/// Two Services sharing 192.0.2.5 (allow-shared-ip), with these extras.
fn shared(a_extra: &str, b_extra: &str) -> String {
    let share = "  loadBalancerIP: 192.0.2.5\n";
    format!(
        "{}{}",
        svc("a", &format!("{share}{a_extra}")).replace(
            "labels: {app: a}}",
            "labels: {app: a}, annotations: {metallb.io/allow-shared-ip: k}}"
        ),
        svc("b", &format!("{share}{b_extra}"))
            .replace("port: 80", "port: 81")
            .replace(
                "labels: {app: b}}",
                "labels: {app: b}, annotations: {metallb.io/allow-shared-ip: k}}"
            )
    )
}

#[test]
fn a_shared_ip_takes_the_union_of_ready_nodes_or_none_when_one_service_is_cluster() {
    let slices = format!(
        "{}{}",
        slice("a-1", "a", "[{addresses: [198.18.0.1], nodeName: n1}]"),
        slice("b-1", "b", "[{addresses: [198.18.0.2], nodeName: n2}]")
    );
    let both = format!("{POOLS}{}{}{slices}", ad("a", "{}"), shared(LOCAL, LOCAL));
    let p = plan(&both);
    assert_eq!(ips(&p), vec!["192.0.2.5"]);
    assert_eq!(p.desired.vips[0].ready_nodes, Some(set(&["n1", "n2"])));
    let mixed = format!("{POOLS}{}{}{slices}", ad("a", "{}"), shared(LOCAL, ""));
    assert_eq!(plan(&mixed).desired.vips[0].ready_nodes, None);
}
