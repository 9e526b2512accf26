//! The framer must give the same messages however TCP splits the stream,
//! and must reject a bad header as soon as the header is in.

mod common;

use std::net::Ipv4Addr;

use bgp_proto::*;
use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn sample_stream() -> (Vec<Message>, Vec<u8>) {
    let params = SessionParams::four_octet();
    let prefixes: Vec<Nlri> = (0..300u32)
        .map(|i| {
            Nlri::new(
                format!("203.0.{}.{}/32", 113 + i / 256, i % 256)
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    let msgs = vec![
        Message::Open(Open::new(
            4_200_000_001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::FourOctetAs(4_200_000_001),
            ],
        )),
        Message::Keepalive,
        Message::Update(Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence([4_200_000_001])),
                PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            ],
            nlri: prefixes,
            ..Update::default()
        }),
        Message::RouteRefresh(RouteRefresh::request(Family::IPV4_UNICAST)),
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)),
        Message::Notification(Notification::admin_shutdown("maintenance")),
    ];
    let mut bytes = Vec::new();
    for m in &msgs {
        bytes.extend_from_slice(&m.to_bytes(&params).unwrap());
    }
    (msgs, bytes)
}

fn decode_chunks(chunks: &[&[u8]]) -> Vec<Message> {
    let mut codec = BgpCodec::new(SessionParams::four_octet());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(m) = codec.decode(&mut buf).expect("valid stream") {
            out.push(m);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

#[test]
fn a_valid_stream_split_at_every_byte_offset_decodes_identically() {
    let (msgs, bytes) = sample_stream();
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode_chunks(&[a, b]), msgs, "split at offset {cut}");
    }
}

#[test]
fn a_valid_stream_fed_one_byte_at_a_time_decodes_identically() {
    let (msgs, bytes) = sample_stream();
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_chunks(&chunks), msgs);
}

proptest! {
    #[test]
    fn a_valid_stream_in_random_chunks_decodes_identically(
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20)
    ) {
        let (msgs, bytes) = sample_stream();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&bytes[last..p]);
            last = p;
        }
        chunks.push(&bytes[last..]);
        prop_assert_eq!(decode_chunks(&chunks), msgs);
    }
}

#[test]
fn a_bad_length_is_rejected_before_the_body_arrives() {
    // Only the 19-octet header of a message claiming 5000 octets.
    let mut header = vec![0xff; 16];
    header.extend_from_slice(&5000u16.to_be_bytes());
    header.push(2);
    let mut codec = BgpCodec::new(SessionParams::four_octet());
    let mut buf = BytesMut::from(&header[..]);
    match codec.decode(&mut buf) {
        Err(CodecError::Protocol(n)) => {
            assert_eq!((n.code.code(), n.code.subcode()), (1, 2));
            assert_eq!(&n.data[..], &5000u16.to_be_bytes());
        }
        other => panic!("expected a Bad Message Length, got {other:?}"),
    }
}

#[test]
fn extended_messages_raise_the_update_limit_but_not_the_keepalive_or_open_limit() {
    let params = SessionParams {
        extended_message: true,
        ..SessionParams::four_octet()
    };
    let mut codec = BgpCodec::new(params);
    for (kind, len, ok) in [(2u8, 5000u16, true), (1, 5000, false), (4, 20, false)] {
        let mut msg = vec![0xff; 16];
        msg.extend_from_slice(&len.to_be_bytes());
        msg.push(kind);
        let mut buf = BytesMut::from(&msg[..]);
        let res = codec.decode_frame(&mut buf);
        assert_eq!(res.is_ok(), ok, "type {kind} length {len}: {res:?}");
    }
}

#[test]
fn a_partial_header_waits_for_more_bytes() {
    let mut codec = BgpCodec::default();
    let mut buf = BytesMut::from(&[0xffu8; 10][..]);
    assert!(matches!(codec.decode(&mut buf), Ok(None)));
}
