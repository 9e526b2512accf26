//! ARP requests answered per second on one core: one request frame
//! through `Responder::handle`, which parses it, checks the rules, passes
//! the rate limiter (limits set too high to refuse) and builds the reply;
//! 1,000 VIPs are announced on the interface.
//!
//! cargo bench -p l2 --bench responder

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2::responder::{Decision, RateLimit, Responder};
use l2::wire::{ArpOp, ArpPacket, MacAddr, NdpPacket};

const IFINDEX: u32 = 2;
const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);

fn responder(limit: RateLimit) -> Responder {
    let mut r = Responder::new(limit);
    r.set_interface(IFINDEX, OUR_MAC);
    r.set_announced(
        IFINDEX,
        (0..1000u32).map(|i| IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i))),
    )
    .expect("interface was just set");
    r
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    ArpPacket {
        op: ArpOp::Request,
        sender_mac: CLIENT,
        sender_ip: Ipv4Addr::new(198, 18, 255, 1),
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
    .frame(CLIENT, MacAddr::BROADCAST)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("responder");
    g.throughput(Throughput::Elements(1));

    // Finite limits, so the token buckets are consulted, but too high to
    // refuse anything in a run.
    let high = RateLimit {
        per_source_rate: 1e12,
        per_source_burst: 1e12,
        global_rate: 1e12,
        global_burst: 1e12,
        ..RateLimit::default()
    };
    let mut r = responder(high);
    let req = arp_request(Ipv4Addr::new(198, 18, 1, 244));
    let now = Instant::now();
    g.bench_function("arp_request_answered", |b| {
        b.iter(|| {
            let d = r.handle(now, IFINDEX, black_box(&req));
            assert!(matches!(d, Decision::Answer { .. }));
            d
        })
    });

    // With the default limits, a source over its rate: the cost of a
    // flood frame that is refused.
    let mut r = responder(RateLimit::default());
    for _ in 0..200 {
        r.handle(now, IFINDEX, &req);
    }
    g.bench_function("arp_request_rate_limited", |b| {
        b.iter(|| r.handle(now, IFINDEX, black_box(&req)))
    });

    let mut r = responder(RateLimit::unlimited());
    let other = arp_request(Ipv4Addr::new(203, 0, 113, 9));
    g.bench_function("arp_request_not_announced", |b| {
        b.iter(|| r.handle(now, IFINDEX, black_box(&other)))
    });

    let mut r = Responder::new(high);
    r.set_interface(IFINDEX, OUR_MAC);
    let vip = "2001:db8::b".parse().expect("literal");
    r.set_announced(IFINDEX, [IpAddr::V6(vip)])
        .expect("interface was just set");
    let ns = NdpPacket {
        src: "fe80::ff:fe00:a".parse().expect("literal"),
        dst: l2::wire::ndp::solicited_node(vip),
        hop_limit: 255,
        message: l2::wire::NdpMessage::Solicit(l2::wire::NeighborSolicit {
            target: vip,
            source_lla: Some(CLIENT),
        }),
    };
    let frame = ns.frame(CLIENT, l2::wire::ndp::multicast_mac(ns.dst));
    g.bench_function("ns_answered", |b| {
        b.iter(|| r.handle(now, IFINDEX, black_box(&frame)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
