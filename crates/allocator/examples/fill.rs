//! Fills a pool with N pre-built services through the full `converge` path
//! (or `allocate` with `--allocate`), for profilers such as
//! `valgrind --tool=callgrind` (instruction counts are noise-free):
//!
//! ```text
//! cargo build --release -p allocator --example fill
//! valgrind --tool=callgrind target/release/examples/fill 100000 v4
//! ```

use allocator::{Allocator, Family, IpAddressPool, PoolSpec, ServiceKey, ServiceRequest};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let v6 = args.iter().any(|a| a == "v6");
    let no_events = args.iter().any(|a| a == "--allocate");
    let (cidr, family) = if v6 {
        ("fd00::/64", Family::V6)
    } else {
        ("10.0.0.0/12", Family::V4)
    };
    let reqs: Vec<ServiceRequest> = (0..n)
        .map(|i| ServiceRequest::new(ServiceKey::new("bench", format!("svc-{i:06}")), family))
        .collect();
    let mut a = Allocator::new(&[IpAddressPool::new("pool", PoolSpec::new([cidr]))]).expect("pool");
    let t = Instant::now();
    for r in &reqs {
        if no_events {
            black_box(a.allocate(r).expect("space"));
        } else {
            black_box(a.converge(r, &[]));
        }
    }
    let dt = t.elapsed();
    println!(
        "{n} {} allocations in {:.3} s = {:.0}/s",
        if no_events { "allocate" } else { "converge" },
        dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
}
