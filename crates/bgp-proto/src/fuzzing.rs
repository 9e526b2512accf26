//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and by the
//! corpus replay test, so `cargo test` runs every seed through exactly the
//! code the fuzzer exercises.
//!
//! Each function must never panic; beyond that, whatever decodes cleanly
//! must survive an encode/decode round trip unchanged.

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::Message;
use crate::types::{Family, SessionParams};
use crate::update::Update;

/// Picks session parameters from one input byte so the fuzzer explores
/// 2- and 4-octet AS, extended messages, ADD-PATH and eBGP.
pub fn params_from(b: u8) -> SessionParams {
    let ap = if b & 4 != 0 {
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    } else {
        vec![]
    };
    SessionParams {
        four_octet_as: b & 1 != 0,
        extended_message: b & 2 != 0,
        add_path_receive: ap.clone(),
        add_path_send: ap,
        ebgp: b & 8 != 0,
    }
}

fn check_round_trip(msg: &Message, params: &SessionParams) {
    let clean = match msg {
        Message::Update(u) => u.errors.is_empty(),
        _ => true,
    };
    if !clean {
        return;
    }
    // Anything we decoded cleanly must encode (it fit before) and decode to
    // the same value.
    let bytes = match msg.to_bytes(&params.mirrored()) {
        Ok(b) => b,
        Err(e) => panic!("decoded message does not re-encode: {e}: {msg:?}"),
    };
    match Message::decode(bytes, params) {
        Ok(back) => assert_eq!(&back, msg, "round trip changed the message"),
        Err(e) => panic!("re-encoded message does not decode: {e}: {msg:?}"),
    }
}

/// Whole messages, header included. Byte 0 selects the session parameters.
pub fn message_decode(data: &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return;
    };
    let params = params_from(p);
    let mut codec = crate::codec::BgpCodec::new(params.clone());
    let mut buf = BytesMut::from(rest);
    // Decode as a stream: several messages may follow one another.
    while let Ok(Some(frame)) = codec.decode_frame(&mut buf) {
        if let Ok(msg) = Message::decode(frame, &params) {
            check_round_trip(&msg, &params);
        }
    }
}

/// UPDATE bodies (no header). Byte 0 selects the session parameters.
pub fn update_decode(data: &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return;
    };
    let params = params_from(p);
    let body = Bytes::copy_from_slice(rest);
    if let Ok(u) = Update::decode_body(&body, &params) {
        check_round_trip(&Message::Update(u), &params);
    }
}

/// A path attribute list alone, wrapped in an UPDATE body with no routes.
/// Byte 0 selects the session parameters.
pub fn attribute_decode(data: &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return;
    };
    let params = params_from(p);
    let Ok(len) = u16::try_from(rest.len()) else {
        return;
    };
    let mut body = BytesMut::with_capacity(rest.len() + 4);
    body.put_u16(0);
    body.put_u16(len);
    body.put_slice(rest);
    if let Ok(u) = Update::decode_body(&body.freeze(), &params) {
        check_round_trip(&Message::Update(u), &params);
    }
}
