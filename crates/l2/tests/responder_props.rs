//! The responder against a model: for every ARP packet built from a few
//! choices per field (ours, a client's, a group address; the VIP or not;
//! all 4,000 combinations), it answers exactly when MetalLB's rules plus
//! ours say so, and the answer is the RFC 826 reply from our MAC.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use l2::responder::{Decision, RateLimit, Responder};
use l2::wire::{ArpOp, ArpPacket, MacAddr};

const IF: u32 = 3;
const OUR: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0c]);
const GROUP: MacAddr = MacAddr([0x01, 0, 0x5e, 0, 0, 1]);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const NOT_VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

const MACS: [MacAddr; 5] = [OUR, CLIENT, OTHER, GROUP, MacAddr::BROADCAST];
const IPS: [Ipv4Addr; 4] = [VIP, NOT_VIP, CLIENT_IP, Ipv4Addr::UNSPECIFIED];

#[test]
fn arp_is_answered_exactly_when_the_rules_allow() {
    let mut answered = 0;
    for request in [true, false] {
        for eth_src in MACS {
            for eth_dst in MACS {
                for sender_mac in MACS {
                    for sender_ip in IPS {
                        for target_ip in IPS {
                            for on_our_if in [true, false] {
                                let pkt = ArpPacket {
                                    op: if request {
                                        ArpOp::Request
                                    } else {
                                        ArpOp::Reply
                                    },
                                    sender_mac,
                                    sender_ip,
                                    target_mac: MacAddr::ZERO,
                                    target_ip,
                                };
                                answered += u32::from(check(pkt, eth_src, eth_dst, on_our_if));
                            }
                        }
                    }
                }
            }
        }
    }
    // Request, dst broadcast or ours, Ethernet source client/other, sender
    // client/other,
    // sender IP not the VIP (3 choices), target the VIP, our interface.
    assert_eq!(answered, 2 * 2 * 2 * 3);
}

/// Runs one packet; returns whether it was answered, after checking that
/// matches the model and that the answer is right.
fn check(pkt: ArpPacket, eth_src: MacAddr, eth_dst: MacAddr, on_our_if: bool) -> bool {
    let mut r = Responder::new(RateLimit::default());
    r.set_interface(IF, OUR);
    r.set_interface(IF + 1, OUR);
    r.set_announced(IF, [IpAddr::V4(VIP)]).unwrap();
    let frame = pkt.frame(eth_src, eth_dst);
    let ifindex = if on_our_if { IF } else { IF + 1 };
    let should = pkt.op == ArpOp::Request
        && pkt.sender_ip != pkt.target_ip
        && (eth_dst == MacAddr::BROADCAST || eth_dst == OUR)
        && eth_src != OUR
        && !eth_src.is_multicast()
        && pkt.sender_mac != OUR
        && !pkt.sender_mac.is_multicast()
        && pkt.target_ip == VIP
        && on_our_if;
    match r.handle(Instant::now(), ifindex, &frame) {
        Decision::Answer { ip, frame } => {
            assert!(should, "answered {pkt:?} from {eth_src} to {eth_dst}");
            assert_eq!(ip, IpAddr::V4(VIP));
            let (eth, reply) = ArpPacket::parse_frame(&frame).unwrap();
            assert_eq!((eth.src, eth.dst), (OUR, pkt.sender_mac));
            let want = ArpPacket {
                op: ArpOp::Reply,
                sender_mac: OUR,
                sender_ip: VIP,
                target_mac: pkt.sender_mac,
                target_ip: pkt.sender_ip,
            };
            assert_eq!(reply, want);
            true
        }
        Decision::Drop { reason, .. } => {
            assert!(
                !should,
                "dropped ({reason:?}) {pkt:?} from {eth_src} to {eth_dst}"
            );
            false
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The same for NS: every combination of Ethernet source and destination,
/// IPv6 source and destination, target and source link-layer option.
#[test]
fn ns_is_answered_exactly_when_the_rules_allow() {
    use l2::wire::ndp::{multicast_mac, solicited_node, ALL_NODES};
    use l2::wire::{NdpMessage, NdpPacket, NeighborSolicit};
    use std::net::Ipv6Addr;

    let vip: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let other: Ipv6Addr = "2001:db8::8".parse().unwrap();
    let client: Ipv6Addr = "fe80::a".parse().unwrap();
    let mut r = Responder::new(RateLimit::unlimited());
    r.set_interface(IF, OUR);
    r.set_announced(IF, [IpAddr::V6(vip)]).unwrap();
    let mut answered = 0;
    for eth_src in [OUR, CLIENT, GROUP] {
        for eth_dst in [
            OUR,
            multicast_mac(solicited_node(vip)),
            OTHER,
            multicast_mac(ALL_NODES),
        ] {
            for dst in [solicited_node(vip), vip, solicited_node(other), ALL_NODES] {
                for target in [vip, other] {
                    for slla in [None, Some(CLIENT), Some(OUR)] {
                        for src in [client, Ipv6Addr::UNSPECIFIED] {
                            let p = NdpPacket {
                                src,
                                dst,
                                hop_limit: 255,
                                message: NdpMessage::Solicit(NeighborSolicit {
                                    target,
                                    source_lla: slla,
                                }),
                            };
                            let should = eth_src == CLIENT
                                && (eth_dst == OUR
                                    || (eth_dst == multicast_mac(dst)
                                        && dst == solicited_node(target)))
                                && (dst == target || dst == solicited_node(target))
                                && slla == Some(CLIENT)
                                && target == vip
                                && src == client;
                            let d = r.handle(Instant::now(), IF, &p.frame(eth_src, eth_dst));
                            match d {
                                Decision::Answer { ip, frame } => {
                                    assert!(should, "answered {p:?} from {eth_src} to {eth_dst}");
                                    assert_eq!(ip, IpAddr::V6(vip));
                                    let want = NdpPacket::solicited_advert(OUR, vip, client, false)
                                        .frame(OUR, CLIENT);
                                    assert_eq!(frame, want);
                                    answered += 1;
                                }
                                Decision::Drop { reason, .. } => assert!(
                                    !should,
                                    "dropped ({reason:?}) {p:?} from {eth_src} to {eth_dst}"
                                ),
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    }
                }
            }
        }
    }
    // To the solicited-node group (its MAC or ours), or unicast to the VIP
    // at our MAC.
    assert_eq!(answered, 3);
}
