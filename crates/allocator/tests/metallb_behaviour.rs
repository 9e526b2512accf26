//! Table tests for MetalLB's allocation behaviour (reference §1.2, §2, §3),
//! including the scenarios of its e2e `l2tests/assignment.go`.

mod common;
use allocator::*;
use common::*;

// ---------------------------------------------------------------- first fit

#[test]
fn first_fit_hands_out_the_lowest_address_including_network_and_broadcast() {
    let mut a = alloc(&[pool("p", &["10.0.0.254/31", "10.0.1.0/31"])]);
    let got_ips: Vec<_> = (0..4)
        .map(|i| got(&a.converge(&v4("ns", &format!("s{i}")), &[]))[0])
        .collect();
    assert_eq!(
        got_ips,
        ips(&["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"])
    );
    assert_eq!(
        err(&a.converge(&v4("ns", "s4"), &[])),
        AllocError::NoAvailableIps
    );
}

#[test]
fn addresses_are_scanned_in_spec_order_like_metallb() {
    let mut a = alloc(&[pool("p", &["10.0.5.0/31", "10.0.1.0/31"])]);
    assert_eq!(got(&a.converge(&v4("ns", "a"), &[])), ips(&["10.0.5.0"]));
    assert_eq!(got(&a.converge(&v4("ns", "b"), &[])), ips(&["10.0.5.1"]));
    assert_eq!(got(&a.converge(&v4("ns", "c"), &[])), ips(&["10.0.1.0"]));
}

#[test]
fn a_released_address_is_reused_first() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/29"])]);
    for i in 0..4 {
        a.converge(&v4("ns", &format!("s{i}")), &[]);
    }
    a.release(&key("ns", "s1"));
    assert_eq!(got(&a.converge(&v4("ns", "new"), &[])), ips(&["10.0.0.1"]));
    assert_eq!(
        got(&a.converge(&v4("ns", "newer"), &[])),
        ips(&["10.0.0.4"])
    );
}

#[test]
fn avoid_buggy_ips_skips_dot_zero_and_dot_255_at_every_24_boundary() {
    let mut a = alloc(&[pool_with("p", &["10.0.0.254-10.0.2.1"], |s| {
        s.avoid_buggy_ips = true
    })]);
    let seq: Vec<_> = (0..4)
        .map(|i| got(&a.converge(&v4("ns", &format!("s{i}")), &[]))[0])
        .collect();
    assert_eq!(
        seq,
        ips(&["10.0.0.254", "10.0.1.1", "10.0.1.2", "10.0.1.3"])
    );
    // Exact count: 10.0.0.254 + 10.0.1.1..254 + 10.0.2.1 = 1 + 254 + 1.
    assert_eq!(a.pool_stats("p").unwrap().ipv4_total, 256);
}

#[test]
fn requesting_a_buggy_ip_from_an_avoid_buggy_pool_fails() {
    let mut a = alloc(&[pool_with("p", &["10.0.0.0/24"], |s| {
        s.avoid_buggy_ips = true
    })]);
    let mut r = v4("ns", "s");
    r.requested_ips = ips(&["10.0.0.255"]);
    let e = err(&a.converge(&r, &[]));
    assert_eq!(e.to_string(), r#"["10.0.0.255"] is not allowed in config"#);
    r.requested_ips = ips(&["10.0.0.254"]);
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.254"]));
}

#[test]
fn ipv6_pools_of_any_size_allocate_from_the_first_address() {
    let mut a = alloc(&[pool("big", &["fd00::/48"]), pool("v4", &["10.0.0.0/8"])]);
    assert_eq!(got(&a.converge(&v6("ns", "a"), &[])), ips(&["fd00::"]));
    assert_eq!(got(&a.converge(&v6("ns", "b"), &[])), ips(&["fd00::1"]));
    assert_eq!(got(&a.converge(&v4("ns", "c"), &[])), ips(&["10.0.0.0"]));
    let s = a.pool_stats("big").unwrap();
    assert_eq!(s.ipv6_total, 1u128 << 80);
    assert_eq!(s.ipv6_in_use, 2);
    assert_eq!(a.pool_stats("v4").unwrap().ipv4_total, 1 << 24);
}

// ---------------------------------------------------------- events & errors

#[test]
fn events_carry_metallb_reasons_and_messages() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/32"])]);
    let out = a.converge(&v4("ns", "a"), &[]);
    assert_eq!(out.events[0].reason, "IPAllocated");
    assert_eq!(out.events[0].message, r#"Assigned IP ["10.0.0.0"]"#);
    assert_eq!(out.events[0].kind, EventKind::Normal);
    let out = a.converge(&v4("ns", "b"), &[]);
    assert_eq!(out.events[0].reason, "AllocationFailed");
    assert_eq!(out.events[0].kind, EventKind::Warning);
    assert_eq!(
        out.events[0].message,
        r#"Failed to allocate IP for "ns/b": no available IPs"#
    );
    // Converging an unchanged, valid service emits nothing.
    assert!(a.converge(&v4("ns", "a"), &[]).events.is_empty());
}

#[test]
fn a_named_pool_that_is_exhausted_or_unknown_says_so() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/32"]), pool("q", &["10.0.1.0/24"])]);
    let mut r = v4("ns", "a");
    r.pool = Some("p".into());
    got(&a.converge(&r, &[]));
    r.key = key("ns", "b");
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        r#"no available IPs in pool "p" for ipv4 IPFamily"#
    );
    r.pool = Some("nope".into());
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        r#"unknown pool "nope""#
    );
    // A v6 service asking a v4-only pool.
    let mut r6 = v6("ns", "c");
    r6.pool = Some("q".into());
    assert_eq!(
        err(&a.converge(&r6, &[])).to_string(),
        r#"no available IPs in pool "q" for ipv6 IPFamily"#
    );
}

#[test]
fn auto_assign_false_pools_are_used_only_when_asked_for() {
    let mut a = alloc(&[pool_with("manual", &["10.0.0.0/30"], |s| {
        s.auto_assign = false
    })]);
    assert_eq!(
        err(&a.converge(&v4("ns", "auto"), &[])),
        AllocError::NoAvailableIps
    );
    let mut by_pool = v4("ns", "by-pool");
    by_pool.pool = Some("manual".into());
    assert_eq!(got(&a.converge(&by_pool, &[])), ips(&["10.0.0.0"]));
    let mut by_ip = v4("ns", "by-ip");
    by_ip.requested_ips = ips(&["10.0.0.3"]);
    assert_eq!(got(&a.converge(&by_ip, &[])), ips(&["10.0.0.3"]));
}

#[test]
fn requested_ips_are_checked_against_config_pool_and_family() {
    let mut a = alloc(&[
        pool("p", &["10.0.0.0/24"]),
        pool("q", &["10.0.1.0/24", "fd00::/120"]),
    ]);
    let mut r = v4("ns", "s");
    r.requested_ips = ips(&["10.9.9.9"]);
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        r#"["10.9.9.9"] is not allowed in config"#
    );
    r.requested_ips = ips(&["10.0.0.9"]);
    r.pool = Some("q".into());
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        r#"requested loadBalancer IP(s) ["10.0.0.9"] is not compatible with requested address pool q"#
    );
    r.pool = None;
    r.requested_ips = ips(&["fd00::9"]);
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        r#"requested loadBalancer IP(s) ["fd00::9"] does not match the ipFamily of the service"#
    );
    r.requested_ips = ips(&["10.0.0.9"]);
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.9"]));
    // Changing the requested IP moves the service.
    r.requested_ips = ips(&["10.0.0.10"]);
    let out = a.converge(&r, &[]);
    assert_eq!(got(&out), ips(&["10.0.0.10"]));
    assert_eq!(reasons_of(&out), vec!["IPAllocated"]);
}

#[test]
fn changing_the_pool_annotation_moves_the_service() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"]), pool("q", &["10.0.1.0/24"])]);
    let mut r = v4("ns", "s");
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.0"]));
    r.pool = Some("q".into());
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.1.0"]));
    assert_eq!(a.assignment(&key("ns", "s")).unwrap().pool(), "q");
    assert_eq!(a.pool_stats("p").unwrap().ipv4_in_use, 0);
}

// ------------------------------------------------------------- pool order

#[test]
fn pinned_pools_come_first_by_priority_with_zero_last_then_plain_pools_by_name() {
    let all = ServiceAllocation::default;
    let prio = |p| ServiceAllocation {
        priority: p,
        ..Default::default()
    };
    let a = alloc(&[
        pool("plain-b", &["10.0.0.0/24"]),
        pool("plain-a", &["10.0.1.0/24"]),
        pinned("zero", &["10.0.2.0/24"], all()),
        pinned("ten", &["10.0.3.0/24"], prio(10)),
        pinned("five-b", &["10.0.4.0/24"], prio(5)),
        pinned("five-a", &["10.0.5.0/24"], prio(5)),
    ]);
    assert_eq!(
        a.candidate_pools(&v4("ns", "s")),
        vec!["five-a", "five-b", "ten", "zero", "plain-a", "plain-b"]
    );
}

#[test]
fn priority_picks_the_preferred_pool_and_falls_through_when_it_is_full() {
    let prio = |p| ServiceAllocation {
        priority: p,
        ..Default::default()
    };
    let mut a = alloc(&[
        pinned("low", &["10.0.0.0/32"], prio(20)),
        pinned("high", &["10.0.1.0/32"], prio(10)),
    ]);
    assert_eq!(got(&a.converge(&v4("ns", "a"), &[])), ips(&["10.0.1.0"]));
    assert_eq!(got(&a.converge(&v4("ns", "b"), &[])), ips(&["10.0.0.0"]));
}

#[test]
fn a_pool_with_only_a_priority_matches_every_service() {
    let mut a = alloc(&[pinned(
        "p",
        &["10.0.0.0/30"],
        ServiceAllocation {
            priority: 1,
            ..Default::default()
        },
    )]);
    assert_eq!(got(&a.converge(&v4("any", "svc"), &[])), ips(&["10.0.0.0"]));
}

#[test]
fn namespaces_and_namespace_selectors_restrict_a_pool() {
    let sa = ServiceAllocation {
        namespaces: vec!["team-a".into()],
        namespace_selectors: vec![LabelSelector::labels([("env", "prod")])],
        ..Default::default()
    };
    let mut a = alloc(&[
        pinned("team", &["10.0.0.0/24"], sa),
        pool("shared", &["10.0.1.0/24"]),
    ]);
    assert_eq!(
        got(&a.converge(&v4("team-a", "x"), &[])),
        ips(&["10.0.0.0"])
    );
    let mut prod = v4("prod-ns", "y");
    prod.namespace_labels = labels(&[("env", "prod")]);
    assert_eq!(got(&a.converge(&prod, &[])), ips(&["10.0.0.1"]));
    assert_eq!(got(&a.converge(&v4("other", "z"), &[])), ips(&["10.0.1.0"]));
    // The address-pool annotation does not bypass the restriction.
    let mut r = v4("other", "w");
    r.pool = Some("team".into());
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        "pool team not compatible for ip assignment"
    );
    r.pool = None;
    r.requested_ips = ips(&["10.0.0.77"]);
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        "pool team not compatible for ip assignment"
    );
}

#[test]
fn service_selectors_are_ored_and_combine_with_namespaces() {
    let sa = ServiceAllocation {
        namespaces: vec!["ns".into()],
        service_selectors: vec![
            LabelSelector::labels([("app", "web")]),
            serde_json::from_str(r#"{"matchExpressions":[{"key":"tier","operator":"Exists"}]}"#)
                .unwrap(),
        ],
        ..Default::default()
    };
    let mut a = alloc(&[
        pinned("sel", &["10.0.0.0/24"], sa),
        pool("rest", &["10.0.1.0/24"]),
    ]);
    let mut web = v4("ns", "web");
    web.labels = labels(&[("app", "web")]);
    let mut tiered = v4("ns", "tiered");
    tiered.labels = labels(&[("tier", "x")]);
    let mut elsewhere = v4("other", "web");
    elsewhere.labels = labels(&[("app", "web")]);
    assert_eq!(a.converge(&web, &[]).result.unwrap().pool(), "sel");
    assert_eq!(a.converge(&tiered, &[]).result.unwrap().pool(), "sel");
    assert_eq!(
        a.converge(&v4("ns", "plain"), &[]).result.unwrap().pool(),
        "rest"
    );
    assert_eq!(a.converge(&elsewhere, &[]).result.unwrap().pool(), "rest");
}

#[test]
fn pinned_pools_are_never_a_fallback_for_services_they_do_not_select() {
    let sa = ServiceAllocation {
        namespaces: vec!["team-a".into()],
        ..Default::default()
    };
    let mut a = alloc(&[pinned("team", &["10.0.0.0/24"], sa)]);
    assert_eq!(
        err(&a.converge(&v4("team-b", "x"), &[])),
        AllocError::NoAvailableIps
    );
}

// ---------------------------------------------------------------- sharing

#[test]
fn shared_ip_is_reused_before_a_fresh_one() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    let first = shared(v4("ns", "a"), "k", &[Port::tcp(80)]);
    assert_eq!(got(&a.converge(&first, &[])), ips(&["10.0.0.0"]));
    got(&a.converge(&v4("ns", "filler"), &[]));
    a.release(&key("ns", "filler")); // 10.0.0.1 is free and lower than nothing shared... still prefer shared
    let second = shared(v4("ns", "b"), "k", &[Port::tcp(443)]);
    assert_eq!(got(&a.converge(&second, &[])), ips(&["10.0.0.0"]));
    assert_eq!(
        a.users_of(&ip("10.0.0.0")),
        vec![&key("ns", "a"), &key("ns", "b")]
    );
    assert_eq!(a.pool_stats("p").unwrap().ipv4_in_use, 1);
}

#[test]
fn a_shared_ip_in_a_later_pool_beats_a_fresh_one_in_an_earlier_pool() {
    let mut a = alloc(&[
        pool("a-first", &["10.0.0.0/24"]),
        pool("b-second", &["10.0.1.0/24"]),
    ]);
    let mut first = shared(v4("ns", "a"), "k", &[Port::tcp(80)]);
    first.pool = Some("b-second".into());
    assert_eq!(got(&a.converge(&first, &[])), ips(&["10.0.1.0"]));
    let second = shared(v4("ns", "b"), "k", &[Port::tcp(81)]);
    assert_eq!(got(&a.converge(&second, &[])), ips(&["10.0.1.0"]));
}

#[test]
fn sharing_needs_the_same_non_empty_key() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    got(&a.converge(&shared(v4("ns", "a"), "k1", &[Port::tcp(80)]), &[]));
    assert_eq!(
        got(&a.converge(&shared(v4("ns", "b"), "k2", &[Port::tcp(81)]), &[])),
        ips(&["10.0.0.1"])
    );
    // Asking for the IP explicitly with another key is refused with MetalLB's message.
    let mut c = shared(v4("ns", "c"), "k2", &[Port::tcp(82)]);
    c.requested_ips = ips(&["10.0.0.0"]);
    let e = err(&a.converge(&c, &[]));
    assert_eq!(
        e.to_string(),
        r#"can't change sharing key for "ns/c", address also in use by ns/a"#
    );
    match e {
        AllocError::SharingKeyConflict { conflict, .. } => {
            assert_eq!(
                conflict.to_string(),
                r#"sharing key "k2" does not match existing sharing key "k1""#
            )
        }
        other => panic!("unexpected {other}"),
    }
    let mut d = v4("ns", "d");
    d.requested_ips = ips(&["10.0.0.0"]);
    match err(&a.converge(&d, &[])) {
        AllocError::SharingKeyConflict { conflict, .. } => {
            assert_eq!(conflict, SharingConflict::NewDoesNotAllowSharing)
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_port_clash_prevents_sharing_but_tcp_and_udp_on_the_same_port_share() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    got(&a.converge(&shared(v4("ns", "dns-tcp"), "dns", &[Port::tcp(53)]), &[]));
    assert_eq!(
        got(&a.converge(&shared(v4("ns", "dns-udp"), "dns", &[Port::udp(53)]), &[])),
        ips(&["10.0.0.0"])
    );
    assert_eq!(
        got(&a.converge(&shared(v4("ns", "clash"), "dns", &[Port::tcp(53)]), &[])),
        ips(&["10.0.0.1"])
    );
    let mut pinned_clash = shared(v4("ns", "pinned"), "dns", &[Port::udp(53)]);
    pinned_clash.requested_ips = ips(&["10.0.0.0"]);
    assert_eq!(
        err(&a.converge(&pinned_clash, &[])).to_string(),
        r#"port UDP/53 is already in use on "10.0.0.0""#
    );
}

#[test]
fn cluster_and_local_services_never_share_and_local_ones_need_equal_selectors() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    let mut local = shared(v4("ns", "local"), "k", &[Port::tcp(80)]);
    local.traffic_policy = TrafficPolicy::Local;
    local.selector = labels(&[("app", "x")]);
    got(&a.converge(&local, &[]));
    let cluster = shared(v4("ns", "cluster"), "k", &[Port::tcp(81)]);
    assert_eq!(got(&a.converge(&cluster, &[])), ips(&["10.0.0.1"]));
    let mut other_sel = local.clone();
    other_sel.key = key("ns", "other-sel");
    other_sel.ports = vec![Port::tcp(82)];
    other_sel.selector = labels(&[("app", "y")]);
    assert_eq!(got(&a.converge(&other_sel, &[])), ips(&["10.0.0.2"]));
    let mut same_sel = local.clone();
    same_sel.key = key("ns", "same-sel");
    same_sel.ports = vec![Port::tcp(83)];
    assert_eq!(got(&a.converge(&same_sel, &[])), ips(&["10.0.0.0"]));
}

#[test]
fn sharing_is_re_evaluated_when_a_service_changes() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    let svc_a = shared(v4("ns", "a"), "k", &[Port::tcp(80)]);
    let mut svc_b = shared(v4("ns", "b"), "k", &[Port::tcp(81)]);
    got(&a.converge(&svc_a, &[]));
    assert_eq!(got(&a.converge(&svc_b, &[])), ips(&["10.0.0.0"]));
    // b now clashes on the port: it is cleared and gets a fresh address.
    svc_b.ports = vec![Port::tcp(80)];
    let out = a.converge(&svc_b, &[]);
    assert_eq!(got(&out), ips(&["10.0.0.1"]));
    assert_eq!(reasons_of(&out), vec!["ClearAssignment", "IPAllocated"]);
    assert!(out.events[0].message.starts_with(
        r#"current IP for "ns/b" not allowed by config, will attempt for new IP assignment: port TCP/80 is already in use on "10.0.0.0""#
    ));
    // a alone on its IP may change its key in place.
    let mut lone = svc_a.clone();
    lone.sharing_key = "other".into();
    assert_eq!(got(&a.converge(&lone, &[])), ips(&["10.0.0.0"]));
}

#[test]
fn a_shared_ip_is_freed_only_when_its_last_user_goes() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/32"])]);
    got(&a.converge(&shared(v4("ns", "a"), "k", &[Port::tcp(80)]), &[]));
    got(&a.converge(&shared(v4("ns", "b"), "k", &[Port::tcp(81)]), &[]));
    a.release(&key("ns", "a"));
    assert_eq!(a.pool_stats("p").unwrap().ipv4_in_use, 1);
    assert_eq!(
        err(&a.converge(&v4("ns", "c"), &[])),
        AllocError::NoAvailableIps
    );
    let released = a.release(&key("ns", "b"));
    assert_eq!(released.unblocked.len(), 1);
    assert_eq!(released.unblocked[0].0, key("ns", "c"));
}

// -------------------------------------------------------------- lifecycle

#[test]
fn an_ip_is_freed_on_delete_and_a_pending_service_gets_it_at_once() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/31"])]);
    got(&a.converge(&v4("ns", "a"), &[]));
    got(&a.converge(&v4("ns", "b"), &[]));
    assert!(a.converge(&v4("ns", "c"), &[]).result.is_err());
    assert_eq!(
        a.pending().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        vec![key("ns", "c")]
    );
    let r = a.release(&key("ns", "a"));
    assert_eq!(r.previous.unwrap().addresses(), ips(&["10.0.0.0"]));
    assert_eq!(r.unblocked.len(), 1);
    assert_eq!(r.unblocked[0].1.addresses(), ips(&["10.0.0.0"]));
    assert_eq!(
        a.assignment(&key("ns", "c")).unwrap().addresses(),
        ips(&["10.0.0.0"])
    );
    assert_eq!(a.pending().count(), 0);
}

#[test]
fn the_same_ips_come_back_after_a_restart_whatever_the_order() {
    let pools = [pool("p", &["10.0.0.0/29"])];
    let mut before = alloc(&pools);
    let names = ["e", "c", "a", "d", "b"];
    for n in names {
        got(&before.converge(&v4("ns", n), &[]));
    }
    before.release(&key("ns", "c"));
    let status: Vec<(ServiceRequest, Vec<std::net::IpAddr>)> = names
        .iter()
        .filter(|n| **n != "c")
        .map(|n| {
            (
                v4("ns", n),
                before.assignment(&key("ns", n)).unwrap().addresses(),
            )
        })
        .chain([(v4("ns", "new"), vec![])])
        .collect();
    for rotate in 0..status.len() {
        let mut input = status.clone();
        input.rotate_left(rotate);
        let mut after = alloc(&pools);
        let outcomes = after.sync(input);
        for n in names.iter().filter(|n| **n != "c") {
            assert_eq!(
                after.assignment(&key("ns", n)),
                before.assignment(&key("ns", n)),
                "service {n}"
            );
            assert!(
                outcomes[&key("ns", n)].events.is_empty(),
                "restored services emit no event"
            );
        }
        // The new service gets the hole left by c (10.0.0.1; c came second), not someone else's IP.
        assert_eq!(
            after.assignment(&key("ns", "new")).unwrap().addresses(),
            ips(&["10.0.0.1"])
        );
    }
}

#[test]
fn a_restored_ip_that_is_no_longer_valid_is_cleared_and_replaced() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
    let out = a.sync([
        (v4("ns", "a"), ips(&["192.168.0.1"])),
        (v4("ns", "b"), ips(&["10.0.0.0"])),
    ]);
    assert_eq!(got(&out[&key("ns", "b")]), ips(&["10.0.0.0"]));
    let oa = &out[&key("ns", "a")];
    assert_eq!(got(oa), ips(&["10.0.0.1"]));
    assert_eq!(reasons_of(oa), vec!["ClearAssignment", "IPAllocated"]);
}

#[test]
fn two_services_claiming_the_same_ip_after_a_restart_are_resolved_by_key() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
    let out = a.sync([
        (v4("ns", "z"), ips(&["10.0.0.0"])),
        (v4("ns", "a"), ips(&["10.0.0.0"])),
    ]);
    assert_eq!(got(&out[&key("ns", "a")]), ips(&["10.0.0.0"]));
    assert_eq!(got(&out[&key("ns", "z")]), ips(&["10.0.0.1"]));
}

#[test]
fn sync_releases_services_that_are_gone() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
    got(&a.converge(&v4("ns", "gone"), &[]));
    a.sync([(v4("ns", "kept"), vec![])]);
    assert!(a.assignment(&key("ns", "gone")).is_none());
    assert_eq!(
        a.assignment(&key("ns", "kept")).unwrap().addresses(),
        ips(&["10.0.0.0"])
    );
}

// ------------------------------------------------------------ pool changes

#[test]
fn removing_a_pool_orphans_its_services_which_move_to_the_remaining_pools() {
    let mut a = alloc(&[pool("a", &["10.0.0.0/24"]), pool("b", &["10.0.1.0/24"])]);
    let mut on_a = v4("ns", "on-a");
    on_a.pool = Some("a".into());
    got(&a.converge(&on_a, &[]));
    let mut free = v4("ns", "free");
    free.requested_ips = ips(&["10.0.0.5"]);
    got(&a.converge(&free, &[]));
    let plain = v4("ns", "plain");
    got(&a.converge(&plain, &[])); // a-first by name: 10.0.0.1
    let out = a.set_pools(&[pool("b", &["10.0.1.0/24"])]).unwrap();
    // The pool annotation now names an unknown pool.
    assert_eq!(
        reasons_of(&out[&key("ns", "on-a")]),
        vec!["ClearAssignment", "AllocationFailed"]
    );
    assert_eq!(
        err(&out[&key("ns", "on-a")]).to_string(),
        r#"unknown pool "a""#
    );
    assert_eq!(
        err(&out[&key("ns", "free")]).to_string(),
        r#"["10.0.0.5"] is not allowed in config"#
    );
    assert_eq!(got(&out[&key("ns", "plain")]), ips(&["10.0.1.0"]));
    assert!(out[&key("ns", "plain")].events[0]
        .message
        .starts_with(r#"current IP for "ns/plain" not allowed by config"#));
}

#[test]
fn removing_all_pools_clears_every_service_without_events() {
    let mut a = alloc(&[pool("a", &["10.0.0.0/24"])]);
    got(&a.converge(&v4("ns", "x"), &[]));
    let out = a.set_pools(&[]).unwrap();
    assert_eq!(err(&out[&key("ns", "x")]), AllocError::NoPools);
    assert!(out[&key("ns", "x")].events.is_empty());
    assert!(a.assignment(&key("ns", "x")).is_none());
    assert_eq!(err(&a.converge(&v4("ns", "y"), &[])), AllocError::NoPools);
    // Pools come back: pending services are served.
    let out = a.set_pools(&[pool("a", &["10.0.0.0/24"])]).unwrap();
    assert_eq!(got(&out[&key("ns", "x")]), ips(&["10.0.0.0"]));
    assert_eq!(got(&out[&key("ns", "y")]), ips(&["10.0.0.1"]));
}

#[test]
fn renaming_or_shrinking_a_pool_keeps_addresses_that_are_still_inside() {
    let mut a = alloc(&[pool("old", &["10.0.0.0/24"])]);
    got(&a.converge(&v4("ns", "a"), &[]));
    got(&a.converge(&v4("ns", "b"), &[]));
    let out = a
        .set_pools(&[pool("new", &["10.0.0.1/32", "10.0.0.0/32"])])
        .unwrap();
    assert_eq!(got(&out[&key("ns", "a")]), ips(&["10.0.0.0"]));
    assert_eq!(a.assignment(&key("ns", "a")).unwrap().pool(), "new");
    assert_eq!(
        a.assignment(&key("ns", "b")).unwrap().addresses(),
        ips(&["10.0.0.1"])
    );
    assert!(
        out[&key("ns", "a")].events.is_empty(),
        "a retag is not a reallocation"
    );
    // Unchanged config: nothing to report.
    assert!(a
        .set_pools(&[pool("new", &["10.0.0.1/32", "10.0.0.0/32"])])
        .unwrap()
        .is_empty());
}

#[test]
fn a_selector_change_in_a_pool_reallocates_services_it_no_longer_allows() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"]), pool("q", &["10.0.1.0/24"])]);
    got(&a.converge(&v4("ns", "s"), &[]));
    let sa = ServiceAllocation {
        namespaces: vec!["other".into()],
        ..Default::default()
    };
    let out = a
        .set_pools(&[
            pinned("p", &["10.0.0.0/24"], sa),
            pool("q", &["10.0.1.0/24"]),
        ])
        .unwrap();
    let o = &out[&key("ns", "s")];
    assert_eq!(got(o), ips(&["10.0.1.0"]));
    assert!(o.events[0]
        .message
        .ends_with("pool p not compatible for ip assignment"));
}

#[test]
fn an_invalid_new_config_is_rejected_and_the_old_one_kept() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    got(&a.converge(&v4("ns", "s"), &[]));
    assert!(a
        .set_pools(&[pool("p", &["10.0.0.0/24"]), pool("q", &["10.0.0.7/32"])])
        .is_err());
    assert_eq!(
        a.assignment(&key("ns", "s")).unwrap().addresses(),
        ips(&["10.0.0.0"])
    );
    assert_eq!(got(&a.converge(&v4("ns", "t"), &[])), ips(&["10.0.0.1"]));
}

// -------------------------------------------------------------- dual stack

fn dual(name: &str, policy: IpFamilyPolicy, primary: Family) -> ServiceRequest {
    ServiceRequest::dual(key("ns", name), policy, primary)
}

#[test]
fn single_stack_takes_the_cluster_ip_family() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24", "fd00::/120"])]);
    assert_eq!(got(&a.converge(&v6("ns", "six"), &[])), ips(&["fd00::"]));
    assert_eq!(got(&a.converge(&v4("ns", "four"), &[])), ips(&["10.0.0.0"]));
    // PreferDualStack with a single cluster IP behaves as single stack.
    let mut p = v6("ns", "prefer-single");
    p.ip_family_policy = IpFamilyPolicy::PreferDualStack;
    assert_eq!(got(&a.converge(&p, &[])), ips(&["fd00::1"]));
}

#[test]
fn require_dual_stack_needs_one_pool_with_both_families() {
    let mut a = alloc(&[pool("v4", &["10.0.0.0/24"]), pool("v6", &["fd00::/120"])]);
    let r = dual("req", IpFamilyPolicy::RequireDualStack, Family::V4);
    assert_eq!(
        err(&a.converge(&r, &[])).to_string(),
        "no suitable pool for dual IPFamily"
    );
    let mut a = alloc(&[
        pool("v4", &["10.0.0.0/24"]),
        pool("z-dual", &["10.0.1.0/24", "fd01::/120"]),
    ]);
    let r6 = dual("req6", IpFamilyPolicy::RequireDualStack, Family::V6);
    assert_eq!(got(&a.converge(&r6, &[])), ips(&["fd01::", "10.0.1.0"]));
}

#[test]
fn require_dual_stack_fails_when_one_family_is_exhausted() {
    let mut a = alloc(&[pool("d", &["10.0.0.0/32", "fd00::/120"])]);
    got(&a.converge(&v4("ns", "taker"), &[]));
    let r = dual("req", IpFamilyPolicy::RequireDualStack, Family::V4);
    assert_eq!(err(&a.converge(&r, &[])), AllocError::NoAvailableIps);
    let mut named = r.clone();
    named.pool = Some("d".into());
    assert_eq!(
        err(&a.converge(&named, &[])).to_string(),
        r#"no available IPs in pool "d" for dual IPFamily"#
    );
}

/// MetalLB's e2e PreferDualStack matrix: which addresses a PreferDualStack
/// service gets for each pool layout.
#[test]
fn prefer_dual_stack_matrix() {
    struct Case {
        pools: Vec<IpAddressPool>,
        primary: Family,
        expect: &'static [&'static str],
    }
    let cases = [
        // A dual pool wins over single-family pools, whatever the names.
        Case {
            pools: vec![
                pool("a-v4", &["10.0.0.0/24"]),
                pool("b-dual", &["10.0.1.0/24", "fd01::/120"]),
            ],
            primary: Family::V4,
            expect: &["10.0.1.0", "fd01::"],
        },
        Case {
            pools: vec![pool("a-dual", &["10.0.1.0/24", "fd01::/120"])],
            primary: Family::V6,
            expect: &["fd01::", "10.0.1.0"],
        },
        // No dual pool: the primary family.
        Case {
            pools: vec![
                pool("a-v4", &["10.0.0.0/24"]),
                pool("b-v6", &["fd00::/120"]),
            ],
            primary: Family::V6,
            expect: &["fd00::"],
        },
        Case {
            pools: vec![
                pool("a-v4", &["10.0.0.0/24"]),
                pool("b-v6", &["fd00::/120"]),
            ],
            primary: Family::V4,
            expect: &["10.0.0.0"],
        },
        // Only the secondary family exists.
        Case {
            pools: vec![pool("a-v4", &["10.0.0.0/24"])],
            primary: Family::V6,
            expect: &["10.0.0.0"],
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let mut a = alloc(&c.pools);
        let out = a.converge(&dual("s", IpFamilyPolicy::PreferDualStack, c.primary), &[]);
        assert_eq!(got(&out), ips(c.expect), "case {i}");
    }
}

#[test]
fn prefer_dual_stack_gains_the_second_family_when_its_pool_does() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24"])]);
    let r = dual("s", IpFamilyPolicy::PreferDualStack, Family::V4);
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.0"]));
    let out = a
        .set_pools(&[pool("p", &["10.0.0.0/24", "fd00::/120"])])
        .unwrap();
    let o = &out[&key("ns", "s")];
    assert_eq!(got(o), ips(&["10.0.0.0", "fd00::"]));
    assert_eq!(o.events[0].message, r#"Assigned additional IP "fd00::""#);
}

#[test]
fn prefer_dual_stack_reports_when_the_second_family_is_exhausted() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/24", "fd00::/128"])]);
    got(&a.converge(&v6("ns", "taker"), &[]));
    let r = dual("s", IpFamilyPolicy::PreferDualStack, Family::V4);
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.0"]));
    let out = a.converge(&r, &[]);
    assert_eq!(reasons_of(&out), vec!["AdditionalAssignFailed"]);
    assert_eq!(
        out.events[0].message,
        r#"cannot assign additional IP in PreferDualStack: no available IPs in pool "p" for ipv6 IPFamily"#
    );
    // Once the v6 address frees, the next converge adds it.
    a.release(&key("ns", "taker"));
    assert_eq!(got(&a.converge(&r, &[])), ips(&["10.0.0.0", "fd00::"]));
}

// ------------------------------------------------------------- statistics

#[test]
fn pool_status_counts_follow_allocations() {
    let mut a = alloc(&[
        pool("p", &["10.0.0.0/24", "fd00::/64"]),
        pool("q", &["10.1.0.0/30"]),
    ]);
    got(&a.converge(&v4("ns", "a"), &[]));
    got(&a.converge(&v6("ns", "b"), &[]));
    got(&a.converge(&v6("ns", "c"), &[]));
    let s = a.pool_stats("p").unwrap();
    assert_eq!((s.ipv4_total, s.ipv4_in_use), (256, 1));
    assert_eq!((s.ipv6_total, s.ipv6_in_use), (1u128 << 64, 2));
    assert_eq!(s.ipv4_available(), 255);
    assert_eq!(s.ipv6_available(), (1u128 << 64) - 2);
    assert_eq!(s.total(), Some(256 + (1u128 << 64)));
    assert_eq!(s.services, 3);
    assert_eq!(PoolStats::clamp_i64(s.ipv6_total), i64::MAX);
    a.release(&key("ns", "b"));
    assert_eq!(a.pool_stats("p").unwrap().ipv6_in_use, 1);
    let q = a.pool_stats("q").unwrap();
    assert_eq!((q.ipv4_total, q.ipv4_in_use, q.services), (4, 0, 0));
}

#[test]
fn huge_ipv6_pools_with_several_ranges_count_exactly_without_overflow() {
    let a = alloc(&[pool("huge", &["8000::/1", "::/2", "10.0.0.0/8"])]);
    let s = a.pool_stats("huge").unwrap();
    assert_eq!(s.ipv6_total, (1u128 << 127) + (1u128 << 126));
    assert_eq!(s.total(), Some((1u128 << 127) + (1u128 << 126) + (1 << 24)));
}

#[test]
fn the_service_count_follows_converges_and_releases_pending_ones_included() {
    let mut a = alloc(&[pool("p", &["10.0.0.5/32"])]);
    got(&a.converge(&v4("ns", "a"), &[]));
    err(&a.converge(&v4("ns", "b"), &[])); // the pool is full: b is pending
    assert_eq!(a.service_count(), 2);
    assert!(a.knows(&key("ns", "b")));
    let freed = a.release(&key("ns", "a"));
    assert_eq!(freed.unblocked.len(), 1, "b takes the freed address");
    a.release(&key("ns", "a"));
    assert_eq!(a.service_count(), 1);
    assert!(!a.knows(&key("ns", "a")));
    err(&a.converge(&v4("ns", "d"), &[]));
    assert_eq!(a.service_count(), 2);
}
