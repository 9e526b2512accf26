//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus
//! replay test (`tests/fuzz_corpus.rs`), so `cargo test` runs every seed
//! through exactly the code the fuzzer exercises.
//!
//! Run the fuzzers with `crates/l2/fuzz/run.sh [SECONDS]` (nightly; no
//! cargo-fuzz needed).
//!
//! None may panic; whatever parses cleanly must survive a build/parse
//! round trip unchanged, and every answer the responder gives must parse
//! as a valid reply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::responder::{Decision, RateLimit, Responder};
use crate::wire::{ArpOp, ArpPacket, MacAddr, NdpMessage, NdpPacket};

/// A whole Ethernet frame through the ARP parser.
pub fn arp_decode(data: &[u8]) {
    if let Ok((eth, arp)) = ArpPacket::parse_frame(data) {
        let again = arp.frame(eth.src, eth.dst);
        assert_eq!(
            ArpPacket::parse_frame(&again),
            Ok((eth, arp)),
            "ARP round trip changed the packet"
        );
        assert_eq!(
            again[..],
            data[..ArpPacket::FRAME_LEN],
            "ARP re-encoding differs"
        );
    }
}

/// A whole Ethernet frame through the NDP parser (checksum verified); the
/// same bytes after the IPv6 header also go through the raw-socket parser
/// with the hop limit of byte 0.
pub fn ndp_decode(data: &[u8]) {
    if let Ok(Some((eth, _, p))) = NdpPacket::parse_frame(data) {
        let again = p.frame(eth.src, eth.dst);
        match NdpPacket::parse_frame(&again) {
            Ok(Some((_, _, back))) => assert_eq!(back, p, "NDP round trip changed the packet"),
            other => panic!("re-encoded NDP packet does not parse: {other:?}"),
        }
    }
    if let Some((&hop, rest)) = data.split_first() {
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
        let _ = NdpPacket::parse_icmp(src, crate::wire::ndp::solicited_node(vip6()), hop, rest);
    }
}

/// The interface, MAC and VIPs of the fuzzed responder.
pub const IFINDEX: u32 = 2;
pub const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
pub fn vip4() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 11)
}
pub fn vip6() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xb)
}

/// A responder announcing [`vip4`] and [`vip6`] on [`IFINDEX`].
pub fn responder() -> Responder {
    let mut r = Responder::new(RateLimit::default());
    r.set_interface(IFINDEX, OUR_MAC);
    r.set_announced(IFINDEX, [IpAddr::V4(vip4()), IpAddr::V6(vip6())])
        .expect("IFINDEX was just set");
    r
}

/// One frame through the responder; an answer must be a valid reply for
/// an announced address from our MAC.
pub fn responder_frame(data: &[u8]) {
    let mut r = responder();
    let now = Instant::now();
    for i in 0..2u64 {
        let d = r.handle(now + Duration::from_millis(i), IFINDEX, data);
        check_answer(&d);
    }
}

fn check_answer(d: &Decision) {
    let Decision::Answer { ip, frame } = d else {
        return;
    };
    match ip {
        IpAddr::V4(v4) => {
            let (eth, arp) = ArpPacket::parse_frame(frame).expect("our ARP reply parses");
            assert_eq!(
                (eth.src, arp.op, arp.sender_mac),
                (OUR_MAC, ArpOp::Reply, OUR_MAC)
            );
            assert_eq!(arp.sender_ip, *v4);
        }
        IpAddr::V6(v6) => {
            let Ok(Some((eth, _, p))) = NdpPacket::parse_frame(frame) else {
                panic!("our NA does not parse: {frame:?}");
            };
            assert_eq!(eth.src, OUR_MAC);
            match p.message {
                NdpMessage::Advert(na) => {
                    assert_eq!((na.target, na.target_lla), (*v6, Some(OUR_MAC)));
                }
                NdpMessage::Solicit(_) => panic!("responder answered with an NS"),
            }
        }
    }
}
