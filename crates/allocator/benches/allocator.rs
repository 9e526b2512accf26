//! Allocation throughput: oxlb's allocator against a first-fit linear-scan
//! baseline (MetalLB's algorithm: walk each CIDR from its first address,
//! skip addresses in use), measured in the same criterion run.
//!
//! * `fill/*`: allocate N services into an empty pool (/12 IPv4, /64 IPv6).
//! * `churn_90pct/*`: a /16 at 90% full; each step releases a pseudo-random
//!   service and allocates again.
//!
//! The baseline only selects addresses (a `HashSet` of used addresses plus a
//! scan); ours runs the whole public API a controller calls per service
//! (`Allocator::converge`: service table, request bookkeeping, sharing
//! index, events; `Allocator::allocate`: the same without events), so the
//! comparison favours the baseline.

use allocator::{
    Allocator, Family, IntervalSet, IpAddressPool, PoolSpec, ServiceKey, ServiceRequest,
};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

/// MetalLB-style first-fit linear scan over one range.
struct LinearScan {
    first: u128,
    last: u128,
    used: HashSet<u128>,
}

impl LinearScan {
    fn new(first: u128, last: u128) -> Self {
        LinearScan {
            first,
            last,
            used: HashSet::new(),
        }
    }

    fn allocate(&mut self) -> Option<u128> {
        let mut ip = self.first;
        loop {
            if !self.used.contains(&ip) {
                self.used.insert(ip);
                return Some(ip);
            }
            if ip == self.last {
                return None;
            }
            ip += 1;
        }
    }

    fn release(&mut self, ip: u128) {
        self.used.remove(&ip);
    }
}

/// Deterministic xorshift, so runs are reproducible without a rand crate.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn requests(n: usize, family: Family) -> Vec<ServiceRequest> {
    (0..n)
        .map(|i| ServiceRequest::new(ServiceKey::new("bench", format!("svc-{i:06}")), family))
        .collect()
}

fn pools(cidr: &str) -> Vec<IpAddressPool> {
    vec![IpAddressPool::new("pool", PoolSpec::new([cidr]))]
}

fn fill(c: &mut Criterion) {
    let mut g = c.benchmark_group("fill");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (label, cidr, family, first, last) in [
        (
            "ipv4_slash12",
            "10.0.0.0/12",
            Family::V4,
            0x0a00_0000u128,
            0x0a0f_ffffu128,
        ),
        (
            "ipv6_slash64",
            "fd00::/64",
            Family::V6,
            0xfd00u128 << 112,
            (0xfd00u128 << 112) | u128::from(u64::MAX),
        ),
    ] {
        for n in [1_000usize, 10_000, 100_000] {
            g.throughput(Throughput::Elements(n as u64));
            let reqs = requests(n, family);
            g.bench_with_input(
                BenchmarkId::new(format!("oxlb_converge/{label}"), n),
                &n,
                |b, _| {
                    b.iter_batched(
                        || Allocator::new(&pools(cidr)).expect("pool"),
                        |mut a| {
                            for r in &reqs {
                                black_box(a.converge(r, &[]));
                            }
                            a
                        },
                        BatchSize::LargeInput,
                    )
                },
            );
            // Same decisions, no event messages built.
            g.bench_with_input(
                BenchmarkId::new(format!("oxlb_allocate/{label}"), n),
                &n,
                |b, _| {
                    b.iter_batched(
                        || Allocator::new(&pools(cidr)).expect("pool"),
                        |mut a| {
                            for r in &reqs {
                                black_box(a.allocate(r).expect("space"));
                            }
                            a
                        },
                        BatchSize::LargeInput,
                    )
                },
            );
            // The quadratic baseline is only run where it finishes in seconds.
            if n <= 10_000 {
                g.bench_with_input(
                    BenchmarkId::new(format!("linear_scan/{label}"), n),
                    &n,
                    |b, &n| {
                        b.iter_batched(
                            || LinearScan::new(first, last),
                            |mut s| {
                                for _ in 0..n {
                                    black_box(s.allocate());
                                }
                                s
                            },
                            BatchSize::LargeInput,
                        )
                    },
                );
            }
        }
    }
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn_90pct");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let size = 1usize << 16;
    let live = size * 9 / 10;

    // oxlb: full allocator, release + converge per step.
    let reqs = requests(live, Family::V4);
    let mut a = Allocator::new(&pools("10.0.0.0/16")).expect("pool");
    for r in &reqs {
        a.converge(r, &[]).result.expect("fill");
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    g.bench_function("oxlb_converge/ipv4_slash16", |b| {
        b.iter(|| {
            let r = &reqs[(rng.next() % live as u64) as usize];
            black_box(a.release(&r.key));
            black_box(a.converge(r, &[]))
        })
    });
    g.bench_function("oxlb_allocate/ipv4_slash16", |b| {
        b.iter(|| {
            let r = &reqs[(rng.next() % live as u64) as usize];
            black_box(a.release(&r.key));
            black_box(a.allocate(r).expect("space"))
        })
    });

    // Baseline: same pool, same fill level.
    let mut s = LinearScan::new(0x0a00_0000, 0x0a00_ffff);
    let mut addrs: Vec<u128> = (0..live).map(|_| s.allocate().expect("fill")).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    g.bench_function("linear_scan/ipv4_slash16", |b| {
        b.iter(|| {
            let i = (rng.next() % live as u64) as usize;
            s.release(addrs[i]);
            addrs[i] = s.allocate().expect("space");
            black_box(addrs[i])
        })
    });
    g.finish();
}

/// The algorithmic core alone: "lowest free slot" + mark used, on the
/// interval set, against the linear scan, 90% full /16, churn.
fn core(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_churn_90pct");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let size = 1u128 << 16;
    let live = (size * 9 / 10) as usize;
    let mut set = IntervalSet::new();
    let mut slots: Vec<u128> = Vec::with_capacity(live);
    for _ in 0..live {
        let s = set.first_free_from(0).expect("free");
        set.insert(s);
        slots.push(s);
    }
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    g.bench_function("interval_set", |b| {
        b.iter(|| {
            let i = (rng.next() % live as u64) as usize;
            set.remove(slots[i]);
            let s = set.first_free_from(0).expect("free");
            assert!(s < size);
            set.insert(s);
            slots[i] = s;
            black_box(s)
        })
    });
    let mut scan = LinearScan::new(0, size - 1);
    let mut addrs: Vec<u128> = (0..live).map(|_| scan.allocate().expect("fill")).collect();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    g.bench_function("linear_scan", |b| {
        b.iter(|| {
            let i = (rng.next() % live as u64) as usize;
            scan.release(addrs[i]);
            addrs[i] = scan.allocate().expect("space");
            black_box(addrs[i])
        })
    });
    g.finish();
}

criterion_group!(benches, fill, churn, core);
criterion_main!(benches);
