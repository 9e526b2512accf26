use std::sync::Arc;

use l2::node::{NodeStatus, VipStatus};

use super::*;

fn svc(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn owned(protocol: Protocol, name: &str, service: &str, items: &[&str]) -> Owned {
    Owned {
        protocol,
        name: name.into(),
        service: svc(service),
        items: list(items),
    }
}

fn announcing(entries: &[(Protocol, &str, &[&str])]) -> Announcing {
    entries
        .iter()
        .map(|(p, s, items)| ((*p, svc(s)), list(items)))
        .collect()
}

/// Plays the driver: every planned write succeeds.
fn apply_all(core: &mut StatusCore) -> Vec<Action> {
    let plan = core.plan();
    let mut n = 0;
    for a in &plan {
        match a {
            Action::Create {
                protocol,
                service,
                items,
            } => {
                n += 1;
                core.created(Owned {
                    protocol: *protocol,
                    name: format!("{}gen{n}", protocol.generate_name()),
                    service: service.clone(),
                    items: items.clone(),
                });
            }
            Action::Patch {
                protocol,
                name,
                items,
                ..
            } => core.patched(*protocol, name, items.clone()),
            Action::Delete { protocol, name } => core.deleted(*protocol, name),
            Action::Event { .. } => unreachable!("plan returns no Event"),
        }
    }
    plan
}

fn event(protocol: Protocol, service: &str) -> Action {
    Action::Event {
        protocol,
        service: svc(service),
    }
}

#[test]
fn nothing_is_written_before_the_first_list() {
    let mut core = StatusCore::new();
    let ev = core.set_announcing(announcing(&[(Protocol::Bgp, "web", &["tor"])]));
    assert!(ev.is_empty(), "{ev:?}");
    assert!(core.plan().is_empty());
    let ev = core.set_owned(Vec::new());
    assert_eq!(ev, vec![event(Protocol::Bgp, "web")]);
    assert_eq!(
        core.plan(),
        vec![Action::Create {
            protocol: Protocol::Bgp,
            service: svc("web"),
            items: list(&["tor"]),
        }]
    );
}

#[test]
fn a_restart_with_its_objects_present_adopts_them_without_duplicate_or_event() {
    let mut core = StatusCore::new();
    core.set_announcing(announcing(&[
        (Protocol::Bgp, "web", &["tor"]),
        (Protocol::Layer2, "dns", &["eth0"]),
    ]));
    let ev = core.set_owned(vec![
        owned(Protocol::Bgp, "bgp-x1", "web", &["tor"]),
        owned(Protocol::Layer2, "l2-x2", "dns", &["eth0"]),
    ]);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(core.plan().is_empty(), "{:?}", core.plan());
}

#[test]
fn a_restart_deletes_nothing_before_it_knows_what_it_announces() {
    let mut core = StatusCore::new();
    let ev = core.set_owned(vec![owned(Protocol::Bgp, "bgp-x1", "web", &["tor"])]);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(core.plan().is_empty(), "{:?}", core.plan());
    let ev = core.set_announcing(announcing(&[(Protocol::Bgp, "web", &["tor"])]));
    assert!(ev.is_empty(), "adopted: no Event: {ev:?}");
    assert!(core.plan().is_empty(), "{:?}", core.plan());
}

#[test]
fn losing_the_election_deletes_the_l2_object() {
    let mut core = StatusCore::new();
    core.set_owned(Vec::new());
    core.set_announcing(announcing(&[(Protocol::Layer2, "dns", &["eth0"])]));
    apply_all(&mut core);
    let ev = core.set_announcing(Announcing::new());
    assert!(ev.is_empty(), "no Event when announcing stops: {ev:?}");
    assert_eq!(
        apply_all(&mut core),
        vec![Action::Delete {
            protocol: Protocol::Layer2,
            name: "l2-gen1".into()
        }]
    );
    assert!(core.plan().is_empty());
}

#[test]
fn a_changed_peer_set_patches_the_bgp_object_in_place() {
    let mut core = StatusCore::new();
    core.set_owned(vec![owned(Protocol::Bgp, "bgp-a", "web", &["tor1"])]);
    let ev = core.set_announcing(announcing(&[(Protocol::Bgp, "web", &["tor1", "tor2"])]));
    assert!(ev.is_empty(), "still announcing: no new Event: {ev:?}");
    assert_eq!(
        apply_all(&mut core),
        vec![Action::Patch {
            protocol: Protocol::Bgp,
            name: "bgp-a".into(),
            service: svc("web"),
            items: list(&["tor1", "tor2"]),
        }]
    );
    assert!(core.plan().is_empty());
}

#[test]
fn a_deleted_service_loses_both_its_objects() {
    let mut core = StatusCore::new();
    core.set_owned(vec![
        owned(Protocol::Bgp, "bgp-a", "web", &["tor"]),
        owned(Protocol::Layer2, "l2-a", "web", &["eth0"]),
        owned(Protocol::Bgp, "bgp-b", "other", &["tor"]),
    ]);
    core.set_announcing(announcing(&[(Protocol::Bgp, "other", &["tor"])]));
    assert_eq!(
        core.plan(),
        vec![
            Action::Delete {
                protocol: Protocol::Layer2,
                name: "l2-a".into()
            },
            Action::Delete {
                protocol: Protocol::Bgp,
                name: "bgp-a".into()
            },
        ]
    );
}

#[test]
fn orphans_left_by_a_crash_are_deleted_on_start() {
    let mut core = StatusCore::new();
    core.set_announcing(Announcing::new());
    core.set_owned(vec![owned(Protocol::Layer2, "l2-old", "gone", &[])]);
    assert_eq!(
        core.plan(),
        vec![Action::Delete {
            protocol: Protocol::Layer2,
            name: "l2-old".into()
        }]
    );
}

#[test]
fn duplicates_keep_one_object_and_delete_the_rest() {
    let mut core = StatusCore::new();
    core.set_owned(vec![
        owned(Protocol::Bgp, "bgp-b", "web", &["old"]),
        owned(Protocol::Bgp, "bgp-a", "web", &["tor"]),
    ]);
    core.set_announcing(announcing(&[(Protocol::Bgp, "web", &["tor"])]));
    assert_eq!(
        apply_all(&mut core),
        vec![Action::Delete {
            protocol: Protocol::Bgp,
            name: "bgp-b".into()
        }]
    );
    assert!(core.plan().is_empty());
}

#[test]
fn a_failed_write_waits_for_a_fresh_list_and_then_creates_nothing_twice() {
    let mut core = StatusCore::new();
    core.set_owned(Vec::new());
    core.set_announcing(announcing(&[(Protocol::Bgp, "web", &["tor"])]));
    // The create reached the API server but its answer was lost.
    core.forget_owned();
    assert!(core.plan().is_empty());
    let ev = core.set_owned(vec![owned(Protocol::Bgp, "bgp-z", "web", &[])]);
    assert!(ev.is_empty(), "the Event was sent already: {ev:?}");
    assert_eq!(
        core.plan(),
        vec![Action::Patch {
            protocol: Protocol::Bgp,
            name: "bgp-z".into(),
            service: svc("web"),
            items: list(&["tor"]),
        }]
    );
}

#[test]
fn an_event_goes_out_once_per_start_of_announcing() {
    let mut core = StatusCore::new();
    core.set_owned(Vec::new());
    let a = announcing(&[(Protocol::Bgp, "web", &["tor"])]);
    assert_eq!(
        core.set_announcing(a.clone()),
        vec![event(Protocol::Bgp, "web")]
    );
    assert!(core.set_announcing(a.clone()).is_empty());
    assert!(core.set_announcing(Announcing::new()).is_empty());
    assert_eq!(core.set_announcing(a), vec![event(Protocol::Bgp, "web")]);
}

fn report(name: &str, announcements: Vec<Announcement>) -> ServiceReport {
    ServiceReport {
        namespace: "default".into(),
        name: name.into(),
        ips: Vec::new(),
        pool: None,
        pending: None,
        announcements,
    }
}

fn bgp(to: &str) -> Announcement {
    Announcement::Bgp {
        prefix: "198.51.100.5/32".parse().unwrap(),
        to: Arc::from(to),
    }
}

fn vip(ip: &str, winner: &str, on: &[&str]) -> VipStatus {
    VipStatus {
        ip: ip.parse().unwrap(),
        winner: Some(winner.into()),
        candidates: vec![winner.into()],
        reason: None,
        announcing_on: list(on),
        requests_received: 0,
        responses_sent: 0,
        gratuitous_sent: 0,
    }
}

fn l2(ip: &str) -> Announcement {
    Announcement::L2 {
        ip: ip.parse().unwrap(),
        via: Arc::from("ad"),
    }
}

#[test]
fn announcing_lists_each_services_peer_names_once() {
    let reports = vec![
        report(
            "web",
            vec![
                bgp("tor2 (192.0.2.6)"),
                bgp("tor1 (192.0.2.2)"),
                bgp("tor2 (192.0.2.6)"),
            ],
        ),
        report("pending", Vec::new()),
    ];
    let a = announcing_of("NodeA", &reports, None);
    assert_eq!(a, announcing(&[(Protocol::Bgp, "web", &["tor1", "tor2"])]));
}

#[test]
fn announcing_has_only_the_l2_vips_this_node_won() {
    let reports = vec![
        report("dns", vec![l2("192.0.2.100"), l2("2001:db8::100")]),
        report("web", vec![l2("192.0.2.101")]),
    ];
    let status = NodeStatus {
        vips: vec![
            vip("192.0.2.100", "NodeA", &["eth0"]),
            vip("2001:db8::100", "NodeA", &["eth1"]),
            vip("192.0.2.101", "NodeB", &[]),
        ],
        ..NodeStatus::default()
    };
    let a = announcing_of("NodeA", &reports, Some(&status));
    assert_eq!(
        a,
        announcing(&[(Protocol::Layer2, "dns", &["eth0", "eth1"])])
    );
    let fenced = NodeStatus {
        fenced: Some("no majority".into()),
        ..status
    };
    assert!(announcing_of("NodeA", &reports, Some(&fenced)).is_empty());
}
