use super::*;

fn pod(node: &str, ip: &str, created: i64) -> PodRecord {
    PodRecord {
        node: Some(node.to_string()),
        ips: vec![ip.parse().unwrap()],
        terminating: false,
        finished: false,
        ready: true,
        created,
    }
}

fn nodes(n: &[&str]) -> BTreeSet<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn members_of(p: &Projection) -> Vec<(String, String)> {
    match &p.members {
        Some(Ok(m)) => m
            .iter()
            .map(|m| (m.name.clone(), m.addr.to_string()))
            .collect(),
        other => panic!("no members: {other:?}"),
    }
}

#[test]
fn each_running_pod_is_its_node_at_its_pod_ip() {
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-b".to_string(), pod("n2", "192.0.2.12", 10)),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2"]), DEFAULT_LABELS, "n1");
    assert_eq!(
        members_of(&p),
        [
            ("n1".into(), "192.0.2.11".into()),
            ("n2".into(), "192.0.2.12".into())
        ]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn a_pod_without_an_ip_yet_is_not_a_member() {
    let mut pending = pod("n2", "192.0.2.12", 10);
    pending.ips.clear();
    let unscheduled = PodRecord {
        node: None,
        ..pod("x", "192.0.2.13", 10)
    };
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-b".to_string(), pending),
        ("speaker-c".to_string(), unscheduled),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2"]), DEFAULT_LABELS, "n1");
    assert_eq!(members_of(&p), [("n1".into(), "192.0.2.11".into())]);
}

#[test]
fn a_terminating_or_finished_pod_leaves_the_members() {
    let mut going = pod("n2", "192.0.2.12", 10);
    going.terminating = true;
    let mut failed = pod("n3", "192.0.2.13", 10);
    failed.finished = true;
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-b".to_string(), going),
        ("speaker-c".to_string(), failed),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2", "n3"]), DEFAULT_LABELS, "n1");
    assert_eq!(members_of(&p), [("n1".into(), "192.0.2.11".into())]);
}

#[test]
fn of_two_pods_on_one_node_the_newest_is_the_member() {
    let pods = BTreeMap::from([
        ("speaker-old".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-new".to_string(), pod("n1", "192.0.2.21", 20)),
        ("speaker-b".to_string(), pod("n2", "192.0.2.12", 10)),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2"]), DEFAULT_LABELS, "n2");
    assert_eq!(
        members_of(&p),
        [
            ("n1".into(), "192.0.2.21".into()),
            ("n2".into(), "192.0.2.12".into())
        ]
    );
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    assert!(
        p.notes[0].contains("node n1 has 2 speaker Pods"),
        "{}",
        p.notes[0]
    );
    assert!(p.notes[0].contains("Pod speaker-new"), "{}", p.notes[0]);
}

#[test]
fn a_pod_on_a_node_without_a_node_object_is_left_out() {
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-z".to_string(), pod("ghost", "192.0.2.99", 10)),
    ]);
    let p = project(&pods, &nodes(&["n1"]), DEFAULT_LABELS, "n1");
    assert_eq!(members_of(&p), [("n1".into(), "192.0.2.11".into())]);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("Pod speaker-z: spec.nodeName \"ghost\" names no Node")),
        "{:?}",
        p.notes
    );
}

#[test]
fn no_pod_on_this_node_is_an_error_naming_the_node_and_the_labels() {
    let pods = BTreeMap::from([("speaker-b".to_string(), pod("n2", "192.0.2.12", 10))]);
    let p = project(&pods, &nodes(&["n1", "n2"]), DEFAULT_LABELS, "n1");
    let Some(Err(e)) = &p.members else {
        panic!("{p:?}")
    };
    assert!(e.contains("on node n1 (--node-name)"), "{e}");
    assert!(e.contains(DEFAULT_LABELS), "{e}");
    assert!(e.contains("found Pods on: n2"), "{e}");
}

#[test]
fn no_matching_pod_at_all_falls_back_to_the_nodes() {
    let p = project(&BTreeMap::new(), &nodes(&["n1"]), "app=x", "n1");
    assert_eq!(p.members, None);
    assert!(p.notes[0].contains("\"app=x\""), "{:?}", p.notes);
}

#[test]
fn members_take_the_address_family_of_this_nodes_pod() {
    let dual = PodRecord {
        ips: vec![
            "2001:db8::12".parse().unwrap(),
            "192.0.2.12".parse().unwrap(),
        ],
        ..pod("n2", "192.0.2.12", 10)
    };
    let v6_only = pod("n3", "2001:db8::13", 10);
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), pod("n1", "192.0.2.11", 10)),
        ("speaker-b".to_string(), dual),
        ("speaker-c".to_string(), v6_only),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2", "n3"]), DEFAULT_LABELS, "n1");
    assert_eq!(
        members_of(&p),
        [
            ("n1".into(), "192.0.2.11".into()),
            ("n2".into(), "192.0.2.12".into())
        ]
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("Pod speaker-c (node n3)")),
        "{:?}",
        p.notes
    );
}

#[test]
fn another_nodes_pod_that_is_not_ready_is_not_a_member_but_this_nodes_own_is() {
    // n2's speaker is still pulling its image: the node's IP is already
    // there (hostNetwork) but nobody will answer; n1 (this node) is not
    // Ready yet either, its readiness waiting on this very speaker.
    let starting = |node: &str, ip: &str| PodRecord {
        ready: false,
        ..pod(node, ip, 10)
    };
    let pods = BTreeMap::from([
        ("speaker-a".to_string(), starting("n1", "192.0.2.11")),
        ("speaker-b".to_string(), starting("n2", "192.0.2.12")),
        ("speaker-c".to_string(), pod("n3", "192.0.2.13", 10)),
    ]);
    let p = project(&pods, &nodes(&["n1", "n2", "n3"]), DEFAULT_LABELS, "n1");
    assert_eq!(
        members_of(&p),
        [
            ("n1".to_string(), "192.0.2.11".to_string()),
            ("n3".to_string(), "192.0.2.13".to_string())
        ]
    );
}
