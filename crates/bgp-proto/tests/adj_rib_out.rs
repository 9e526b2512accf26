//! Adj-RIB-Out: the attributes each session sends, and minimal diffs.

use std::net::Ipv4Addr;

use bgp_proto::adj_rib_out::{AdjRibOut, ExportContext, RouteSpec};
use bgp_proto::*;
use ipnet::IpNet;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn ctx(ebgp: bool) -> ExportContext {
    ExportContext {
        local_as: 64512,
        ebgp,
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        next_hop_v6: None,
        link_local_v6: None,
        families: vec![Family::IPV4_UNICAST],
        extended_next_hop: false,
        params: SessionParams {
            ebgp,
            ..SessionParams::four_octet()
        },
    }
}

fn route(p: &str) -> RouteSpec {
    RouteSpec::new(p.parse().unwrap())
}

/// Everything pending, in one go.
fn drain(rib: &mut AdjRibOut, params: &SessionParams) -> Vec<bytes::Bytes> {
    rib.next_updates(params, usize::MAX).unwrap()
}

fn initial(rib: &mut AdjRibOut, c: &ExportContext) -> Vec<bytes::Bytes> {
    rib.start(&c.families);
    drain(rib, &c.params)
}

fn decode_all(msgs: &[bytes::Bytes], params: &SessionParams) -> Vec<Update> {
    msgs.iter()
        .map(|m| match Message::decode(m.clone(), params).unwrap() {
            Message::Update(u) => u,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn ebgp_routes_carry_our_as_and_no_local_pref() {
    let c = ctx(true);
    let mut r = route("203.0.113.1/32");
    r.local_pref = Some(200);
    r.communities = vec![
        Community::new(65000, 2),
        Community::new(65000, 1),
        Community::new(65000, 1),
    ];
    let a = c.attributes(&r).unwrap();
    assert!(a
        .attributes
        .contains(&PathAttribute::AsPath(AsPath::sequence([64512]))));
    assert!(!a
        .attributes
        .iter()
        .any(|x| matches!(x, PathAttribute::LocalPref(_))));
    // Sorted and deduplicated.
    assert!(a.attributes.contains(&PathAttribute::Communities(vec![
        Community::new(65000, 1),
        Community::new(65000, 2)
    ])));
    assert_eq!(a.next_hop, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
}

#[test]
fn ibgp_routes_have_an_empty_as_path_and_local_pref_defaulting_to_100() {
    let c = ctx(false);
    let a = c.attributes(&route("203.0.113.1/32")).unwrap();
    assert!(a
        .attributes
        .contains(&PathAttribute::AsPath(AsPath::default())));
    assert!(a.attributes.contains(&PathAttribute::LocalPref(100)));
    let mut r = route("203.0.113.1/32");
    r.local_pref = Some(250);
    assert!(c
        .attributes(&r)
        .unwrap()
        .attributes
        .contains(&PathAttribute::LocalPref(250)));
}

#[test]
fn a_four_octet_as_travels_as_as_trans_plus_as4_path_to_a_two_octet_peer() {
    let mut c = ctx(true);
    c.local_as = 4_200_000_001;
    c.params.four_octet_as = false;
    let a = c.attributes(&route("203.0.113.1/32")).unwrap();
    assert!(a
        .attributes
        .contains(&PathAttribute::As4Path(AsPath::sequence([4_200_000_001]))));
}

#[test]
fn ipv6_routes_are_left_out_of_a_session_without_ipv6() {
    let c = ctx(true);
    assert!(c.attributes(&route("2001:db8::1/128")).is_none());
    let mut rib = AdjRibOut::new();
    rib.set_routes(
        &c,
        [route("2001:db8::1/128"), route("203.0.113.1/32")].iter(),
    );
    assert_eq!(rib.desired_len(), 1);
}

#[test]
fn the_initial_table_ends_with_end_of_rib_per_family() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    let routes: Vec<RouteSpec> = (1..=3)
        .map(|i| route(&format!("203.0.113.{i}/32")))
        .collect();
    rib.set_routes(&c, routes.iter());
    let ups = decode_all(&initial(&mut rib, &c), &c.params);
    assert_eq!(
        ups.len(),
        2,
        "one UPDATE with all three prefixes, then End-of-RIB"
    );
    assert_eq!(ups[0].nlri.len(), 3);
    assert_eq!(ups[1].end_of_rib_family(), Some(Family::IPV4_UNICAST));
    assert_eq!(rib.advertised_len(), 3);
}

#[test]
fn a_change_sends_only_the_difference() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    let mut routes: Vec<RouteSpec> = (1..=100)
        .map(|i| route(&format!("10.0.0.{i}/32")))
        .collect();
    rib.set_routes(&c, routes.iter());
    initial(&mut rib, &c);

    // Nothing changed: nothing to send.
    rib.set_routes(&c, routes.iter());
    assert!(drain(&mut rib, &c.params).is_empty());

    // One removed, one added, one with a new community.
    routes.remove(0);
    routes.push(route("10.0.1.1/32"));
    routes[10].communities.push(Community::new(65000, 7));
    rib.set_routes(&c, routes.iter());
    let ups = decode_all(&drain(&mut rib, &c.params), &c.params);
    let withdrawn: Vec<IpNet> = ups
        .iter()
        .flat_map(|u| u.withdrawn_all().map(|n| n.prefix))
        .collect();
    let announced: Vec<IpNet> = ups
        .iter()
        .flat_map(|u| u.announced().map(|n| n.prefix))
        .collect();
    assert_eq!(withdrawn, vec!["10.0.0.1/32".parse::<IpNet>().unwrap()]);
    assert_eq!(announced.len(), 2);
    assert!(announced.contains(&"10.0.1.1/32".parse().unwrap()));
    assert!(announced.contains(&"10.0.0.12/32".parse().unwrap()));
    assert_eq!(rib.advertised_len(), 100);
}

#[test]
fn the_same_prefix_from_two_routes_keeps_the_union_of_communities() {
    let c = ctx(true);
    let mut a = route("203.0.113.1/32");
    a.communities.push(Community::new(65000, 1));
    let mut b = route("203.0.113.1/32");
    b.communities.push(Community::new(65000, 2));
    let mut rib = AdjRibOut::new();
    rib.set_routes(&c, [a, b].iter());
    let ups = decode_all(&drain(&mut rib, &c.params), &c.params);
    assert_eq!(ups.len(), 1);
    assert_eq!(
        ups[0].communities(),
        &[Community::new(65000, 1), Community::new(65000, 2)]
    );
}

#[test]
fn a_refresh_resends_the_family_between_borr_and_eorr_when_enhanced() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    rib.set_routes(&c, [route("203.0.113.1/32")].iter());
    initial(&mut rib, &c);
    rib.request_refresh(Family::IPV4_UNICAST, true);
    let msgs = drain(&mut rib, &c.params);
    let kinds: Vec<MessageType> = msgs
        .iter()
        .map(|m| Message::decode(m.clone(), &c.params).unwrap().kind())
        .collect();
    assert_eq!(
        kinds,
        vec![
            MessageType::RouteRefresh,
            MessageType::Update,
            MessageType::RouteRefresh
        ]
    );
    rib.request_refresh(Family::IPV4_UNICAST, false);
    let plain = drain(&mut rib, &c.params);
    assert_eq!(plain.len(), 1);
}

#[test]
fn after_a_reset_everything_is_sent_again() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    rib.set_routes(&c, [route("203.0.113.1/32")].iter());
    initial(&mut rib, &c);
    rib.reset();
    assert_eq!(rib.advertised_len(), 0);
    assert!(
        !rib.has_pending(),
        "nothing is owed to a session that is down"
    );
    assert_eq!(
        decode_all(&initial(&mut rib, &c), &c.params)[0].nlri.len(),
        1
    );
}

#[test]
fn a_route_too_big_for_any_update_is_left_out_and_reported_without_blocking_others() {
    let c = ctx(true);
    let mut huge = route("203.0.113.1/32");
    huge.communities = (0..1100).map(|i| Community::new(65000, i)).collect();
    let fine = route("203.0.113.2/32");
    let mut rib = AdjRibOut::new();
    let rejected = rib.set_routes(&c, [huge, fine].iter());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, "203.0.113.1/32".parse::<IpNet>().unwrap());
    assert!(
        rejected[0].1.contains("do not fit in a 4096-byte UPDATE"),
        "{}",
        rejected[0].1
    );
    let ups = decode_all(&initial(&mut rib, &c), &c.params);
    assert_eq!(
        ups[0].nlri,
        vec![Nlri::new("203.0.113.2/32".parse().unwrap())]
    );
}

fn dual_ctx() -> ExportContext {
    ExportContext {
        next_hop_v6: Some("2001:db8::1".parse().unwrap()),
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        ..ctx(true)
    }
}

/// Prefix number `i` of a fixed universe: IPv4 /32s, every eighth IPv6.
fn nth(i: u16) -> IpNet {
    if i % 8 == 7 {
        format!("2001:db8::{:x}/128", i).parse().unwrap()
    } else {
        v4(0xc612_0000u32 + u32::from(i))
    }
}

/// The peer's table: prefix -> communities it was last announced with.
#[derive(Default, Debug)]
struct PeerModel {
    table: BTreeMap<IpNet, Vec<Community>>,
    announcements: usize,
    end_of_rib: Vec<Family>,
    refresh_markers: Vec<(Family, RefreshSubtype)>,
}

impl PeerModel {
    fn apply(&mut self, msgs: &[bytes::Bytes], params: &SessionParams) {
        for m in msgs {
            match Message::decode(m.clone(), params).unwrap() {
                Message::Update(u) => {
                    if let Some(f) = u.end_of_rib_family() {
                        self.end_of_rib.push(f);
                        continue;
                    }
                    for n in u.withdrawn_all() {
                        self.table.remove(&n.prefix);
                    }
                    for n in u.announced() {
                        self.announcements += 1;
                        self.table.insert(n.prefix, u.communities().to_vec());
                    }
                }
                Message::RouteRefresh(r) => self.refresh_markers.push((r.family, r.subtype)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn expected(routes: &[RouteSpec]) -> BTreeMap<IpNet, Vec<Community>> {
    let mut t: BTreeMap<IpNet, Vec<Community>> = BTreeMap::new();
    for r in routes {
        t.entry(r.prefix).or_default().extend(&r.communities);
    }
    for c in t.values_mut() {
        c.sort_unstable();
        c.dedup();
    }
    t
}

#[derive(Clone, Debug)]
enum Op {
    Set(Vec<(u16, u8)>),
    Refresh(bool),
    Pull(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => proptest::collection::vec((0u16..1500, 0u8..3), 0..1500).prop_map(Op::Set),
        1 => any::<bool>().prop_map(Op::Refresh),
        3 => (1usize..4).prop_map(Op::Pull),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_changes_refreshes_and_pulls_leaves_the_peer_with_the_desired_table(
        ops in proptest::collection::vec(op(), 1..12),
        enhanced in any::<bool>(),
    ) {
        let c = dual_ctx();
        let mut rib = AdjRibOut::new();
        let mut peer = PeerModel::default();
        let mut routes: Vec<RouteSpec> = Vec::new();
        rib.start(&c.families);
        for op in ops {
            match op {
                Op::Set(spec) => {
                    routes = spec
                        .iter()
                        .map(|(i, comm)| {
                            let mut r = RouteSpec::new(nth(*i));
                            if *comm > 0 {
                                r.communities.push(Community::new(65000, u16::from(*comm)));
                            }
                            r
                        })
                        .collect();
                    rib.set_routes(&c, routes.iter());
                }
                Op::Refresh(v6) => {
                    let f = if v6 { Family::IPV6_UNICAST } else { Family::IPV4_UNICAST };
                    rib.request_refresh(f, enhanced);
                }
                Op::Pull(max) => {
                    let msgs = rib.next_updates(&c.params, max).unwrap();
                    prop_assert!(msgs.len() <= max, "{} messages for a budget of {max}", msgs.len());
                    peer.apply(&msgs, &c.params);
                }
            }
            let table: std::collections::BTreeSet<IpNet> =
                expected(&routes).keys().chain(peer.table.keys()).copied().collect();
            prop_assert!(
                rib.dirty_len() <= table.len(),
                "dirty {} > desired or advertised {}", rib.dirty_len(), table.len()
            );
        }
        while rib.has_pending() {
            let msgs = rib.next_updates(&c.params, 2).unwrap();
            prop_assert!(msgs.len() <= 2);
            peer.apply(&msgs, &c.params);
        }
        prop_assert_eq!(&peer.table, &expected(&routes));
        prop_assert_eq!(rib.advertised_len(), routes.iter().map(|r| r.prefix).collect::<std::collections::BTreeSet<_>>().len());
        peer.end_of_rib.sort_unstable();
        prop_assert_eq!(peer.end_of_rib, c.families.clone(), "one End-of-RIB per family");
        if !enhanced {
            prop_assert!(peer.refresh_markers.is_empty());
        }
        // BoRR and EoRR alternate per family, starting with BoRR.
        for f in &c.families {
            let marks: Vec<RefreshSubtype> =
                peer.refresh_markers.iter().filter(|(g, _)| g == f).map(|(_, s)| *s).collect();
            for (i, m) in marks.iter().enumerate() {
                let want = if i % 2 == 0 { RefreshSubtype::BeginningOfRefresh } else { RefreshSubtype::EndOfRefresh };
                prop_assert_eq!(*m, want);
            }
            prop_assert!(marks.len() % 2 == 0);
        }
    }
}

#[test]
fn churn_of_one_prefix_while_the_peer_is_not_pulling_sends_one_announcement() {
    let c = dual_ctx();
    let mut rib = AdjRibOut::new();
    let mut peer = PeerModel::default();
    let base: Vec<RouteSpec> = (0..100).map(|i| RouteSpec::new(nth(i))).collect();
    rib.set_routes(&c, base.iter());
    peer.apply(&initial(&mut rib, &c), &c.params);
    peer.announcements = 0;
    let mut routes = base.clone();
    for i in 0..1000u16 {
        routes[3].communities = vec![Community::new(65000, i)];
        rib.set_routes(&c, routes.iter());
        assert!(
            rib.dirty_len() <= 1,
            "dirty set grew to {}",
            rib.dirty_len()
        );
    }
    let msgs = drain(&mut rib, &c.params);
    assert_eq!(msgs.len(), 1);
    peer.apply(&msgs, &c.params);
    assert_eq!(peer.announcements, 1);
    assert_eq!(peer.table, expected(&routes));
}

#[test]
fn a_prefix_added_then_removed_before_it_was_sent_sends_nothing() {
    let c = dual_ctx();
    let mut rib = AdjRibOut::new();
    let base: Vec<RouteSpec> = (0..10).map(|i| RouteSpec::new(nth(i))).collect();
    rib.set_routes(&c, base.iter());
    initial(&mut rib, &c);
    let mut more = base.clone();
    more.push(RouteSpec::new(nth(500)));
    rib.set_routes(&c, more.iter());
    rib.set_routes(&c, base.iter());
    assert!(drain(&mut rib, &c.params).is_empty());
    assert!(!rib.has_pending());
}

#[test]
fn a_large_table_goes_out_in_full_updates_within_each_budget_then_end_of_rib() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    let routes: Vec<RouteSpec> = (0..20_000u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    rib.set_routes(&c, routes.iter());
    rib.start(&c.families);
    let mut peer = PeerModel::default();
    let mut messages = 0;
    while rib.has_pending() {
        let msgs = rib.next_updates(&c.params, 8).unwrap();
        assert!(
            !msgs.is_empty() && msgs.len() <= 8,
            "{} messages",
            msgs.len()
        );
        messages += msgs.len();
        peer.apply(&msgs, &c.params);
        if !peer.end_of_rib.is_empty() {
            assert_eq!(
                peer.table.len(),
                20_000,
                "End-of-RIB before the table was out"
            );
        }
    }
    // 810 /32s fill one 4096-byte UPDATE: 25 UPDATEs, plus End-of-RIB.
    assert_eq!(messages, 20_000usize.div_ceil(810) + 1);
    assert_eq!(peer.table.len(), 20_000);
    assert_eq!(peer.end_of_rib, vec![Family::IPV4_UNICAST]);
}

#[test]
fn many_refresh_requests_during_a_pass_cost_at_most_one_more_pass() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    let routes: Vec<RouteSpec> = (0..5000u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    rib.set_routes(&c, routes.iter());
    initial(&mut rib, &c);
    let mut peer = PeerModel::default();
    rib.request_refresh(Family::IPV4_UNICAST, true);
    peer.apply(&rib.next_updates(&c.params, 2).unwrap(), &c.params);
    for _ in 0..10_000 {
        rib.request_refresh(Family::IPV4_UNICAST, true);
    }
    peer.apply(&drain(&mut rib, &c.params), &c.params);
    assert_eq!(peer.announcements, 2 * 5000, "two passes, not 10 001");
    assert_eq!(
        peer.refresh_markers,
        [
            RefreshSubtype::BeginningOfRefresh,
            RefreshSubtype::EndOfRefresh
        ]
        .repeat(2)
        .into_iter()
        .map(|s| (Family::IPV4_UNICAST, s))
        .collect::<Vec<_>>()
    );
    // Requests before a pass starts join it.
    for _ in 0..100 {
        rib.request_refresh(Family::IPV4_UNICAST, false);
    }
    peer.announcements = 0;
    peer.apply(&drain(&mut rib, &c.params), &c.params);
    assert_eq!(peer.announcements, 5000);
}

fn v4(a: u32) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::from(Ipv4Addr::from(a)))
}
