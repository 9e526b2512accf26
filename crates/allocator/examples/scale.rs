//! Allocates 100k services from a /12 IPv4 pool and 100k from a /64 IPv6
//! pool in one allocator, printing timings. Run under `/usr/bin/time -v`
//! to read the peak memory (max RSS):
//!
//! ```text
//! cargo build --release -p allocator --example scale
//! /usr/bin/time -v target/release/examples/scale            # plain services
//! /usr/bin/time -v target/release/examples/scale 100000 real # with ports, labels
//! /usr/bin/time -v target/release/examples/scale 0           # baseline RSS
//! ```
//!
//! Requests are built on the fly (so the harness holds no memory), which
//! makes the printed rates lower than the criterion bench's: they include
//! building each request. `real` gives every service what a real one has:
//! two ports, an `app` label, namespace labels, the `address-pool`
//! annotation, and ETP=Local (a backend key) on every other service.

use allocator::{
    Allocator, Family, IpAddressPool, PoolSpec, Port, ServiceKey, ServiceRequest, TrafficPolicy,
};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let real = std::env::args().any(|a| a == "real");
    let pools = vec![
        IpAddressPool::new("v4", PoolSpec::new(["10.0.0.0/12"])),
        IpAddressPool::new("v6", PoolSpec::new(["fd00::/64"])),
    ];
    let mut a = Allocator::new(&pools).expect("pools");
    for (family, pool) in [(Family::V4, "v4"), (Family::V6, "v6")] {
        let t = Instant::now();
        for i in 0..n {
            let name = format!("{pool}-{i:06}");
            let mut r = ServiceRequest::new(ServiceKey::new("scale", name.clone()), family);
            r.pool = Some(pool.to_string());
            if real {
                r.ports = vec![Port::tcp(80), Port::tcp(443)];
                r.labels.insert("app".into(), name.clone());
                r.namespace_labels
                    .insert("kubernetes.io/metadata.name".into(), "scale".into());
                if i % 2 == 0 {
                    r.traffic_policy = TrafficPolicy::Local;
                    r.selector.insert("app".into(), name);
                }
            }
            a.converge(&r, &[]).result.expect("allocation");
        }
        let dt = t.elapsed();
        let s = a.pool_stats(pool).expect("stats");
        println!(
            "{pool}: {n} allocations in {:.3} s = {:.0} allocations/s (in use v4 {} / v6 {}, total v4 {} / v6 {})",
            dt.as_secs_f64(),
            n as f64 / dt.as_secs_f64(),
            s.ipv4_in_use,
            s.ipv6_in_use,
            s.ipv4_total,
            s.ipv6_total
        );
    }
    println!("services: {}", a.assignments().count());
}
