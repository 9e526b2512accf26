//! Pool configuration: parsing, validation errors, serde shape.

mod common;
use allocator::*;
use common::*;

fn config_err(pools: &[IpAddressPool]) -> String {
    Allocator::new(pools)
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn a_cidr_with_host_bits_set_covers_the_whole_network() {
    let a = alloc(&[pool("p", &["192.168.1.5/24"])]);
    let s = a.pool_stats("p").unwrap();
    assert_eq!(s.ipv4_total, 256);
    assert!(a.pool("p").unwrap().contains(&ip("192.168.1.0")));
    assert!(a.pool("p").unwrap().contains(&ip("192.168.1.255")));
}

#[test]
fn a_range_covers_exactly_its_addresses() {
    let a = alloc(&[pool("p", &["10.0.0.5 - 10.0.0.9"])]);
    assert_eq!(a.pool_stats("p").unwrap().ipv4_total, 5);
    let p = a.pool("p").unwrap();
    assert!(!p.contains(&ip("10.0.0.4")));
    assert!(p.contains(&ip("10.0.0.5")));
    assert!(p.contains(&ip("10.0.0.9")));
    assert!(!p.contains(&ip("10.0.0.10")));
}

#[test]
fn a_range_whose_start_is_after_its_end_names_the_pool_and_field() {
    let msg = config_err(&[pool("a", &["10.0.1.0/24", "10.0.0.5-10.0.0.1"])]);
    assert_eq!(
        msg,
        r#"IPAddressPool "a": spec.addresses[1]: "10.0.0.5-10.0.0.1": start is after end (10.0.0.5 > 10.0.0.1)"#
    );
}

#[test]
fn a_bare_ip_without_prefix_is_rejected_with_a_hint() {
    let msg = config_err(&[pool("a", &["10.0.0.1"])]);
    assert!(
        msg.starts_with(r#"IPAddressPool "a": spec.addresses[0]: "10.0.0.1": invalid CIDR"#),
        "{msg}"
    );
    assert!(msg.contains("/32"));
}

#[test]
fn garbage_and_mixed_family_ranges_are_rejected() {
    assert!(config_err(&[pool("a", &["banana"])]).contains("invalid CIDR"));
    assert!(config_err(&[pool("a", &["10.0.0.1-fd00::1"])]).contains("different IP families"));
    assert!(config_err(&[pool("a", &["10.0.0.1-x"])]).contains("invalid end IP"));
    assert!(config_err(&[pool("a", &["10.0.0.0/33"])]).contains("invalid CIDR"));
}

#[test]
fn overlapping_pools_are_rejected_naming_both_pools() {
    let msg = config_err(&[
        pool("a", &["10.0.0.0/24", "10.0.2.0/24"]),
        pool("b", &["10.0.3.0/24", "10.0.2.128-10.0.2.130"]),
    ]);
    assert_eq!(
        msg,
        r#"IPAddressPool "b": spec.addresses[1]: "10.0.2.128-10.0.2.130" overlaps with IPAddressPool "a": spec.addresses[1]: "10.0.2.0/24""#
    );
}

#[test]
fn overlap_inside_one_pool_is_rejected_too() {
    let msg = config_err(&[pool("a", &["fd00::/64", "fd00::5/128"])]);
    assert!(
        msg.contains(r#"IPAddressPool "a": spec.addresses[1]"#),
        "{msg}"
    );
    assert!(
        msg.contains(r#"overlaps with IPAddressPool "a": spec.addresses[0]"#),
        "{msg}"
    );
}

#[test]
fn same_numbers_in_different_families_do_not_overlap() {
    // 0.0.0.0/30 and ::/126 have the same numeric values but are different families.
    let a = alloc(&[pool("a", &["0.0.0.0/30"]), pool("b", &["::/126"])]);
    assert_eq!(a.stats().len(), 2);
}

#[test]
fn duplicate_namespaces_and_pool_names_and_empty_pools_are_rejected() {
    let sa = ServiceAllocation {
        namespaces: vec!["x".into(), "y".into(), "x".into()],
        ..Default::default()
    };
    assert_eq!(
        config_err(&[pinned("a", &["10.0.0.0/24"], sa)]),
        r#"IPAddressPool "a": spec.serviceAllocation.namespaces[2]: duplicate definition in namespaces field: "x""#
    );
    assert_eq!(
        config_err(&[pool("a", &["10.0.0.0/24"]), pool("a", &["10.0.1.0/24"])]),
        r#"IPAddressPool "a": metadata.name: duplicate pool name"#
    );
    assert_eq!(
        config_err(&[pool("a", &[])]),
        r#"IPAddressPool "a": spec.addresses: pool has no prefixes defined"#
    );
}

#[test]
fn malformed_and_duplicate_selectors_are_rejected() {
    let bad: LabelSelector =
        serde_json::from_str(r#"{"matchExpressions":[{"key":"a","operator":"NotIn"}]}"#).unwrap();
    let sa = ServiceAllocation {
        service_selectors: vec![bad],
        ..Default::default()
    };
    let msg = config_err(&[pinned("a", &["10.0.0.0/24"], sa)]);
    assert!(msg.starts_with(
        r#"IPAddressPool "a": spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values"#
    ), "{msg}");
    let s = LabelSelector::labels([("a", "b")]);
    let sa = ServiceAllocation {
        namespace_selectors: vec![s.clone(), s],
        ..Default::default()
    };
    assert!(config_err(&[pinned("a", &["10.0.0.0/24"], sa)]).contains("namespaceSelectors[1]"));
}

#[test]
fn the_whole_ipv6_space_is_rejected_as_uncountable() {
    assert!(config_err(&[pool("a", &["::/0"])]).contains("2^128"));
    // Overlap is reported in preference to size.
    assert!(config_err(&[pool("a", &["::/0"]), pool("b", &["fd00::/64"])]).contains("overlaps"));
}

#[test]
fn a_pool_spec_deserializes_from_metallb_yaml_shape() {
    let json = r#"{
        "name": "prod",
        "spec": {
            "addresses": ["192.168.10.0/24", "fc00:f853:ccd:e799::/124", "192.168.9.1-192.168.9.5"],
            "autoAssign": false,
            "avoidBuggyIPs": true,
            "serviceAllocation": {
                "priority": 50,
                "namespaces": ["team-a"],
                "namespaceSelectors": [{"matchLabels": {"env": "prod"}}],
                "serviceSelectors": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}]
            }
        }
    }"#;
    let p: IpAddressPool = serde_json::from_str(json).unwrap();
    assert!(!p.spec.auto_assign);
    assert!(p.spec.avoid_buggy_ips);
    let sa = p.spec.service_allocation.as_ref().unwrap();
    assert_eq!(sa.priority, 50);
    assert_eq!(sa.namespace_selectors[0].match_labels["env"], "prod");
    assert_eq!(
        sa.service_selectors[0].match_expressions[0].operator,
        Operator::In
    );
    let a = alloc(&[p]);
    let s = a.pool_stats("prod").unwrap();
    assert_eq!(s.ipv4_total, 254 + 5);
    assert_eq!(s.ipv6_total, 16);
    // Defaults: autoAssign true, avoidBuggyIPs false, no serviceAllocation.
    let p: PoolSpec = serde_json::from_str(r#"{"addresses":["10.0.0.0/30"]}"#).unwrap();
    assert!(p.auto_assign && !p.avoid_buggy_ips && p.service_allocation.is_none());
}
