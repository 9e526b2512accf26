//! The graceful restart capability (RFC 4724 §3) and the Hard Reset
//! NOTIFICATION (RFC 8538 §3) against random input: no panic, and what
//! decodes re-encodes to the same bytes.

use bgp_proto::capability::Capability;
use bgp_proto::notification::{CeaseSubcode, ErrorCode};
use bgp_proto::*;
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

/// An OPEN frame whose only optional parameter holds one capability 64
/// with `value`.
fn open_with_gr_value(value: &[u8]) -> Bytes {
    let mut body = BytesMut::new();
    body.put_u8(4);
    body.put_u16(64512);
    body.put_u16(90);
    body.put_slice(&[192, 0, 2, 1]);
    body.put_u8((4 + value.len()) as u8);
    body.put_u8(2);
    body.put_u8((2 + value.len()) as u8);
    body.put_u8(64);
    body.put_u8(value.len() as u8);
    body.put_slice(value);
    let mut frame = BytesMut::new();
    frame.put_slice(&[0xff; 16]);
    frame.put_u16((19 + body.len()) as u16);
    frame.put_u8(1);
    frame.put_slice(&body);
    frame.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn any_graceful_restart_value_decodes_without_panic_and_reencodes_byte_for_byte(
        value in proptest::collection::vec(any::<u8>(), 0..60)
    ) {
        let frame = open_with_gr_value(&value);
        let params = SessionParams::default();
        let msg = Message::decode(frame.clone(), &params);
        let Ok(msg) = msg else {
            return Err(TestCaseError::fail(format!("OPEN with capability value {value:02x?} refused: {msg:?}")));
        };
        let Message::Open(open) = &msg else {
            return Err(TestCaseError::fail(format!("not an OPEN: {msg:?}")));
        };
        let cap = open.capabilities().next().cloned();
        // RFC 4724 §3: two octets of flags and time, then 4 octets per
        // family; anything else is kept raw (unknown), never refused.
        let well_formed = value.len() >= 2 && (value.len() - 2) % 4 == 0;
        match cap {
            Some(Capability::GracefulRestart(gr)) => {
                prop_assert!(well_formed);
                prop_assert_eq!(gr.restart_time, u16::from_be_bytes([value[0], value[1]]) & 0x0fff);
                prop_assert_eq!(gr.restarting, value[0] & 0x80 != 0);
                prop_assert_eq!(gr.notification, value[0] & 0x40 != 0);
                prop_assert_eq!(gr.families.len(), (value.len() - 2) / 4);
            }
            Some(Capability::Unknown { code: 64, .. }) => prop_assert!(!well_formed),
            other => return Err(TestCaseError::fail(format!("unexpected capability {other:?}"))),
        }
        prop_assert_eq!(msg.to_bytes(&params).map_err(|e| TestCaseError::fail(e.to_string()))?, frame);
    }

    #[test]
    fn a_hard_reset_carries_any_notification_back_unchanged(
        code in 1u8..=8, subcode in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..100)
    ) {
        let inner = Notification::new(ErrorCode::from_pair(code, subcode), data);
        let hard = Notification::hard_reset(&inner);
        prop_assert_eq!(hard.code, ErrorCode::Cease(CeaseSubcode::HardReset));
        let params = SessionParams::default();
        let bytes = Message::Notification(hard).to_bytes(&params).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = match Message::decode(bytes, &params) {
            Ok(Message::Notification(n)) => n,
            other => return Err(TestCaseError::fail(format!("got {other:?}"))),
        };
        prop_assert_eq!(back.hard_reset_inner(), Some(inner));
    }
}

#[test]
fn a_hard_reset_without_an_inner_code_has_no_inner_notification() {
    let n = Notification::new(ErrorCode::Cease(CeaseSubcode::HardReset), vec![6]);
    assert_eq!(n.hard_reset_inner(), None);
    assert!(n.to_string().contains("hard reset"), "{n}");
}

#[test]
fn a_hard_reset_names_its_inner_notification_when_logged() {
    let n = Notification::hard_reset(&Notification::admin_shutdown("going away"));
    let text = n.to_string();
    assert!(text.contains("hard reset"), "{text}");
    assert!(text.contains("administrative shutdown"), "{text}");
    assert!(text.contains("going away"), "{text}");
}
