//! Property tests: exclusivity, pool membership, order independence,
//! restart stability, stats accuracy and first-fit equivalence.

mod common;
use allocator::*;
use common::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

const NAMESPACES: [&str; 2] = ["ns1", "ns2"];
const REQUESTABLE: [&str; 6] = [
    "10.0.0.1", "10.0.0.2", "10.0.1.1", "fd00::1", "10.0.3.1", "10.9.9.9",
];

/// Pool layouts to switch between (contended on purpose: few addresses).
fn pool_layout(variant: u8, avoid_buggy: bool, prio: i32) -> Vec<IpAddressPool> {
    let a = pool_with("a", &["10.0.0.0/29"], |s| s.avoid_buggy_ips = avoid_buggy);
    let b = pool("b", &["10.0.1.0-10.0.1.3", "fd00::/126"]);
    let c = pinned(
        "c",
        &["10.0.2.0/30"],
        ServiceAllocation {
            priority: prio,
            namespaces: vec!["ns1".into()],
            ..Default::default()
        },
    );
    let d = pool_with("d", &["10.0.3.0/30", "fd03::/127"], |s| {
        s.auto_assign = false
    });
    match variant % 4 {
        0 => vec![a, b, c, d],
        1 => vec![b, d],
        2 => vec![pool("a", &["10.0.0.0/30"]), c],
        _ => vec![a, pool("b2", &["10.0.1.0/31"]), d],
    }
}

#[derive(Debug, Clone)]
struct SvcSpec {
    name: u8,
    ns: u8,
    family: u8,
    sharing: u8,
    ports: Vec<u8>,
    local: Option<u8>,
    pool: Option<u8>,
    requested: Option<u8>,
}

fn svc_spec() -> impl Strategy<Value = SvcSpec> {
    (
        0u8..10,
        0u8..2,
        0u8..6,
        0u8..3,
        proptest::collection::vec(0u8..3, 0..3),
        proptest::option::weighted(0.3, 0u8..2),
        proptest::option::weighted(0.15, 0u8..3),
        proptest::option::weighted(0.15, 0u8..6),
    )
        .prop_map(
            |(name, ns, family, sharing, ports, local, pool, requested)| SvcSpec {
                name,
                ns,
                family,
                sharing,
                ports,
                local,
                pool,
                requested,
            },
        )
}

fn build(s: &SvcSpec) -> ServiceRequest {
    let k = key(NAMESPACES[s.ns as usize], &format!("s{}", s.name));
    let mut r = match s.family {
        0 | 1 => ServiceRequest::new(k, Family::V4),
        2 => ServiceRequest::new(k, Family::V6),
        3 => ServiceRequest::dual(k, IpFamilyPolicy::PreferDualStack, Family::V4),
        4 => ServiceRequest::dual(k, IpFamilyPolicy::PreferDualStack, Family::V6),
        _ => ServiceRequest::dual(k, IpFamilyPolicy::RequireDualStack, Family::V4),
    };
    r.sharing_key = ["", "k1", "k2"][s.sharing as usize].to_string();
    let all_ports = [Port::tcp(80), Port::tcp(443), Port::udp(53)];
    r.ports = s
        .ports
        .iter()
        .map(|p| all_ports[*p as usize])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(sel) = s.local {
        r.traffic_policy = TrafficPolicy::Local;
        r.selector = labels(&[("app", ["x", "y"][sel as usize])]);
    }
    r.pool = s.pool.map(|p| ["a", "d", "nope"][p as usize].to_string());
    if let Some(i) = s.requested {
        r.requested_ips = vec![ip(REQUESTABLE[i as usize])];
    }
    r
}

#[derive(Debug, Clone)]
enum Op {
    Converge(SvcSpec),
    Release(u8, u8),
    SetPools(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => svc_spec().prop_map(Op::Converge),
        2 => (0u8..10, 0u8..2).prop_map(|(n, ns)| Op::Release(n, ns)),
        1 => (0u8..4).prop_map(Op::SetPools),
    ]
}

/// Checks every invariant of the allocator against the requests it was given.
fn check_invariants(
    a: &Allocator,
    reqs: &BTreeMap<ServiceKey, ServiceRequest>,
) -> Result<(), TestCaseError> {
    let mut users: BTreeMap<IpAddr, Vec<&ServiceKey>> = BTreeMap::new();
    let mut per_pool: BTreeMap<String, [BTreeSet<IpAddr>; 2]> = BTreeMap::new();
    for (k, asg) in a.assignments() {
        let req = &reqs[k];
        prop_assert!(!asg.ips.is_empty());
        let fams: BTreeSet<Family> = asg.ips.iter().map(|i| Family::of(&i.ip)).collect();
        prop_assert_eq!(
            fams.len(),
            asg.ips.len(),
            "one address per family for {}",
            k
        );
        for AssignedIp { ip, pool } in &asg.ips {
            let p = a.pool(pool).expect("assigned pool exists");
            prop_assert!(p.contains(ip), "{} not in pool {}", ip, pool);
            prop_assert!(
                p.allows(&k.namespace, &req.namespace_labels, &req.labels),
                "{} not allowed in {}",
                k,
                pool
            );
            // (autoAssign is not checked here: like MetalLB, an address
            // that was requested or restored stays valid in an
            // autoAssign=false pool after the request is dropped.)
            if let Some(want) = &req.pool {
                prop_assert_eq!(want.as_str(), &**pool);
            }
            users.entry(*ip).or_default().push(k);
            per_pool.entry(pool.to_string()).or_default()
                [usize::from(Family::of(ip) == Family::V6)]
            .insert(*ip);
        }
        if !req.requested_ips.is_empty() {
            let got: BTreeSet<_> = asg.addresses().into_iter().collect();
            let want: BTreeSet<_> = req.requested_ips.iter().copied().collect();
            prop_assert_eq!(got, want);
        }
    }
    for (ip, ks) in &users {
        if ks.len() < 2 {
            continue;
        }
        let first = &reqs[ks[0]];
        let mut ports = BTreeSet::new();
        for k in ks {
            let r = &reqs[*k];
            prop_assert!(
                !r.sharing_key.is_empty(),
                "{} shared by {:?} without a key",
                ip,
                ks
            );
            prop_assert_eq!(&r.sharing_key, &first.sharing_key);
            prop_assert_eq!(r.backend_key(), first.backend_key());
            for p in &r.ports {
                prop_assert!(ports.insert(*p), "{} port {} used twice on {}", k, p, ip);
            }
        }
    }
    for s in a.stats() {
        let sets = per_pool.remove(&s.pool).unwrap_or_default();
        prop_assert_eq!(
            s.ipv4_in_use,
            sets[0].len() as u128,
            "v4 in use of {}",
            s.pool
        );
        prop_assert_eq!(
            s.ipv6_in_use,
            sets[1].len() as u128,
            "v6 in use of {}",
            s.pool
        );
        prop_assert!(s.ipv4_in_use <= s.ipv4_total && s.ipv6_in_use <= s.ipv6_total);
    }
    prop_assert!(
        per_pool.is_empty(),
        "assignments in unknown pools: {:?}",
        per_pool.keys()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No address is ever given to two services unless they legally share
    /// it; every assignment lies in an allowed pool; stats are exact.
    #[test]
    fn no_address_is_given_twice_and_every_assignment_is_in_an_allowed_pool(
        ops in proptest::collection::vec(op(), 1..60),
        avoid_buggy in any::<bool>(),
        prio in 0i32..3,
    ) {
        let mut a = alloc(&pool_layout(0, avoid_buggy, prio));
        let mut reqs: BTreeMap<ServiceKey, ServiceRequest> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Converge(s) => {
                    let r = build(&s);
                    reqs.insert(r.key.clone(), r.clone());
                    let out = a.converge(&r, &[]);
                    // Unblocked services really hold their new assignment.
                    for (k, asg) in &out.unblocked {
                        prop_assert_eq!(a.assignment(k), Some(asg));
                    }
                }
                Op::Release(n, ns) => {
                    let k = key(NAMESPACES[ns as usize], &format!("s{n}"));
                    a.release(&k);
                    reqs.remove(&k);
                }
                Op::SetPools(v) => {
                    a.set_pools(&pool_layout(v, avoid_buggy, prio)).expect("valid layout");
                }
            }
            check_invariants(&a, &reqs)?;
        }
    }

    /// The same entries in any order get the same result, duplicates
    /// included: `sync` documents that the last entry for a Service key wins,
    /// so only the relative order of one key's entries may matter, and the
    /// result is that of the last entries alone.
    #[test]
    fn results_are_independent_of_input_order_except_which_duplicate_is_last(
        (base, perm) in (
            proptest::collection::vec((svc_spec(), proptest::option::of(0u8..6)), 1..14),
            // At least one more entry for a key already listed, with its own request.
            proptest::collection::vec((any::<proptest::sample::Index>(), svc_spec(), proptest::option::of(0u8..6)), 1..5),
        )
            .prop_map(|(mut v, dups)| {
                for (at, mut s, st) in dups {
                    let (name, ns) = (v[at.index(v.len())].0.name, v[at.index(v.len())].0.ns);
                    (s.name, s.ns) = (name, ns);
                    v.insert(at.index(v.len() + 1), (s, st));
                }
                v.into_iter().map(|(s, st)| (build(&s), status_of(st))).collect::<Vec<_>>()
            })
            .prop_flat_map(|v| {
                let n = v.len();
                (Just(v), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
            }),
        variant in 0u8..4,
    ) {
        let permuted = keep_duplicate_order(&base, &perm);
        let last = last_per_key(&base);
        prop_assert!(last.len() < base.len(), "the input has a duplicate key");
        let layout = pool_layout(variant, false, 1);
        let (mut x, mut y, mut z) = (alloc(&layout), alloc(&layout), alloc(&layout));
        let ox = x.sync(base.clone());
        // `sync_quiet` makes the same decisions, whatever the order.
        let mut w = alloc(&layout);
        w.sync_quiet(permuted.clone());
        prop_assert_eq!(x.assignments().collect::<Vec<_>>(), w.assignments().collect::<Vec<_>>());
        prop_assert_eq!(x.pending().collect::<Vec<_>>(), w.pending().collect::<Vec<_>>());
        prop_assert_eq!(x.stats(), w.stats());
        prop_assert_eq!(&ox, &y.sync(permuted));
        prop_assert_eq!(&ox, &z.sync(last.clone()));
        prop_assert_eq!(x.assignments().collect::<Vec<_>>(), y.assignments().collect::<Vec<_>>());
        prop_assert_eq!(x.assignments().collect::<Vec<_>>(), z.assignments().collect::<Vec<_>>());
        prop_assert_eq!(x.stats(), y.stats());
        prop_assert_eq!(x.stats(), z.stats());
        let reqs: BTreeMap<_, _> = last.into_iter().map(|(r, _)| (r.key.clone(), r)).collect();
        check_invariants(&x, &reqs)?;
    }

    /// After a restart, restoring status then allocating new services never
    /// moves a still-valid assignment, whatever the arrival order.
    #[test]
    fn restore_then_allocate_never_moves_a_valid_assignment(
        before in proptest::collection::vec(svc_spec(), 1..14),
        released in proptest::collection::vec(0u8..10, 0..4),
        newcomers in proptest::collection::vec(svc_spec(), 0..8),
        rot in 0usize..32,
        variant in 0u8..4,
    ) {
        let pools = pool_layout(variant, true, 2);
        let mut first = alloc(&pools);
        let mut reqs = BTreeMap::new();
        for s in &before {
            let r = build(s);
            first.converge(&r, &[]);
            reqs.insert(r.key.clone(), r);
        }
        for n in released {
            for ns in NAMESPACES {
                let k = key(ns, &format!("s{n}"));
                first.release(&k);
                reqs.remove(&k);
            }
        }
        let kept: BTreeMap<ServiceKey, Assignment> = first.assignments().map(|(k, a)| (k.clone(), a.clone())).collect();
        let mut input: Vec<(ServiceRequest, Vec<IpAddr>)> = reqs
            .values()
            .map(|r| (r.clone(), kept.get(&r.key).map(|a| a.addresses()).unwrap_or_default()))
            .collect();
        for s in &newcomers {
            let mut r = build(s);
            r.key.name = format!("new-{}", r.key.name);
            input.push((r, vec![]));
        }
        let len = input.len();
        if len > 0 {
            input.rotate_left(rot % len);
        }
        let mut second = alloc(&pools);
        second.sync(input.clone());
        for (k, old) in &kept {
            let now = second.assignment(k).expect("restored service keeps an assignment");
            prop_assert_eq!(&now.ips[..old.ips.len()], &old.ips[..], "{} moved", k);
        }
        let all: BTreeMap<_, _> = input.into_iter().map(|(r, _)| (r.key.clone(), r)).collect();
        check_invariants(&second, &all)?;
    }

    /// Without sharing, the address chosen is exactly the one a first-fit
    /// linear scan (MetalLB's algorithm) would choose.
    #[test]
    fn first_fit_matches_a_linear_scan(
        ops in proptest::collection::vec((any::<bool>(), 0u8..40), 1..120),
        avoid_buggy in any::<bool>(),
    ) {
        let entries = ["10.0.1.250-10.0.2.5", "10.0.0.254/31", "10.0.3.255/32"];
        let mut a = alloc(&[pool_with("p", &entries, |s| s.avoid_buggy_ips = avoid_buggy)]);
        // The scan order: each entry from its first address, entries in spec order.
        let scan: Vec<IpAddr> = [("10.0.1.250", 12u32), ("10.0.0.254", 2), ("10.0.3.255", 1)]
            .iter()
            .flat_map(|(start, n)| {
                let s = u32::from(start.parse::<std::net::Ipv4Addr>().unwrap());
                (0..*n).map(move |i| IpAddr::V4((s + i).into()))
            })
            .filter(|ip| !(avoid_buggy && is_buggy_ip(ip)))
            .collect();
        let mut used: BTreeMap<u8, IpAddr> = BTreeMap::new();
        for (alloc_op, n) in ops {
            let k = key("ns", &format!("s{n}"));
            if alloc_op {
                if used.contains_key(&n) {
                    continue;
                }
                let taken: BTreeSet<IpAddr> = used.values().copied().collect();
                let expected = scan.iter().find(|ip| !taken.contains(ip)).copied();
                let out = a.converge(&v4("ns", &format!("s{n}")), &[]);
                prop_assert_eq!(out.result.as_ref().ok().map(|x| x.addresses()[0]), expected);
                if let Some(ip) = expected {
                    used.insert(n, ip);
                }
            } else {
                a.release(&k);
                used.remove(&n);
                // Releasing hands the address to any pending service; track them.
                for (k2, asg) in a.assignments() {
                    let idx: u8 = k2.name[1..].parse().unwrap();
                    used.insert(idx, asg.addresses()[0]);
                }
            }
        }
    }
}

type Entry = (ServiceRequest, Vec<IpAddr>);

fn status_of(st: Option<u8>) -> Vec<IpAddr> {
    st.map(|i| vec![ip(REQUESTABLE[i as usize])])
        .unwrap_or_default()
}

/// `v` reordered by `perm`, except that the entries of one key keep their
/// relative order (each key's slots are refilled with its entries in order).
fn keep_duplicate_order(v: &[Entry], perm: &[usize]) -> Vec<Entry> {
    let mut by_key: BTreeMap<ServiceKey, std::collections::VecDeque<&Entry>> = BTreeMap::new();
    for e in v {
        by_key.entry(e.0.key.clone()).or_default().push_back(e);
    }
    perm.iter()
        .filter_map(|&i| by_key.get_mut(&v[i].0.key)?.pop_front().cloned())
        .collect()
}

/// The last entry of each key, in first-appearance order.
fn last_per_key(v: &[Entry]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for e in v {
        match out.iter_mut().find(|o| o.0.key == e.0.key) {
            Some(o) => *o = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

#[test]
fn of_two_entries_for_one_service_sync_uses_the_last() {
    // ns2: pool c is pinned to ns1, so a plain request falls to pool a.
    let k = key("ns2", "s1");
    let mut from_d = ServiceRequest::new(k.clone(), Family::V4);
    from_d.pool = Some("d".into());
    let plain = ServiceRequest::new(k.clone(), Family::V4);
    for (entries, want_pool) in [
        (vec![(from_d.clone(), vec![]), (plain.clone(), vec![])], "a"),
        (vec![(plain, vec![]), (from_d, vec![])], "d"),
    ] {
        let mut a = alloc(&pool_layout(0, false, 1));
        let out = a.sync(entries);
        assert_eq!(out.len(), 1, "one outcome per key");
        let got = out[&k].result.as_ref().expect("allocated");
        assert_eq!(got.pool(), want_pool);
        assert_eq!(a.assignment(&k).map(Assignment::pool), Some(want_pool));
    }
}
