//! Adj-RIB-Out: the attributes each session sends, and minimal diffs.

use std::net::Ipv4Addr;

use bgp_proto::adj_rib_out::{AdjRibOut, ExportContext, RouteSpec};
use bgp_proto::*;
use ipnet::IpNet;

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
    let ups = decode_all(
        &rib.initial(&[Family::IPV4_UNICAST], &c.params).unwrap(),
        &c.params,
    );
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
    rib.initial(&[Family::IPV4_UNICAST], &c.params).unwrap();

    // Nothing changed: nothing to send.
    rib.set_routes(&c, routes.iter());
    assert!(rib.diff(&c.params).unwrap().is_empty());

    // One removed, one added, one with a new community.
    routes.remove(0);
    routes.push(route("10.0.1.1/32"));
    routes[10].communities.push(Community::new(65000, 7));
    rib.set_routes(&c, routes.iter());
    let ups = decode_all(&rib.diff(&c.params).unwrap(), &c.params);
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
    let ups = decode_all(&rib.diff(&c.params).unwrap(), &c.params);
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
    rib.initial(&[Family::IPV4_UNICAST], &c.params).unwrap();
    let msgs = rib.refresh(Family::IPV4_UNICAST, true, &c.params).unwrap();
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
    let plain = rib.refresh(Family::IPV4_UNICAST, false, &c.params).unwrap();
    assert_eq!(plain.len(), 1);
}

#[test]
fn after_a_reset_everything_is_sent_again() {
    let c = ctx(true);
    let mut rib = AdjRibOut::new();
    rib.set_routes(&c, [route("203.0.113.1/32")].iter());
    rib.initial(&[Family::IPV4_UNICAST], &c.params).unwrap();
    rib.reset();
    assert_eq!(rib.advertised_len(), 0);
    assert_eq!(
        decode_all(&rib.diff(&c.params).unwrap(), &c.params)[0]
            .nlri
            .len(),
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
    let ups = decode_all(
        &rib.initial(&[Family::IPV4_UNICAST], &c.params).unwrap(),
        &c.params,
    );
    assert_eq!(
        ups[0].nlri,
        vec![Nlri::new("203.0.113.2/32".parse().unwrap())]
    );
}
