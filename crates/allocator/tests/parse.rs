//! Building a ServiceRequest from annotations and spec strings.

mod common;
use allocator::*;
use common::*;
use std::collections::BTreeMap;

fn fields(annotations: &[(&str, &str)]) -> ServiceFields {
    ServiceFields {
        namespace: "ns".into(),
        name: "svc".into(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        cluster_ips: vec!["10.96.0.10".into()],
        ..Default::default()
    }
}

#[test]
fn the_stable_prefix_wins_over_the_deprecated_one() {
    let f = fields(&[
        ("metallb.io/address-pool", "new"),
        ("metallb.universe.tf/address-pool", "old"),
        ("metallb.universe.tf/allow-shared-ip", "k"),
    ]);
    let r = parse_service(&f).unwrap();
    assert_eq!(r.pool.as_deref(), Some("new"));
    assert_eq!(r.sharing_key, "k");
    assert_eq!(
        r.deprecated_annotations,
        vec!["metallb.universe.tf/allow-shared-ip".to_string()]
    );
}

#[test]
fn load_balancer_ips_accepts_one_ip_per_family() {
    let r = parse_service(&fields(&[(
        "metallb.io/loadBalancerIPs",
        " 10.0.0.1 , fd00::1",
    )]))
    .unwrap();
    assert_eq!(r.requested_ips, ips(&["10.0.0.1", "fd00::1"]));
    let e = parse_service(&fields(&[(
        "metallb.io/loadBalancerIPs",
        "10.0.0.1,10.0.0.2",
    )]))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"IPFamilyForAddresses: same address family ["10.0.0.1" "10.0.0.2"]"#
    );
    assert_eq!(e.reason(), "LoadBalancerFailed");
    let e = parse_service(&fields(&[(
        "metallb.io/loadBalancerIPs",
        "10.0.0.1,fd00::1,10.0.0.3",
    )]))
    .unwrap_err();
    assert!(e
        .to_string()
        .starts_with("IPFamilyForAddresses: invalid ips length 3"));
    let e = parse_service(&fields(&[(
        "metallb.universe.tf/loadBalancerIPs",
        "10.0.0.x",
    )]))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"invalid metallb.io/loadBalancerIPs: "10.0.0.x""#
    );
}

#[test]
fn both_requested_ip_fields_is_a_load_balancer_failed_error() {
    let mut f = fields(&[("metallb.io/loadBalancerIPs", "10.0.0.1")]);
    f.load_balancer_ip = "10.0.0.2".into();
    let e = parse_service(&f).unwrap_err();
    assert_eq!(e, AllocError::BothLoadBalancerIpFields);
    assert_eq!(e.reason(), reasons::LOAD_BALANCER_FAILED);
    assert_eq!(
        e.event_message("ns/svc"),
        "invalid requested loadbalancer IPs: service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    );
    let mut f = fields(&[]);
    f.load_balancer_ip = "nope".into();
    assert_eq!(
        parse_service(&f).unwrap_err().to_string(),
        r#"invalid spec.loadBalancerIP "nope""#
    );
    f.load_balancer_ip = "10.0.0.7".into();
    assert_eq!(parse_service(&f).unwrap().requested_ips, ips(&["10.0.0.7"]));
}

#[test]
fn spec_fields_become_ports_backend_key_and_families() {
    let mut f = fields(&[]);
    f.ports = vec![
        ("TCP".into(), 80),
        ("UDP".into(), 53),
        ("".into(), 443),
        ("QUIC".into(), 1),
        ("TCP".into(), 70000),
    ];
    f.external_traffic_policy = "Local".into();
    f.selector = labels(&[("b", "2"), ("a", "1")]);
    f.ip_families = vec!["IPv6".into(), "IPv4".into()];
    f.ip_family_policy = "PreferDualStack".into();
    f.cluster_ips = vec!["fd00::10".into(), "10.96.0.10".into()];
    let r = parse_service(&f).unwrap();
    assert_eq!(r.ports, vec![Port::tcp(80), Port::udp(53), Port::tcp(443)]);
    assert_eq!(r.backend_key(), "a=1,b=2");
    assert_eq!(
        r.wanted().unwrap(),
        Wanted::PreferDual {
            primary: Family::V6
        }
    );
    f.external_traffic_policy = "Cluster".into();
    assert_eq!(parse_service(&f).unwrap().backend_key(), "");
}

#[test]
fn cluster_ips_decide_the_service_family() {
    let mut f = fields(&[]);
    f.cluster_ips = vec![];
    f.cluster_ip = "fd00::1".into();
    assert_eq!(
        parse_service(&f).unwrap().wanted().unwrap(),
        Wanted::Single(Family::V6)
    );
    f.cluster_ip = "None".into();
    assert_eq!(
        parse_service(&f).unwrap().wanted().unwrap_err(),
        AllocError::NoClusterIps
    );
    f.cluster_ip = "10.0.0.1".into();
    f.ip_family_policy = "RequireDualStack".into();
    let e = parse_service(&f).unwrap().wanted().unwrap_err();
    assert_eq!(e, AllocError::NotEnoughClusterIps);
    assert_eq!(e.reason(), "not enough clusterips");
    f.cluster_ips = vec!["10.0.0.1".into(), "10.0.0.2".into()];
    assert!(matches!(
        parse_service(&f).unwrap().wanted(),
        Err(AllocError::InvalidClusterIps { .. })
    ));
    f.cluster_ips = vec!["bogus".into()];
    assert!(parse_service(&f).is_err());
}
