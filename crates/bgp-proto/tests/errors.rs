//! RFC 4271 §6.1-6.3 errors, one row each: the code, subcode and data we
//! would send, and (for UPDATEs) the RFC 7606 action that replaces the
//! session reset where the RFC allows it.

use bgp_proto::*;
use bytes::Bytes;

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn decode(bytes: Vec<u8>, params: &SessionParams) -> Result<Message, Notification> {
    let frame = Bytes::from(bytes);
    let mut codec = BgpCodec::new(params.clone());
    let mut buf = bytes::BytesMut::from(&frame[..]);
    match codec.decode_frame(&mut buf)? {
        Some(f) => Message::decode(f, params),
        None => panic!("test message is incomplete"),
    }
}

fn expect_err(bytes: Vec<u8>, code: u8, sub: u8, data: &[u8]) {
    let n = decode(bytes, &SessionParams::four_octet()).expect_err("must be rejected");
    assert_eq!((n.code.code(), n.code.subcode()), (code, sub), "{n}");
    assert_eq!(&n.data[..], data, "{n}");
    assert!(!n.field.is_empty(), "the error must name the field: {n}");
}

fn open_body(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

// ----- RFC 4271 §6.1: message header errors -----

#[test]
fn a_marker_that_is_not_all_ones_is_connection_not_synchronized() {
    let mut m = msg(4, &[]);
    m[3] = 0;
    expect_err(m, 1, 1, &[]);
}

#[test]
fn a_length_below_nineteen_is_bad_message_length_with_the_length_as_data() {
    let mut m = msg(4, &[]);
    m[16..18].copy_from_slice(&18u16.to_be_bytes());
    expect_err(m, 1, 2, &[0, 18]);
}

#[test]
fn a_length_above_4096_without_extended_messages_is_bad_message_length() {
    let mut m = msg(2, &[0; 4]);
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    expect_err(m, 1, 2, &4097u16.to_be_bytes());
}

#[test]
fn an_unknown_message_type_is_bad_message_type_with_the_type_as_data() {
    expect_err(msg(6, &[]), 1, 3, &[6]);
}

#[test]
fn a_keepalive_with_a_body_is_bad_message_length() {
    expect_err(msg(4, &[0]), 1, 2, &[0, 20]);
}

#[test]
fn an_open_shorter_than_29_octets_is_bad_message_length() {
    expect_err(msg(1, &[4; 9]), 1, 2, &[0, 28]);
}

#[test]
fn an_update_shorter_than_23_octets_is_bad_message_length() {
    expect_err(msg(2, &[0; 3]), 1, 2, &[0, 22]);
}

#[test]
fn a_notification_shorter_than_21_octets_is_bad_message_length() {
    expect_err(msg(3, &[6]), 1, 2, &[0, 20]);
}

#[test]
fn a_route_refresh_of_the_wrong_size_is_bad_message_length() {
    expect_err(msg(5, &[0, 1, 0]), 1, 2, &[0, 22]);
    expect_err(msg(5, &[0, 1, 0, 1, 9]), 1, 2, &[0, 24]);
}

#[test]
fn a_borr_of_the_wrong_size_is_a_route_refresh_error_carrying_the_message() {
    // RFC 7313 §5.
    let m = msg(5, &[0, 1, 1, 1, 9]);
    expect_err(m.clone(), 7, 1, &m);
}

// ----- RFC 4271 §6.2: OPEN message errors -----

fn open_err(body: Vec<u8>) -> Notification {
    match decode(msg(1, &body), &SessionParams::default()) {
        Ok(Message::Open(o)) => o.validate().expect_err("must be refused"),
        Ok(other) => panic!("decoded as {other:?}"),
        Err(n) => n,
    }
}

#[test]
fn an_unsupported_version_names_version_4_in_the_data() {
    let n = open_err(open_body(3, 65001, 90, [192, 0, 2, 1], &[]));
    assert_eq!(
        (n.code.code(), n.code.subcode(), &n.data[..]),
        (2, 1, &[0u8, 4][..])
    );
}

#[test]
fn a_hold_time_of_one_or_two_seconds_is_unacceptable() {
    for hold in [1, 2] {
        let n = open_err(open_body(4, 65001, hold, [192, 0, 2, 1], &[]));
        assert_eq!((n.code.code(), n.code.subcode(), n.data.len()), (2, 6, 0));
    }
    for hold in [0, 3, 90] {
        let body = open_body(4, 65001, hold, [192, 0, 2, 1], &[]);
        let Ok(Message::Open(o)) = decode(msg(1, &body), &SessionParams::default()) else {
            panic!()
        };
        assert!(o.validate().is_ok(), "hold {hold} is acceptable");
    }
}

#[test]
fn a_zero_bgp_identifier_is_bad_bgp_identifier() {
    let n = open_err(open_body(4, 65001, 90, [0, 0, 0, 0], &[]));
    assert_eq!((n.code.code(), n.code.subcode(), n.data.len()), (2, 3, 0));
}

#[test]
fn an_unknown_optional_parameter_is_unsupported_optional_parameter() {
    let n = open_err(open_body(4, 65001, 90, [192, 0, 2, 1], &[1, 2, 0, 0]));
    assert_eq!((n.code.code(), n.code.subcode(), n.data.len()), (2, 4, 0));
}

#[test]
fn an_unexpected_peer_as_is_bad_peer_as() {
    // 4-octet capability says 4200000001; My AS is AS_TRANS.
    let caps = [2, 6, 65, 4, 0xfa, 0x56, 0xea, 0x01];
    let body = open_body(4, 23456, 90, [192, 0, 2, 1], &caps);
    let Ok(Message::Open(o)) = decode(msg(1, &body), &SessionParams::default()) else {
        panic!()
    };
    assert_eq!(o.asn(), 4_200_000_001);
    assert!(o.check_peer_as(Some(4_200_000_001)).is_ok());
    let n = o.check_peer_as(Some(23456)).unwrap_err();
    assert_eq!((n.code.code(), n.code.subcode(), n.data.len()), (2, 2, 0));
}

#[test]
fn optional_parameters_that_overrun_the_message_are_an_open_error() {
    let mut body = open_body(4, 65001, 90, [192, 0, 2, 1], &[2, 2, 2, 0]);
    body[9] = 10; // claims 10 octets, 4 present
    let n = decode(msg(1, &body), &SessionParams::default()).unwrap_err();
    assert_eq!(n.code.code(), 2);
    assert!(
        n.to_string().contains("OPEN optional parameters length"),
        "{n}"
    );
}

// ----- RFC 4271 §6.3: UPDATE message errors, with RFC 7606 actions -----

fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]; // 4-octet [65001]
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 1];
const NLRI: [u8; 5] = [32, 203, 0, 113, 1];

fn attrs(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn decode_update(body: Vec<u8>, params: &SessionParams) -> Result<Update, Notification> {
    match decode(msg(2, &body), params)? {
        Message::Update(u) => Ok(u),
        other => panic!("decoded as {other:?}"),
    }
}

/// Asserts the UPDATE decodes with exactly one error of the given kind.
fn expect_action(body: Vec<u8>, action: ErrorAction, code: (u8, u8), data: &[u8]) -> Update {
    expect_action_with(body, &SessionParams::four_octet(), action, code, data)
}

fn expect_action_with(
    body: Vec<u8>,
    params: &SessionParams,
    action: ErrorAction,
    code: (u8, u8),
    data: &[u8],
) -> Update {
    let u = decode_update(body, params).expect("not a session reset");
    assert_eq!(u.errors.len(), 1, "{:?}", u.errors);
    let e = &u.errors[0];
    assert_eq!(e.action, action, "{e}");
    assert_eq!(
        (e.notification.code.code(), e.notification.code.subcode()),
        code,
        "{e}"
    );
    assert_eq!(&e.notification.data[..], data, "{e}");
    assert_eq!(u.error_action(), Some(action));
    u
}

fn expect_reset(body: Vec<u8>, code: (u8, u8), data: &[u8]) {
    let n = decode_update(body, &SessionParams::four_octet()).expect_err("session reset");
    assert_eq!((n.code.code(), n.code.subcode()), code, "{n}");
    assert_eq!(&n.data[..], data, "{n}");
}

#[test]
fn a_clean_update_has_no_errors() {
    let u = decode_update(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP]), &NLRI),
        &SessionParams::four_octet(),
    )
    .unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(u.nlri.len(), 1);
}

#[test]
fn a_withdrawn_routes_length_past_the_end_resets_with_malformed_attribute_list() {
    let mut body = update_body(&[], &[], &[]);
    body[0..2].copy_from_slice(&100u16.to_be_bytes());
    expect_reset(body, (3, 1), &[]);
}

#[test]
fn a_total_attribute_length_past_the_end_resets_with_malformed_attribute_list() {
    let mut body = update_body(&[], &ORIGIN, &[]);
    body[2..4].copy_from_slice(&100u16.to_be_bytes());
    expect_reset(body, (3, 1), &[]);
}

#[test]
fn a_flags_conflict_on_origin_is_treat_as_withdraw_with_the_attribute_as_data() {
    let bad = [0xc0, 1, 1, 0];
    expect_action(
        update_body(&[], &attrs(&[&bad, &AS_PATH, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 4),
        &bad,
    );
}

#[test]
fn a_wrong_origin_length_is_treat_as_withdraw_with_attribute_length_error() {
    let bad = [0x40, 1, 2, 0, 0];
    expect_action(
        update_body(&[], &attrs(&[&bad, &AS_PATH, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 5),
        &bad,
    );
}

#[test]
fn a_missing_origin_is_treat_as_withdraw_with_its_type_code_as_data() {
    expect_action(
        update_body(&[], &attrs(&[&AS_PATH, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 3),
        &[1],
    );
}

#[test]
fn a_missing_next_hop_with_plain_nlri_is_treat_as_withdraw() {
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 3),
        &[3],
    );
}

#[test]
fn a_withdraw_only_update_needs_no_mandatory_attributes() {
    let u = decode_update(update_body(&NLRI, &[], &[]), &SessionParams::four_octet()).unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(u.withdrawn.len(), 1);
}

#[test]
fn an_unrecognized_well_known_attribute_resets_with_the_attribute_as_data() {
    let bad = [0x40, 99, 1, 7];
    expect_reset(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &bad]), &NLRI),
        (3, 2),
        &bad,
    );
}

#[test]
fn an_unknown_optional_attribute_is_kept_raw() {
    let unknown = [0xc0, 99, 2, 1, 2];
    let u = decode_update(
        update_body(
            &[],
            &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &unknown]),
            &NLRI,
        ),
        &SessionParams::four_octet(),
    )
    .unwrap();
    assert!(u.errors.is_empty());
    let Some(PathAttribute::Unknown(a)) = u.attribute(99) else {
        panic!("{u:?}")
    };
    assert_eq!((a.flags, &a.value[..]), (0xc0, &[1u8, 2][..]));
    // RFC 4271 §5: passed on with the Partial bit set.
    assert_eq!(a.for_propagation().unwrap().flags, 0xe0);
}

#[test]
fn an_undefined_origin_value_is_treat_as_withdraw_with_invalid_origin() {
    let bad = [0x40, 1, 1, 3];
    expect_action(
        update_body(&[], &attrs(&[&bad, &AS_PATH, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 6),
        &bad,
    );
}

#[test]
fn a_zero_next_hop_is_treat_as_withdraw_with_invalid_next_hop() {
    let bad = [0x40, 3, 4, 0, 0, 0, 0];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &bad]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 8),
        &bad,
    );
}

#[test]
fn an_unknown_as_path_segment_type_is_treat_as_withdraw_with_malformed_as_path() {
    let bad = [0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe9];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &bad, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 11),
        &[],
    );
}

#[test]
fn an_as_path_segment_that_overruns_the_attribute_is_malformed() {
    let bad = [0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe9];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &bad, &NEXT_HOP]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 11),
        &[],
    );
}

#[test]
fn confederation_segments_from_an_external_peer_are_treat_as_withdraw() {
    let confed = [0x40, 2, 6, 3, 1, 0, 0, 0xfd, 0xe9];
    let body = update_body(&[], &attrs(&[&ORIGIN, &confed, &NEXT_HOP]), &NLRI);
    let ebgp = SessionParams {
        ebgp: true,
        ..SessionParams::four_octet()
    };
    expect_action_with(
        body.clone(),
        &ebgp,
        ErrorAction::TreatAsWithdraw,
        (3, 11),
        &[],
    );
    assert!(decode_update(body, &SessionParams::four_octet())
        .unwrap()
        .errors
        .is_empty());
}

#[test]
fn a_community_attribute_of_bad_length_is_treat_as_withdraw_with_optional_attribute_error() {
    let bad = [0xc0, 8, 3, 1, 2, 3];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &bad]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 9),
        &bad,
    );
}

#[test]
fn a_large_community_attribute_of_bad_length_is_treat_as_withdraw() {
    let bad = [0xc0, 32, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &bad]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 9),
        &bad,
    );
}

#[test]
fn a_prefix_longer_than_32_bits_resets_with_invalid_network_field() {
    expect_reset(
        update_body(
            &[],
            &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP]),
            &[33, 1, 2, 3, 4, 5],
        ),
        (3, 10),
        &[],
    );
}

#[test]
fn a_truncated_withdrawn_prefix_resets_with_invalid_network_field() {
    expect_reset(update_body(&[24, 10, 0], &[], &[]), (3, 10), &[]);
}

#[test]
fn a_repeated_mp_reach_nlri_resets_with_malformed_attribute_list() {
    let mp = [0x80, 14, 5, 0, 2, 1, 0, 0];
    expect_reset(update_body(&[], &attrs(&[&mp, &mp]), &[]), (3, 1), &[]);
}

#[test]
fn a_repeated_ordinary_attribute_keeps_the_first_and_discards_the_rest() {
    let second = [0x40, 1, 1, 2];
    let u = expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &second, &AS_PATH, &NEXT_HOP]), &NLRI),
        ErrorAction::AttributeDiscard,
        (3, 1),
        &[],
    );
    assert_eq!(u.origin(), Some(Origin::Igp));
}

#[test]
fn a_bad_atomic_aggregate_or_aggregator_costs_only_the_attribute() {
    let atomic = [0x40, 6, 1, 0];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &atomic]), &NLRI),
        ErrorAction::AttributeDiscard,
        (3, 5),
        &atomic,
    );
    let aggregator = [0xc0, 7, 6, 0xfd, 0xe9, 192, 0, 2, 1]; // 2-octet form on a 4-octet session
    expect_action(
        update_body(
            &[],
            &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &aggregator]),
            &NLRI,
        ),
        ErrorAction::AttributeDiscard,
        (3, 5),
        &aggregator,
    );
}

#[test]
fn a_malformed_as4_path_is_discarded() {
    let bad = [0xc0, 17, 3, 2, 1, 0];
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &bad]), &NLRI),
        ErrorAction::AttributeDiscard,
        (3, 9),
        &bad,
    );
}

#[test]
fn local_pref_from_an_external_peer_is_discarded() {
    let lp = [0x40, 5, 4, 0, 0, 0, 100];
    let ebgp = SessionParams {
        ebgp: true,
        ..SessionParams::four_octet()
    };
    let u = expect_action_with(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &NEXT_HOP, &lp]), &NLRI),
        &ebgp,
        ErrorAction::AttributeDiscard,
        (3, 0),
        &[],
    );
    assert_eq!(u.local_pref(), None);
}

#[test]
fn an_attribute_that_overruns_the_attribute_field_is_treat_as_withdraw() {
    let overrun = [0x40, 1, 9, 0];
    expect_action(
        update_body(&[], &attrs(&[&AS_PATH, &NEXT_HOP, &overrun]), &NLRI),
        ErrorAction::TreatAsWithdraw,
        (3, 1),
        &[],
    );
}

#[test]
fn an_ipv6_next_hop_of_impossible_length_disables_the_family() {
    let mut mp = vec![0x80, 14, 0, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0];
    mp[2] = (mp.len() - 3) as u8;
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &mp]), &[]),
        ErrorAction::AfiSafiDisable(Family::IPV6_UNICAST),
        (3, 9),
        &[],
    );
}

#[test]
fn a_bad_prefix_inside_mp_reach_disables_the_family() {
    let mut mp = vec![0x80, 14, 0, 0, 2, 1, 16];
    mp.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    mp.extend_from_slice(&[0, 129, 0x20]);
    mp[2] = (mp.len() - 3) as u8;
    expect_action(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &mp]), &[]),
        ErrorAction::AfiSafiDisable(Family::IPV6_UNICAST),
        (3, 10),
        &[],
    );
}

#[test]
fn an_mp_reach_too_short_to_name_its_family_resets_the_session() {
    let mp = [0x80, 14, 2, 0, 2];
    expect_reset(
        update_body(&[], &attrs(&[&ORIGIN, &AS_PATH, &mp]), &[]),
        (3, 9),
        &[],
    );
}

#[test]
fn the_strongest_action_wins_when_several_attributes_are_bad() {
    let atomic = [0x40, 6, 1, 0];
    let origin = [0x40, 1, 1, 7];
    let u = decode_update(
        update_body(&[], &attrs(&[&origin, &AS_PATH, &NEXT_HOP, &atomic]), &NLRI),
        &SessionParams::four_octet(),
    )
    .unwrap();
    assert_eq!(u.errors.len(), 2);
    assert_eq!(u.error_action(), Some(ErrorAction::TreatAsWithdraw));
}

#[test]
fn notification_display_names_the_field_and_shows_the_data() {
    let n = decode(msg(6, &[]), &SessionParams::default()).unwrap_err();
    let text = n.to_string();
    assert!(text.contains("bad message type"), "{text}");
    assert!(text.contains("message type"), "{text}");
    assert!(text.contains("06"), "{text}");
}

#[test]
fn a_shutdown_notification_displays_its_reason() {
    let n = Notification::admin_shutdown("rolling upgrade of node-3");
    assert_eq!(
        n.shutdown_communication(),
        Some("rolling upgrade of node-3")
    );
    assert!(n.to_string().contains("administrative shutdown"));
    assert!(n.to_string().contains("rolling upgrade of node-3"));
}
