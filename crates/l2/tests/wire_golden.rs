//! Frames captured from independent implementations (arping, ndisc6, the
//! Linux kernel; see golden/capture.sh): our parser reads them field by
//! field, and our builders produce what the kernel and arping sent.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use l2::wire::ndp::{multicast_mac, solicited_node, ALL_NODES};
use l2::wire::{ArpOp, ArpPacket, EtherType, MacAddr, NdpMessage, NdpPacket};

const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
/// b's MAC after capture.sh changed it (the unsolicited NA).
const B_MAC2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0c]);
const A_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const B_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

fn a_ll() -> Ipv6Addr {
    "fe80::ff:fe00:a".parse().unwrap()
}
fn b_v6() -> Ipv6Addr {
    "2001:db8::b".parse().unwrap()
}

fn golden(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn arping_request_parses_field_by_field() {
    let frame = golden("arp_request.bin");
    // arping pads to 58 octets; the padding is ignored.
    assert_eq!(frame.len(), 58);
    let (eth, arp) = ArpPacket::parse_frame(&frame).unwrap();
    assert_eq!(eth.dst, MacAddr::BROADCAST);
    assert_eq!(eth.src, A_MAC);
    assert_eq!(eth.ethertype, EtherType::ARP);
    assert_eq!(arp.op, ArpOp::Request);
    assert_eq!(arp.sender_mac, A_MAC);
    assert_eq!(arp.sender_ip, A_V4);
    assert_eq!(arp.target_mac, MacAddr::ZERO);
    assert_eq!(arp.target_ip, B_V4);
}

#[test]
fn our_arp_reply_equals_the_kernels_reply_byte_for_byte() {
    let (_, req) = ArpPacket::parse_frame(&golden("arp_request.bin")).unwrap();
    let kernel = golden("arp_reply.bin");
    let (eth, arp) = ArpPacket::parse_frame(&kernel).unwrap();
    assert_eq!((eth.dst, eth.src), (A_MAC, B_MAC));
    assert_eq!(arp.op, ArpOp::Reply);
    assert_eq!((arp.sender_mac, arp.sender_ip), (B_MAC, B_V4));
    assert_eq!((arp.target_mac, arp.target_ip), (A_MAC, A_V4));
    assert_eq!(ArpPacket::reply_to(&req, B_MAC), kernel);
}

#[test]
fn our_gratuitous_request_equals_arpings_without_padding() {
    let theirs = golden("garp_request.bin");
    let (eth, arp) = ArpPacket::parse_frame(&theirs).unwrap();
    assert_eq!((eth.dst, eth.src), (MacAddr::BROADCAST, A_MAC));
    assert_eq!(arp.op, ArpOp::Request);
    assert_eq!((arp.sender_ip, arp.target_ip), (A_V4, A_V4));
    assert_eq!(arp.target_mac, MacAddr::BROADCAST);
    let ours = ArpPacket::gratuitous(ArpOp::Request, A_MAC, A_V4);
    assert_eq!(ours[..], theirs[..ArpPacket::FRAME_LEN]);
    assert!(theirs[ArpPacket::FRAME_LEN..].iter().all(|b| *b == 0));
}

#[test]
fn our_gratuitous_reply_equals_arpings_without_padding() {
    let theirs = golden("garp_reply.bin");
    let (_, arp) = ArpPacket::parse_frame(&theirs).unwrap();
    assert_eq!(arp.op, ArpOp::Reply);
    assert_eq!((arp.sender_ip, arp.target_ip), (A_V4, A_V4));
    let ours = ArpPacket::gratuitous(ArpOp::Reply, A_MAC, A_V4);
    assert_eq!(ours[..], theirs[..ArpPacket::FRAME_LEN]);
}

#[test]
fn ndisc6_solicitation_parses_field_by_field() {
    let frame = golden("ns.bin");
    let (eth, ip, p) = NdpPacket::parse_frame(&frame).unwrap().unwrap();
    assert_eq!(eth.src, A_MAC);
    assert_eq!(eth.dst, multicast_mac(solicited_node(b_v6())));
    assert_eq!(eth.dst, MacAddr([0x33, 0x33, 0xff, 0, 0, 0x0b]));
    assert_eq!(ip.payload_len, 32);
    assert_eq!(ip.hop_limit, 255);
    assert_eq!(ip.src, a_ll());
    assert_eq!(ip.dst, "ff02::1:ff00:b".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ip.dst, solicited_node(b_v6()));
    let NdpMessage::Solicit(ns) = p.message else {
        panic!("not an NS: {p:?}");
    };
    assert_eq!(ns.target, b_v6());
    assert_eq!(ns.source_lla, Some(A_MAC));
}

#[test]
fn our_solicited_advert_with_override_equals_the_kernels_byte_for_byte() {
    let kernel = golden("na.bin");
    let (eth, ip, p) = NdpPacket::parse_frame(&kernel).unwrap().unwrap();
    assert_eq!((eth.dst, eth.src), (A_MAC, B_MAC));
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (b_v6(), a_ll(), 255));
    let NdpMessage::Advert(na) = p.message else {
        panic!("not an NA: {p:?}");
    };
    assert!(!na.router && na.solicited && na.override_);
    assert_eq!((na.target, na.target_lla), (b_v6(), Some(B_MAC)));
    // The kernel sets Override for its own address; with it, ours is the
    // same frame.
    let ours = NdpPacket::solicited_advert(B_MAC, b_v6(), a_ll(), true).frame(B_MAC, A_MAC);
    assert_eq!(ours, kernel);
}

#[test]
fn metallb_style_advert_differs_from_the_kernels_only_in_override_and_checksum() {
    let kernel = golden("na.bin");
    let ours = NdpPacket::solicited_advert(B_MAC, b_v6(), a_ll(), false).frame(B_MAC, A_MAC);
    let differ: Vec<usize> = (0..kernel.len())
        .filter(|i| kernel[*i] != ours[*i])
        .collect();
    // Offsets: 14 + 40 = ICMPv6 start; +2 checksum high octet (the flag
    // is in the high octet of its 16-bit word, so only that octet of the
    // sum moves), +4 flags.
    assert_eq!(differ, vec![56, 58]);
    assert_eq!(ours[58], 0x40, "Solicited only");
    NdpPacket::parse_frame(&ours).unwrap().unwrap();
}

#[test]
fn our_unsolicited_advert_equals_the_kernels_byte_for_byte() {
    let kernel = golden("unsolicited_na.bin");
    let (eth, ip, p) = NdpPacket::parse_frame(&kernel).unwrap().unwrap();
    assert_eq!((eth.dst, eth.src), (multicast_mac(ALL_NODES), B_MAC2));
    assert_eq!(eth.dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!((ip.src, ip.dst), (b_v6(), ALL_NODES));
    let NdpMessage::Advert(na) = p.message else {
        panic!("not an NA: {p:?}");
    };
    assert!(!na.router && !na.solicited && na.override_);
    assert_eq!(na.target_lla, Some(B_MAC2));
    assert_eq!(NdpPacket::unsolicited_advert_frame(B_MAC2, b_v6()), kernel);
}

#[test]
fn solicited_node_address_and_mac_match_rfc_4291_and_2464_examples() {
    let a: Ipv6Addr = "2001:db8::1:2a3b:4c5d".parse().unwrap();
    assert_eq!(
        solicited_node(a),
        "ff02::1:ff3b:4c5d".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        multicast_mac(solicited_node(a)),
        MacAddr([0x33, 0x33, 0xff, 0x3b, 0x4c, 0x5d])
    );
}
