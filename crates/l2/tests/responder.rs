//! The responder decision: what is answered, what is dropped and why, the
//! rate limits and the counters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use l2::responder::{Decision, DropReason, RateLimit, Responder};
use l2::wire::ndp::{multicast_mac, solicited_node};
use l2::wire::{ArpOp, ArpPacket, MacAddr, NdpMessage, NdpPacket, NeighborSolicit};

const IF: u32 = 7;
const OTHER_IF: u32 = 8;
const OUR: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const CLIENT4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn vip6() -> Ipv6Addr {
    "2001:db8::b".parse().unwrap()
}
fn client6() -> Ipv6Addr {
    "fe80::ff:fe00:a".parse().unwrap()
}

fn golden(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn responder(limit: RateLimit) -> Responder {
    let mut r = Responder::new(limit);
    r.set_interface(IF, OUR);
    r.set_interface(OTHER_IF, MacAddr([0x02, 0, 0, 0, 1, 0x0b]));
    r.set_announced(IF, [IpAddr::V4(VIP4), IpAddr::V6(vip6())])
        .unwrap();
    r
}

fn arp_request(eth_src: MacAddr, eth_dst: MacAddr, sender: MacAddr, target: Ipv4Addr) -> Vec<u8> {
    ArpPacket {
        op: ArpOp::Request,
        sender_mac: sender,
        sender_ip: CLIENT4,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
    .frame(eth_src, eth_dst)
}

fn ns(target: Ipv6Addr, slla: Option<MacAddr>) -> NdpPacket {
    NdpPacket {
        src: client6(),
        dst: solicited_node(target),
        hop_limit: 255,
        message: NdpMessage::Solicit(NeighborSolicit {
            target,
            source_lla: slla,
        }),
    }
}

fn reason(d: Decision) -> DropReason {
    match d {
        Decision::Drop { reason, .. } => reason,
        other => panic!("answered: {other:?}"),
    }
}

fn answer(d: Decision) -> (IpAddr, Vec<u8>) {
    match d {
        Decision::Answer { ip, frame } => (ip, frame),
        other => panic!("not answered: {other:?}"),
    }
}

#[test]
fn arping_request_for_an_announced_vip_gets_the_reply_linux_sends() {
    let mut r = responder(RateLimit::default());
    let (ip, frame) = answer(r.handle(Instant::now(), IF, &golden("arp_request.bin")));
    assert_eq!(ip, IpAddr::V4(VIP4));
    assert_eq!(frame, golden("arp_reply.bin"));
    let c = r.counters_for(ip);
    assert_eq!((c.requests_received, c.responses_sent), (1, 1));
}

#[test]
fn ndisc6_solicitation_gets_a_solicited_advert_without_override() {
    let mut r = responder(RateLimit::default());
    let (ip, frame) = answer(r.handle(Instant::now(), IF, &golden("ns.bin")));
    assert_eq!(ip, IpAddr::V6(vip6()));
    let (eth, ipv6, p) = NdpPacket::parse_frame(&frame).unwrap().unwrap();
    assert_eq!((eth.src, eth.dst), (OUR, CLIENT));
    assert_eq!(
        (ipv6.src, ipv6.dst, ipv6.hop_limit),
        (vip6(), client6(), 255)
    );
    let NdpMessage::Advert(na) = p.message else {
        panic!("not an NA")
    };
    assert!(na.solicited && !na.override_ && !na.router);
    assert_eq!((na.target, na.target_lla), (vip6(), Some(OUR)));
    // Apart from Override (and so the checksum) it is the kernel's answer.
    let kernel = golden("na.bin");
    let differ: Vec<usize> = (0..kernel.len())
        .filter(|i| kernel[*i] != frame[*i])
        .collect();
    assert_eq!(differ, vec![56, 58]);
}

#[test]
fn raw_socket_solicitation_gets_the_advert_addressed_to_the_solicitor() {
    let mut r = responder(RateLimit::default());
    let f = golden("ns.bin");
    let d = r.handle_icmpv6(
        Instant::now(),
        IF,
        client6(),
        solicited_node(vip6()),
        255,
        &f[54..],
    );
    let Decision::AnswerIcmpv6 { ip, dst, icmp } = d else {
        panic!("not answered: {d:?}");
    };
    assert_eq!((ip, dst), (IpAddr::V6(vip6()), client6()));
    assert_eq!(
        icmp,
        NdpPacket::solicited_advert(OUR, vip6(), client6(), false).icmp()
    );
}

#[test]
fn request_for_an_address_we_do_not_announce_is_dropped_and_not_counted_per_vip() {
    let mut r = responder(RateLimit::default());
    let other = Ipv4Addr::new(192, 0, 2, 99);
    let d = r.handle(
        Instant::now(),
        IF,
        &arp_request(CLIENT, MacAddr::BROADCAST, CLIENT, other),
    );
    assert_eq!(reason(d), DropReason::NotAnnounced);
    let d = r.handle(
        Instant::now(),
        IF,
        &ns("2001:db8::99".parse().unwrap(), Some(CLIENT)).frame(
            CLIENT,
            multicast_mac(solicited_node("2001:db8::99".parse().unwrap())),
        ),
    );
    assert_eq!(reason(d), DropReason::NotAnnounced);
    assert_eq!(r.counters().count(), 0);
    assert_eq!(r.dropped(DropReason::NotAnnounced), 2);
}

#[test]
fn vip_announced_on_one_interface_is_not_answered_on_another() {
    let mut r = responder(RateLimit::default());
    let d = r.handle(Instant::now(), OTHER_IF, &golden("arp_request.bin"));
    assert_eq!(reason(d), DropReason::NotAnnounced);
}

#[test]
fn frame_on_an_interface_without_a_mac_is_dropped() {
    let mut r = responder(RateLimit::default());
    r.remove_interface(IF);
    assert_eq!(
        reason(r.handle(Instant::now(), IF, &golden("arp_request.bin"))),
        DropReason::UnknownInterface
    );
}

#[test]
fn our_own_frame_is_never_answered() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let looped = arp_request(OUR, MacAddr::BROADCAST, OUR, VIP4);
    assert_eq!(reason(r.handle(now, IF, &looped)), DropReason::OwnFrame);
    // Our MAC as ARP sender from another Ethernet source.
    let spoofed = arp_request(CLIENT, MacAddr::BROADCAST, OUR, VIP4);
    assert_eq!(reason(r.handle(now, IF, &spoofed)), DropReason::OwnFrame);
    // An NS whose source link-layer option is our MAC.
    let p = ns(vip6(), Some(OUR));
    let f = p.frame(CLIENT, multicast_mac(p.dst));
    assert_eq!(reason(r.handle(now, IF, &f)), DropReason::OwnFrame);
    assert_eq!(r.dropped(DropReason::OwnFrame), 3);
}

#[test]
fn arp_request_unicast_to_another_mac_is_not_for_us_but_to_our_mac_is() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let elsewhere = arp_request(CLIENT, MacAddr([0x02, 0, 0, 0, 0, 0x77]), CLIENT, VIP4);
    assert_eq!(reason(r.handle(now, IF, &elsewhere)), DropReason::NotForUs);
    let to_us = arp_request(CLIENT, OUR, CLIENT, VIP4);
    answer(r.handle(now, IF, &to_us));
}

#[test]
fn arp_replies_and_gratuitous_announcements_are_not_answered() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let reply = ArpPacket::gratuitous(ArpOp::Reply, CLIENT, VIP4);
    assert_eq!(reason(r.handle(now, IF, &reply)), DropReason::NotRequest);
    let garp = ArpPacket::gratuitous(ArpOp::Request, CLIENT, VIP4);
    assert_eq!(reason(r.handle(now, IF, &garp)), DropReason::NotRequest);
    let na = NdpPacket::solicited_advert(CLIENT, vip6(), client6(), true).frame(CLIENT, OUR);
    assert_eq!(reason(r.handle(now, IF, &na)), DropReason::NotRequest);
}

#[test]
fn arp_request_from_a_multicast_sender_is_dropped() {
    let mut r = responder(RateLimit::default());
    let f = arp_request(
        CLIENT,
        MacAddr::BROADCAST,
        MacAddr([0x03, 0, 0, 0, 0, 1]),
        VIP4,
    );
    assert_eq!(
        reason(r.handle(Instant::now(), IF, &f)),
        DropReason::BadSender
    );
}

#[test]
fn solicitation_without_a_source_link_layer_option_is_not_answered() {
    let mut r = responder(RateLimit::default());
    let p = NdpPacket {
        dst: vip6(),
        ..ns(vip6(), None)
    };
    let f = p.frame(CLIENT, OUR);
    assert_eq!(
        reason(r.handle(Instant::now(), IF, &f)),
        DropReason::NoSourceLinkLayer
    );
}

#[test]
fn solicitation_to_another_targets_group_is_not_for_us() {
    let mut r = responder(RateLimit::default());
    let mut p = ns(vip6(), Some(CLIENT));
    p.dst = solicited_node("2001:db8::1:c".parse().unwrap());
    let f = p.frame(CLIENT, multicast_mac(p.dst));
    assert_eq!(
        reason(r.handle(Instant::now(), IF, &f)),
        DropReason::NotForUs
    );
}

#[test]
fn unicast_solicitation_to_the_vip_is_answered() {
    let mut r = responder(RateLimit::default());
    let p = NdpPacket {
        dst: vip6(),
        ..ns(vip6(), Some(CLIENT))
    };
    answer(r.handle(Instant::now(), IF, &p.frame(CLIENT, OUR)));
}

#[test]
fn solicitation_with_hop_limit_254_is_dropped_as_malformed_naming_the_field() {
    let mut r = responder(RateLimit::default());
    let mut f = golden("ns.bin");
    f[21] = 254;
    let d = r.handle(Instant::now(), IF, &f);
    let Decision::Drop { reason, error } = d else {
        panic!("answered")
    };
    assert_eq!(reason, DropReason::Malformed);
    assert_eq!(error.map(|e| e.field()), Some("ndp.ipv6.hop_limit"));
}

#[test]
fn truncated_and_foreign_frames_are_counted_not_answered() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let f = golden("arp_request.bin");
    for n in 0..42 {
        assert_eq!(
            reason(r.handle(now, IF, &f[..n])),
            DropReason::Malformed,
            "{n} octets"
        );
    }
    let mut ipv4 = f.clone();
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(reason(r.handle(now, IF, &ipv4)), DropReason::OtherProtocol);
    assert_eq!(r.dropped(DropReason::Malformed), 42);
}

#[test]
fn withdrawn_vip_stops_being_answered_at_once() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    answer(r.handle(now, IF, &golden("arp_request.bin")));
    r.set_announced(IF, [IpAddr::V6(vip6())]).unwrap();
    assert_eq!(
        reason(r.handle(now, IF, &golden("arp_request.bin"))),
        DropReason::NotAnnounced
    );
    assert_eq!(r.announced(IF).count(), 1);
}

#[test]
fn one_source_gets_its_burst_then_its_rate() {
    let mut r = responder(RateLimit::default());
    let t0 = Instant::now();
    let f = golden("arp_request.bin");
    let answered = (0..150)
        .filter(|_| matches!(r.handle(t0, IF, &f), Decision::Answer { .. }))
        .count();
    assert_eq!(answered, 100, "burst of 100");
    // One second later, 50 more tokens.
    let t1 = t0 + Duration::from_secs(1);
    let answered = (0..150)
        .filter(|_| matches!(r.handle(t1, IF, &f), Decision::Answer { .. }))
        .count();
    assert_eq!(answered, 50);
    let c = r.counters_for(IpAddr::V4(VIP4));
    assert_eq!((c.requests_received, c.responses_sent), (300, 150));
    assert_eq!(r.dropped(DropReason::RateLimited), 150);
}

#[test]
fn a_flooding_source_does_not_starve_another() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let f = golden("arp_request.bin");
    for _ in 0..1000 {
        r.handle(now, IF, &f);
    }
    let other = MacAddr([0x02, 0, 0, 0, 0, 0x33]);
    answer(r.handle(
        now,
        IF,
        &arp_request(other, MacAddr::BROADCAST, other, VIP4),
    ));
}

#[test]
fn spoofed_source_flood_keeps_the_table_bounded_and_hits_the_global_limit() {
    let limit = RateLimit {
        max_sources: 64,
        global_burst: 500.0,
        global_rate: 100.0,
        ..RateLimit::default()
    };
    let mut r = responder(limit);
    let now = Instant::now();
    let mut answered = 0;
    for i in 0..10_000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        let mac = MacAddr([0x02, 0x55, 0, b, c, d]);
        if matches!(
            r.handle(now, IF, &arp_request(mac, MacAddr::BROADCAST, mac, VIP4)),
            Decision::Answer { .. }
        ) {
            answered += 1;
        }
        assert!(r.tracked_sources() <= 64);
    }
    assert_eq!(answered, 500, "the global burst, no more");
}

#[test]
fn a_clock_going_back_neither_panics_nor_refills() {
    let mut r = responder(RateLimit::default());
    let t1 = Instant::now() + Duration::from_secs(10);
    let f = golden("arp_request.bin");
    for _ in 0..100 {
        answer(r.handle(t1, IF, &f));
    }
    let t0 = t1 - Duration::from_secs(5);
    assert_eq!(reason(r.handle(t0, IF, &f)), DropReason::RateLimited);
}

#[test]
fn drops_are_listed_for_every_reason_with_distinct_names() {
    let r = responder(RateLimit::default());
    let names: std::collections::HashSet<&str> = r.drops().map(|(d, _)| d.name()).collect();
    assert_eq!(names.len(), DropReason::ALL.len());
}

#[test]
fn announcing_on_an_interface_without_a_mac_is_an_error_naming_it() {
    let mut r = Responder::new(RateLimit::default());
    let e = r.set_announced(42, [IpAddr::V4(VIP4)]).unwrap_err();
    assert_eq!(e.ifindex, 42);
    assert!(e.to_string().contains("interface 42"), "{e}");
}

#[test]
fn raw_socket_path_applies_the_same_rules() {
    let mut r = responder(RateLimit::default());
    let now = Instant::now();
    let group = solicited_node(vip6());
    let f = golden("ns.bin");
    let d = r.handle_icmpv6(now, OTHER_IF, client6(), group, 255, &f[54..]);
    assert_eq!(reason(d), DropReason::NotAnnounced);
    let d = r.handle_icmpv6(now, 99, client6(), group, 255, &f[54..]);
    assert_eq!(reason(d), DropReason::UnknownInterface);
    let d = r.handle_icmpv6(now, IF, client6(), group, 254, &f[54..]);
    assert_eq!(reason(d), DropReason::Malformed);
    let own = ns(vip6(), Some(OUR)).icmp();
    let d = r.handle_icmpv6(now, IF, client6(), group, 255, &own);
    assert_eq!(reason(d), DropReason::OwnFrame);
    let echo = [128u8, 0, 0, 0, 0, 0, 0, 0];
    let d = r.handle_icmpv6(now, IF, client6(), group, 255, &echo);
    assert_eq!(reason(d), DropReason::OtherProtocol);
}
