use super::*;
use crate::election::NoCandidate;

struct FakeView {
    alive: BTreeSet<String>,
    no_carrier: BTreeMap<String, BTreeSet<String>>,
}

impl View for FakeView {
    fn alive(&self) -> BTreeSet<String> {
        self.alive.clone()
    }
    fn without_carrier_on(&self, interface: &str) -> BTreeSet<String> {
        self.no_carrier.get(interface).cloned().unwrap_or_default()
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn view(alive: &[&str]) -> FakeView {
    FakeView {
        alive: names(alive),
        no_carrier: BTreeMap::new(),
    }
}

fn vip(ip: &str, election_ip: &str, nodes: &[&str]) -> VipDesire {
    VipDesire {
        ip: ip.parse().unwrap(),
        election_ip: election_ip.parse().unwrap(),
        interfaces: None,
        matching_nodes: names(nodes),
        scores: BTreeMap::new(),
        ready_nodes: None,
        services: vec!["default/web".into()],
    }
}

fn links() -> Vec<LocalLink> {
    vec![
        LocalLink {
            ifindex: 2,
            name: "eth0".into(),
            arp: true,
            ndp: true,
        },
        LocalLink {
            ifindex: 3,
            name: "eth1".into(),
            arp: true,
            ndp: false,
        },
    ]
}

const NODES: [&str; 3] = ["a", "b", "c"];

fn winner(plan: &Plan, ip: &str) -> String {
    plan.winner_of(ip.parse().unwrap())
        .expect("a winner")
        .to_string()
}

#[test]
fn exactly_one_node_of_three_announces_a_vip_and_all_agree_on_it() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &NODES)],
    };
    let v = view(&NODES);
    let plans: Vec<Plan> = NODES
        .iter()
        .map(|me| reconcile(me, &desired, &v, &links()))
        .collect();
    let w = winner(&plans[0], "192.0.2.10");
    for (me, plan) in NODES.iter().zip(&plans) {
        assert_eq!(winner(plan, "192.0.2.10"), w, "node {me} disagrees");
        let announcing = !plan.announce.is_empty();
        assert_eq!(announcing, *me == w, "node {me}: {:?}", plan.announce);
    }
}

#[test]
fn the_winner_answers_ipv4_on_arp_interfaces_and_ipv6_on_ndp_interfaces() {
    // A dual-stack Service: both IPs share the election key, so one node
    // announces both, IPv4 on every ARP port and IPv6 on the NDP one.
    let desired = Desired {
        vips: vec![
            vip("192.0.2.10", "192.0.2.10", &NODES),
            vip("2001:db8::10", "192.0.2.10", &NODES),
        ],
    };
    let v = view(&NODES);
    let w = winner(&reconcile("a", &desired, &v, &links()), "192.0.2.10");
    let plan = reconcile(&w, &desired, &v, &links());
    assert_eq!(winner(&plan, "2001:db8::10"), w);
    assert_eq!(
        plan.announce.get(&"192.0.2.10".parse().unwrap()),
        Some(&BTreeSet::from([2, 3]))
    );
    assert_eq!(
        plan.announce.get(&"2001:db8::10".parse().unwrap()),
        Some(&BTreeSet::from([2]))
    );
}

#[test]
fn a_vip_limited_to_named_interfaces_is_answered_only_there() {
    let mut v4 = vip("192.0.2.10", "192.0.2.10", &["a"]);
    v4.interfaces = Some(names(&["eth1", "wlan9"]));
    let desired = Desired { vips: vec![v4] };
    let plan = reconcile("a", &desired, &view(&["a"]), &links());
    assert_eq!(
        plan.announce.get(&"192.0.2.10".parse().unwrap()),
        Some(&BTreeSet::from([3]))
    );
}

#[test]
fn a_node_without_carrier_on_the_vip_interfaces_hands_the_vip_to_the_next_candidate() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &NODES)],
    };
    let mut v = view(&NODES);
    let before = reconcile("a", &desired, &v, &links());
    let first = winner(&before, "192.0.2.10");
    // Down on eth0 only: still has eth1, stays a candidate.
    v.no_carrier.insert("eth0".into(), names(&[&first]));
    assert_eq!(
        winner(&reconcile("a", &desired, &v, &links()), "192.0.2.10"),
        first
    );
    // Down on both of the node's eligible interfaces: not a candidate.
    v.no_carrier.insert("eth1".into(), names(&[&first]));
    let after = reconcile("a", &desired, &v, &links());
    let second = winner(&after, "192.0.2.10");
    assert_ne!(second, first);
    assert_eq!(
        after.vips[0].election.candidates()[0],
        before.vips[0].election.candidates()[1],
        "the next in takeover order"
    );
}

#[test]
fn a_dead_winner_is_replaced_and_the_takeover_is_reported_for_the_new_one_only() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &NODES)],
    };
    let all = view(&NODES);
    let first = winner(&reconcile("a", &desired, &all, &links()), "192.0.2.10");
    let rest: Vec<&str> = NODES.iter().copied().filter(|n| *n != first).collect();
    let survivors = view(&rest);
    for me in &rest {
        let old = reconcile(me, &desired, &all, &links());
        let new = reconcile(me, &desired, &survivors, &links());
        let second = winner(&new, "192.0.2.10");
        assert!(rest.contains(&second.as_str()));
        let expected: Vec<IpAddr> = if *me == second {
            vec!["192.0.2.10".parse().unwrap()]
        } else {
            vec![]
        };
        assert_eq!(taken_over(me, &old, &new), expected, "node {me}");
    }
}

#[test]
fn an_unchanged_view_reports_no_takeover() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &NODES)],
    };
    let v = view(&NODES);
    for me in NODES {
        let plan = reconcile(me, &desired, &v, &links());
        assert!(taken_over(me, &plan, &plan).is_empty());
    }
}

#[test]
fn a_vip_new_in_the_desired_set_is_no_takeover() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &["a"])],
    };
    let plan = reconcile("a", &desired, &view(&NODES), &links());
    assert_eq!(winner(&plan, "192.0.2.10"), "a");
    assert!(taken_over("a", &Plan::default(), &plan).is_empty());
}

#[test]
fn a_vip_without_a_live_matching_node_has_no_winner_and_says_why() {
    let desired = Desired {
        vips: vec![vip("192.0.2.10", "192.0.2.10", &["d"])],
    };
    let plan = reconcile("a", &desired, &view(&NODES), &links());
    assert_eq!(
        plan.vips[0].election,
        Election::NoCandidate(NoCandidate::NoLiveNode { matching: 1 })
    );
    assert!(plan.announce.is_empty());
}

#[test]
fn an_ip_listed_twice_is_planned_once_from_its_first_entry() {
    let desired = Desired {
        vips: vec![
            vip("192.0.2.10", "192.0.2.10", &["a"]),
            vip("192.0.2.10", "192.0.2.10", &["b"]),
        ],
    };
    let plan = reconcile("a", &desired, &view(&NODES), &links());
    assert_eq!(plan.vips.len(), 1);
    assert_eq!(winner(&plan, "192.0.2.10"), "a");
}

#[test]
fn a_winner_without_a_port_of_the_vip_family_announces_nothing() {
    let desired = Desired {
        vips: vec![vip("2001:db8::10", "2001:db8::10", &["a"])],
    };
    let arp_only = vec![LocalLink {
        ifindex: 3,
        name: "eth1".into(),
        arp: true,
        ndp: false,
    }];
    let plan = reconcile("a", &desired, &view(&["a"]), &arp_only);
    assert_eq!(winner(&plan, "2001:db8::10"), "a");
    assert!(plan.announce.is_empty());
}

#[test]
fn a_thousand_vips_spread_over_three_nodes_are_each_announced_once() {
    let vips: Vec<VipDesire> = (0..1000u32)
        .map(|i| {
            let ip = format!("198.18.{}.{}", i / 256, i % 256);
            vip(&ip, &ip, &NODES)
        })
        .collect();
    let desired = Desired { vips };
    let v = view(&NODES);
    let started = std::time::Instant::now();
    let plans: Vec<Plan> = NODES
        .iter()
        .map(|me| reconcile(me, &desired, &v, &links()))
        .collect();
    let took = started.elapsed() / 3;
    let total: usize = plans.iter().map(|p| p.announce.len()).sum();
    assert_eq!(total, 1000);
    for p in &plans {
        assert!(p.announce.len() > 200, "hash spread: {}", p.announce.len());
    }
    eprintln!("reconcile of 1,000 VIPs: {took:?} per node");
}
