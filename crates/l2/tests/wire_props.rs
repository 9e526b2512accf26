//! Property tests of the codecs: what we build parses back to itself,
//! arbitrary bytes never panic, and every truncation is an error.

use std::net::{Ipv4Addr, Ipv6Addr};

use l2::wire::ndp::solicited_node;
use l2::wire::{ArpOp, ArpPacket, MacAddr, NdpMessage, NdpPacket, NeighborAdvert, NeighborSolicit};
use proptest::prelude::*;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn arp() -> impl Strategy<Value = ArpPacket> {
    (any::<bool>(), mac(), any::<u32>(), mac(), any::<u32>()).prop_map(|(req, sm, si, tm, ti)| {
        ArpPacket {
            op: if req { ArpOp::Request } else { ArpOp::Reply },
            sender_mac: sm,
            sender_ip: Ipv4Addr::from(si),
            target_mac: tm,
            target_ip: Ipv4Addr::from(ti),
        }
    })
}

/// A unicast (never multicast) IPv6 address.
fn unicast6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(|a| Ipv6Addr::from(a & !(0xffu128 << 120) | (0x20u128 << 120)))
}

/// An NS or NA that satisfies RFC 4861 §7.1.
fn ndp() -> impl Strategy<Value = NdpPacket> {
    let ns = (
        unicast6(),
        unicast6(),
        proptest::option::of(mac()),
        any::<bool>(),
    )
        .prop_map(|(src, target, slla, to_group)| NdpPacket {
            src,
            dst: if to_group {
                solicited_node(target)
            } else {
                target
            },
            hop_limit: 255,
            message: NdpMessage::Solicit(NeighborSolicit {
                target,
                source_lla: slla,
            }),
        });
    let dad = unicast6().prop_map(|target| NdpPacket {
        src: Ipv6Addr::UNSPECIFIED,
        dst: solicited_node(target),
        hop_limit: 255,
        message: NdpMessage::Solicit(NeighborSolicit {
            target,
            source_lla: None,
        }),
    });
    let na = (
        unicast6(),
        unicast6(),
        any::<bool>(),
        any::<[bool; 3]>(),
        proptest::option::of(mac()),
    )
        .prop_map(|(src, target, multicast, [r, s, o], tlla)| NdpPacket {
            src,
            dst: if multicast {
                l2::wire::ndp::ALL_NODES
            } else {
                src
            },
            hop_limit: 255,
            message: NdpMessage::Advert(NeighborAdvert {
                router: r,
                solicited: s && !multicast,
                override_: o,
                target,
                target_lla: tlla,
            }),
        });
    prop_oneof![ns, dad, na]
}

proptest! {
    #[test]
    fn arp_frames_we_build_parse_back_to_the_same_packet(p in arp(), src in mac(), dst in mac()) {
        let frame = p.frame(src, dst);
        prop_assert_eq!(frame.len(), ArpPacket::FRAME_LEN);
        let (eth, back) = ArpPacket::parse_frame(&frame).unwrap();
        prop_assert_eq!((eth.src, eth.dst), (src, dst));
        prop_assert_eq!(back, p);
    }

    #[test]
    fn ndp_frames_we_build_parse_back_to_the_same_packet(p in ndp(), src in mac(), dst in mac()) {
        let frame = p.frame(src, dst);
        let (eth, _, back) = NdpPacket::parse_frame(&frame).unwrap().unwrap();
        prop_assert_eq!((eth.src, eth.dst), (src, dst));
        prop_assert_eq!(back, p);
        // The raw-socket path reads the same message.
        let icmp = p.icmp();
        prop_assert_eq!(NdpPacket::parse_icmp(p.src, p.dst, 255, &icmp).unwrap(), Some(p));
    }

    #[test]
    fn every_truncated_arp_frame_is_an_error(p in arp(), src in mac(), dst in mac()) {
        let frame = p.frame(src, dst);
        for n in 0..frame.len() {
            prop_assert!(ArpPacket::parse_frame(&frame[..n]).is_err(), "{} octets parsed", n);
        }
    }

    #[test]
    fn every_truncated_ndp_frame_is_an_error(p in ndp(), src in mac(), dst in mac()) {
        let frame = p.frame(src, dst);
        for n in 0..frame.len() {
            prop_assert!(NdpPacket::parse_frame(&frame[..n]).is_err(), "{} octets parsed", n);
        }
        let icmp = p.icmp();
        for n in 0..24 {
            prop_assert!(NdpPacket::parse_icmp(p.src, p.dst, 255, &icmp[..n]).is_err());
        }
    }

    #[test]
    fn any_bit_flip_in_an_ndp_message_is_never_accepted(
        p in ndp(), bit in 0usize..(32 * 8)
    ) {
        let mut frame = p.frame(MacAddr::ZERO, MacAddr::ZERO);
        let at = 14 + 40 + bit / 8;
        if at < frame.len() {
            frame[at] ^= 1 << (bit % 8);
            // The checksum covers the whole message (reserved fields too):
            // a flipped bit is an error, or (in the type octet) makes it
            // another ICMPv6 type, which is not an NS/NA either.
            let got = NdpPacket::parse_frame(&frame);
            prop_assert!(!matches!(got, Ok(Some(_))), "accepted: {:?}", got);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ArpPacket::parse_frame(&data);
        let _ = NdpPacket::parse_frame(&data);
        let src = Ipv6Addr::LOCALHOST;
        let _ = NdpPacket::parse_icmp(src, src, 255, &data);
        l2::fuzzing::arp_decode(&data);
        l2::fuzzing::ndp_decode(&data);
        l2::fuzzing::responder_frame(&data);
    }

    #[test]
    fn arbitrary_arp_and_ipv6_bodies_never_panic(
        ipv6 in any::<bool>(), body in proptest::collection::vec(any::<u8>(), 0..120)
    ) {
        // Random bytes rarely reach past the Ethertype; fix it.
        let mut frame = vec![0xff; 12];
        frame.extend_from_slice(if ipv6 { &[0x86, 0xdd] } else { &[0x08, 0x06] });
        frame.extend_from_slice(&body);
        l2::fuzzing::arp_decode(&frame);
        l2::fuzzing::ndp_decode(&frame);
        l2::fuzzing::responder_frame(&frame);
    }
}
