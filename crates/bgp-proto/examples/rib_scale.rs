//! Times the Adj-RIB-Out at scale (a measurement, not a test): N IPv4 /32s
//! in one shared table, K sessions. Prints the time to build the table, to
//! build every session's initial table, to apply a one-route change, and
//! to build the withdrawal of everything.
//!
//!   cargo run --release -p bgp-proto --example rib_scale -- 100000 4 [unique]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use bgp_proto::adj_rib_out::{AdjRibOut, ExportContext, RouteSpec, RouteTable};
use bgp_proto::{Community, Family, SessionParams};
use ipnet::IpNet;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let k: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    // "unique": every route its own large community (no sharing of sets).
    let unique = args.next().is_some_and(|a| a == "unique");
    let ctx = ExportContext {
        local_as: 64512,
        ebgp: true,
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        next_hop_v6: None,
        link_local_v6: None,
        families: vec![Family::IPV4_UNICAST],
        extended_next_hop: false,
        params: SessionParams {
            ebgp: true,
            ..SessionParams::four_octet()
        },
    };
    let routes: Vec<RouteSpec> = (0..n)
        .map(|i| {
            let mut r = RouteSpec::new(IpNet::V4(ipnet::Ipv4Net::from(Ipv4Addr::from(
                0xc612_0000 + i,
            ))));
            if unique {
                r.large_communities.push(bgp_proto::LargeCommunity {
                    global_admin: 64512,
                    local1: 0,
                    local2: i,
                });
            }
            r
        })
        .collect();
    let t = Instant::now();
    let table = Arc::new(RouteTable::build(routes.iter(), None));
    println!("build table of {n}: {:?}", t.elapsed());
    let mut ribs: Vec<AdjRibOut> = (0..k).map(|_| AdjRibOut::new()).collect();
    let t = Instant::now();
    let mut messages = 0;
    for rib in &mut ribs {
        rib.set_table(&ctx, table.clone());
        rib.start(&ctx.families);
        while rib.has_pending() {
            messages += rib.next_updates(&ctx.params, 64).unwrap_or_default().len();
        }
    }
    println!(
        "initial table to {k} sessions: {:?} ({messages} messages)",
        t.elapsed()
    );
    let mut one = routes.clone();
    one[n as usize / 2]
        .communities
        .push(Community::new(65000, 1));
    let t = Instant::now();
    let changed = Arc::new(RouteTable::build(one.iter(), Some(&table)));
    let built = t.elapsed();
    for rib in &mut ribs {
        rib.set_table(&ctx, changed.clone());
        rib.next_updates(&ctx.params, 64).unwrap_or_default();
    }
    println!(
        "one-route change: table {built:?}, all sessions {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let empty = Arc::new(RouteTable::build([].iter(), Some(&changed)));
    messages = 0;
    for rib in &mut ribs {
        rib.set_table(&ctx, empty.clone());
        while rib.has_pending() {
            messages += rib.next_updates(&ctx.params, 64).unwrap_or_default().len();
        }
    }
    println!(
        "withdraw all from {k} sessions: {:?} ({messages} messages)",
        t.elapsed()
    );
}
