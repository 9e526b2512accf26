//! Round-trip properties: every message and attribute we can build decodes
//! back to itself, and re-encodes to the same bytes.

mod common;

use bgp_proto::*;
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_open_round_trips(open in open()) {
        let msg = Message::Open(open);
        prop_assume!(msg.encoded_len(&SessionParams::default()) <= 4096);
        prop_assert_eq!(roundtrip(&msg, &SessionParams::default())?, msg);
    }

    #[test]
    fn every_update_round_trips(
        (params, update) in session_params().prop_flat_map(|p| (Just(p.clone()), update(p)))
    ) {
        let msg = Message::Update(update);
        prop_assume!(msg.encoded_len(&params) <= params.max_message_len());
        prop_assert_eq!(roundtrip(&msg, &params)?, msg);
    }

    #[test]
    fn every_attribute_round_trips_alone(
        (params, attr) in session_params().prop_flat_map(|p| (Just(p.clone()), attribute(&p)))
    ) {
        // An attribute alone in an UPDATE with no NLRI needs no companions
        // (an MP_REACH_NLRI with prefixes would need ORIGIN and AS_PATH).
        prop_assume!(!matches!(&attr, PathAttribute::MpReach(m) if !m.nlri.is_empty()));
        let msg = Message::Update(Update { attributes: vec![attr], ..Update::default() });
        prop_assume!(msg.encoded_len(&params) <= params.max_message_len());
        prop_assert_eq!(roundtrip(&msg, &params)?, msg);
    }

    #[test]
    fn every_notification_round_trips(n in notification()) {
        let msg = Message::Notification(n);
        prop_assert_eq!(roundtrip(&msg, &SessionParams::default())?, msg);
    }

    #[test]
    fn every_route_refresh_round_trips(r in route_refresh()) {
        let msg = Message::RouteRefresh(r);
        prop_assert_eq!(roundtrip(&msg, &SessionParams::default())?, msg);
    }

    #[test]
    fn shutdown_communication_survives_a_round_trip(reason in "\\PC{0,300}") {
        let n = Notification::admin_shutdown(&reason);
        let back = match roundtrip(&Message::Notification(n), &SessionParams::default())? {
            Message::Notification(n) => n,
            other => return Err(TestCaseError::fail(format!("got {other:?}"))),
        };
        let text = back.shutdown_communication().unwrap_or("");
        // RFC 9003 §2: at most 255 octets, cut on a character boundary.
        prop_assert!(text.len() <= 255);
        prop_assert!(reason.starts_with(text));
        if reason.len() <= 255 {
            prop_assert_eq!(text, reason.as_str());
        }
    }

    #[test]
    fn decoding_any_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        params in session_params(),
    ) {
        let mut framed = vec![0xffu8; 16];
        framed.extend_from_slice(&((bytes.len() + 19) as u16).to_be_bytes());
        framed.push(0);
        framed.extend_from_slice(&bytes);
        for t in 1..=5u8 {
            framed[18] = t;
            let _ = Message::decode(bytes::Bytes::from(framed.clone()), &params);
        }
    }
}

#[test]
fn keepalive_round_trips_as_exactly_nineteen_octets() {
    let bytes = Message::Keepalive
        .to_bytes(&SessionParams::default())
        .unwrap();
    assert_eq!(bytes.len(), 19);
    assert_eq!(&bytes[..16], &[0xff; 16]);
    assert_eq!(bytes[18], 4);
    assert_eq!(
        roundtrip(&Message::Keepalive, &SessionParams::default()).unwrap(),
        Message::Keepalive
    );
}

#[test]
fn four_octet_as_numbers_become_as_trans_on_a_two_octet_session() {
    let params = SessionParams::default();
    let update = Update {
        attributes: vec![PathAttribute::AsPath(AsPath::sequence([
            4_200_000_001,
            65001,
        ]))],
        ..Update::default()
    };
    let bytes = Message::Update(update).to_bytes(&params).unwrap();
    let Message::Update(back) = Message::decode(bytes, &params).unwrap() else {
        panic!()
    };
    let asns: Vec<u32> = back.as_path().unwrap().asns().collect();
    assert_eq!(asns, vec![23456, 65001]);
}

#[test]
fn open_with_many_capabilities_uses_the_rfc9072_extended_form() {
    use std::net::Ipv4Addr;
    let caps: Vec<Capability> = (0..100)
        .map(|i| Capability::Multiprotocol(Family::new(1, i as u8)))
        .collect();
    let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
    let bytes = Message::Open(open.clone())
        .to_bytes(&SessionParams::default())
        .unwrap();
    // Opt Parm Len 255, then the 255 marker, then a 2-octet length.
    assert_eq!(bytes[28], 255);
    assert_eq!(bytes[29], 255);
    assert_eq!(
        u16::from_be_bytes([bytes[30], bytes[31]]) as usize,
        3 + 100 * 6
    );
    assert_eq!(
        Message::decode(bytes, &SessionParams::default()).unwrap(),
        Message::Open(open)
    );
}

#[test]
fn large_attribute_values_switch_to_the_extended_length_flag() {
    let params = SessionParams::four_octet();
    let comms = (0..100).map(Community).collect::<Vec<_>>();
    let update = Update {
        attributes: vec![PathAttribute::Communities(comms)],
        ..Update::default()
    };
    let bytes = Message::Update(update.clone()).to_bytes(&params).unwrap();
    // flags at offset 23: optional, transitive, extended length.
    assert_eq!(bytes[23], 0x80 | 0x40 | 0x10);
    assert_eq!(u16::from_be_bytes([bytes[25], bytes[26]]), 400);
    assert_eq!(
        Message::decode(bytes, &params).unwrap(),
        Message::Update(update)
    );
}
