//! The UPDATE builder packs as many prefixes as the message size allows.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::builder::{AttrSet, BuildError, UpdateBuilder};
use bgp_proto::*;
use ipnet::IpNet;

fn v4(n: u32) -> Nlri {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    Nlri::new(IpNet::new(Ipv4Addr::from(base + n).into(), 32).unwrap())
}

fn v6(n: u32) -> Nlri {
    let base = u128::from("2001:db8::".parse::<Ipv6Addr>().unwrap());
    Nlri::new(IpNet::new(Ipv6Addr::from(base + u128::from(n)).into(), 128).unwrap())
}

fn ebgp_attrs(next_hop: NextHop) -> Arc<AttrSet> {
    Arc::new(AttrSet {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([64512])),
        ],
        next_hop,
    })
}

fn v6_next_hop(link_local: bool) -> NextHop {
    NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: link_local.then(|| "fe80::1".parse().unwrap()),
    }
}

/// Builds, then decodes every message back; returns (prefixes per message,
/// every announced prefix, every withdrawn prefix).
fn build_and_decode(
    b: UpdateBuilder,
    params: &SessionParams,
) -> (Vec<usize>, BTreeSet<Nlri>, BTreeSet<Nlri>) {
    let msgs = b.build().unwrap();
    let mut counts = Vec::new();
    let (mut ann, mut wd) = (BTreeSet::new(), BTreeSet::new());
    for m in msgs {
        assert!(m.len() <= params.max_message_len(), "{} bytes", m.len());
        let Message::Update(u) = Message::decode(m, params).unwrap() else {
            panic!()
        };
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        counts.push(u.announced().count() + u.withdrawn_all().count());
        ann.extend(u.announced().copied());
        wd.extend(u.withdrawn_all().copied());
    }
    (counts, ann, wd)
}

#[test]
fn eight_hundred_ten_ipv4_host_routes_fit_in_one_4096_byte_update() {
    let params = SessionParams::four_octet();
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(
        ebgp_attrs(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))),
        (0..2000).map(v4),
    );
    let (counts, ann, _) = build_and_decode(b, &params);
    assert_eq!(counts, vec![810, 810, 380]);
    assert_eq!(ann, (0..2000).map(v4).collect());
}

#[test]
fn ibgp_attributes_with_local_pref_still_fit_810_host_routes() {
    let params = SessionParams::four_octet();
    let attrs = Arc::new(AttrSet {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::default()),
            PathAttribute::LocalPref(100),
        ],
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
    });
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(attrs, (0..811).map(v4));
    assert_eq!(build_and_decode(b, &params).0, vec![810, 1]);
}

#[test]
fn two_hundred_thirty_seven_ipv6_host_routes_fit_in_one_mp_reach() {
    let params = SessionParams::four_octet();
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(ebgp_attrs(v6_next_hop(false)), (0..500).map(v6));
    let (counts, ann, _) = build_and_decode(b, &params);
    assert_eq!(counts, vec![237, 237, 26]);
    assert_eq!(ann.len(), 500);
}

#[test]
fn a_link_local_next_hop_leaves_room_for_236_ipv6_host_routes() {
    let params = SessionParams::four_octet();
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(ebgp_attrs(v6_next_hop(true)), (0..237).map(v6));
    assert_eq!(build_and_decode(b, &params).0, vec![236, 1]);
}

#[test]
fn withdrawals_pack_814_ipv4_and_239_ipv6_host_routes_per_update() {
    let params = SessionParams::four_octet();
    let mut b = UpdateBuilder::new(params.clone());
    (0..1000).map(v4).for_each(|n| b.withdraw(n));
    (0..300).map(v6).for_each(|n| b.withdraw(n));
    let (counts, _, wd) = build_and_decode(b, &params);
    assert_eq!(counts, vec![814, 186, 239, 61]);
    assert_eq!(wd.len(), 1300);
}

#[test]
fn extended_messages_pack_13098_ipv4_host_routes() {
    let params = SessionParams {
        extended_message: true,
        ..SessionParams::four_octet()
    };
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(
        ebgp_attrs(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))),
        (0..13_099).map(v4),
    );
    assert_eq!(build_and_decode(b, &params).0, vec![13_098, 1]);
}

#[test]
fn ipv4_routes_with_an_ipv6_next_hop_go_in_mp_reach() {
    // RFC 8950.
    let params = SessionParams::four_octet();
    let mut b = UpdateBuilder::new(params.clone());
    b.announce_all(ebgp_attrs(v6_next_hop(false)), (0..10).map(v4));
    let msgs = b.build().unwrap();
    let Message::Update(u) = Message::decode(msgs[0].clone(), &params).unwrap() else {
        panic!()
    };
    assert!(u.nlri.is_empty());
    let mp = u.mp_reach().unwrap();
    assert_eq!(mp.family, Family::IPV4_UNICAST);
    assert_eq!(mp.nlri.prefixes().len(), 10);
}

#[test]
fn routes_with_different_attributes_go_in_different_updates() {
    let params = SessionParams::four_octet();
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let with_community = Arc::new(AttrSet {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([64512])),
            PathAttribute::Communities(vec![Community::new(64512, 100)]),
        ],
        next_hop: nh.clone(),
    });
    let mut b = UpdateBuilder::new(params.clone());
    b.announce(ebgp_attrs(nh), v4(1));
    b.announce(with_community, v4(2));
    let msgs = b.build().unwrap();
    assert_eq!(msgs.len(), 2);
    let with: Vec<usize> = msgs
        .iter()
        .map(|m| match Message::decode(m.clone(), &params).unwrap() {
            Message::Update(u) => u.communities().len(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(with.iter().sum::<usize>(), 1);
}

#[test]
fn an_ipv6_prefix_cannot_use_an_ipv4_next_hop() {
    let mut b = UpdateBuilder::new(SessionParams::four_octet());
    b.announce(ebgp_attrs(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))), v6(1));
    assert!(matches!(b.build(), Err(BuildError::NextHopFamily { .. })));
}

#[test]
fn end_of_rib_markers_are_recognised_per_family() {
    for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let bytes = Message::Update(Update::end_of_rib(f))
            .to_bytes(&SessionParams::four_octet())
            .unwrap();
        let Message::Update(u) = Message::decode(bytes, &SessionParams::four_octet()).unwrap()
        else {
            panic!()
        };
        assert_eq!(u.end_of_rib_family(), Some(f));
    }
    assert_eq!(
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST))
            .encoded_len(&SessionParams::default()),
        23
    );
}
