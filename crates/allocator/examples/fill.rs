//! Fills a pool with N pre-built services through the full `converge` path
//! (or `allocate` with `--allocate`), for profilers such as
//! `valgrind --tool=callgrind` (instruction counts are noise-free):
//!
//! ```text
//! cargo build --release -p allocator --example fill
//! valgrind --tool=callgrind target/release/examples/fill 100000 v4
//! target/release/examples/fill 100000 churn   # 90%-full /16, N release+converge steps
//! ```

use allocator::{Allocator, Family, IpAddressPool, PoolSpec, ServiceKey, ServiceRequest};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let v6 = args.iter().any(|a| a == "v6");
    let no_events = args.iter().any(|a| a == "--allocate");
    if args.iter().any(|a| a == "churn") {
        churn(n, no_events);
        return;
    }
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
        "{n} {} {} allocations in {:.3} s = {:.0}/s",
        if v6 { "v6" } else { "v4" },
        if no_events { "allocate" } else { "converge" },
        dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
}

/// 90%-full /16, then `steps` x (release a pseudo-random service, converge it again).
fn churn(steps: usize, no_events: bool) {
    let live = (1usize << 16) * 9 / 10;
    let reqs: Vec<ServiceRequest> = (0..live)
        .map(|i| ServiceRequest::new(ServiceKey::new("bench", format!("svc-{i:06}")), Family::V4))
        .collect();
    let pools = [IpAddressPool::new("pool", PoolSpec::new(["10.0.0.0/16"]))];
    let mut a = Allocator::new(&pools).expect("pool");
    for r in &reqs {
        a.converge(r, &[]).result.expect("fill");
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let t = Instant::now();
    for _ in 0..steps {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = &reqs[(x % live as u64) as usize];
        black_box(a.release(&r.key));
        if no_events {
            black_box(a.allocate(r).expect("space"));
        } else {
            black_box(a.converge(r, &[]));
        }
    }
    let dt = t.elapsed();
    println!(
        "{steps} release+{} steps in {:.3} s = {:.0}/s",
        if no_events { "allocate" } else { "converge" },
        dt.as_secs_f64(),
        steps as f64 / dt.as_secs_f64()
    );
}
