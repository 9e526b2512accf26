//! Decode and encode of UPDATEs carrying 1, 100, 500 and 810 IPv4 /32s with
//! minimal eBGP attributes (ORIGIN, a one-AS AS_PATH, NEXT_HOP), plus the
//! builder packing 810 prefixes from scratch.
//!
//! Run: cargo bench -p bgp-proto --bench codec

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp_proto::builder::{AttrSet, UpdateBuilder};
use bgp_proto::*;
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipnet::IpNet;

fn prefixes(n: u32) -> Vec<Nlri> {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    (0..n)
        .map(|i| Nlri::new(IpNet::new(Ipv4Addr::from(base + i).into(), 32).unwrap()))
        .collect()
}

fn update(n: u32) -> Update {
    Update {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([64512])),
            PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
        ],
        nlri: prefixes(n),
        ..Update::default()
    }
}

fn bench(c: &mut Criterion) {
    let params = SessionParams::four_octet();
    let mut g = c.benchmark_group("update");
    for n in [1u32, 100, 500, 810] {
        let msg = Message::Update(update(n));
        let bytes = msg.to_bytes(&params).unwrap();
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::new("decode", n), &bytes, |b, bytes| {
            b.iter(|| Message::decode(black_box(bytes.clone()), &params).unwrap())
        });
        let mut buf = BytesMut::with_capacity(4096);
        g.bench_with_input(BenchmarkId::new("encode", n), &msg, |b, msg| {
            b.iter(|| {
                buf.clear();
                black_box(msg).encode(&params, &mut buf).unwrap();
            })
        });
        let attrs = Arc::new(AttrSet {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence([64512])),
            ],
            next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
        });
        let ps = prefixes(n);
        g.bench_with_input(BenchmarkId::new("build", n), &ps, |b, ps| {
            b.iter(|| {
                let mut builder = UpdateBuilder::new(params.clone());
                builder.announce_all(attrs.clone(), ps.iter().copied());
                black_box(builder.build().unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
