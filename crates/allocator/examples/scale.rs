//! Allocates 100k services from a /12 IPv4 pool and 100k from a /64 IPv6
//! pool, then churns at 90% of a /16, printing timings. Run under
//! `/usr/bin/time -v` to read the peak memory (max RSS):
//!
//! ```text
//! cargo run --release -p allocator --example scale
//! ```

use allocator::{Allocator, Family, IpAddressPool, PoolSpec, ServiceKey, ServiceRequest};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let pools = vec![
        IpAddressPool::new("v4", PoolSpec::new(["10.0.0.0/12"])),
        IpAddressPool::new("v6", PoolSpec::new(["fd00::/64"])),
    ];
    let mut a = Allocator::new(&pools).expect("pools");
    for (family, pool) in [(Family::V4, "v4"), (Family::V6, "v6")] {
        let t = Instant::now();
        for i in 0..n {
            // Requests are built on the fly so the harness holds no memory.
            let mut r =
                ServiceRequest::new(ServiceKey::new("scale", format!("{pool}-{i:06}")), family);
            r.pool = Some(pool.to_string());
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
