//! Runs one codec operation N times, for instruction counting under
//! callgrind (repeatable whatever else the machine is doing):
//!
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/codec_instructions decode 500 1000
//!
//! Instructions per operation = (total at N=2000 - total at N=1000) / 1000,
//! which cancels start-up costs. `e2e/bench/codec-instructions.sh` does this.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp_proto::*;
use bytes::BytesMut;
use ipnet::IpNet;

fn update(n: u32) -> Update {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    Update {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([64512])),
            PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
        ],
        nlri: (0..n)
            .map(|i| Nlri::new(IpNet::new(Ipv4Addr::from(base + i).into(), 32).unwrap()))
            .collect(),
        ..Update::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (op, n, iters) = match args.as_slice() {
        [_, op, n, it] => (
            op.clone(),
            n.parse::<u32>().unwrap_or(1),
            it.parse::<u32>().unwrap_or(1),
        ),
        _ => {
            eprintln!("usage: codec_instructions decode|encode|build PREFIXES ITERATIONS");
            std::process::exit(2);
        }
    };
    let params = SessionParams::four_octet();
    let msg = Message::Update(update(n));
    let bytes = msg.to_bytes(&params).unwrap();
    let mut buf = BytesMut::with_capacity(4096);
    for _ in 0..iters {
        match op.as_str() {
            "decode" => {
                black_box(Message::decode(black_box(bytes.clone()), &params).unwrap());
            }
            "build" => {
                let attrs = std::sync::Arc::new(bgp_proto::builder::AttrSet {
                    attributes: vec![
                        PathAttribute::Origin(Origin::Igp),
                        PathAttribute::AsPath(AsPath::sequence([64512])),
                    ],
                    next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
                });
                let mut b = bgp_proto::builder::UpdateBuilder::new(params.clone());
                let Message::Update(u) = &msg else {
                    unreachable!()
                };
                b.announce_all(attrs, u.nlri.iter().copied());
                black_box(b.build().unwrap());
            }
            "encode" => {
                buf.clear();
                black_box(&msg).encode(&params, &mut buf).unwrap();
            }
            _ => std::process::exit(2),
        }
    }
}
