//! Loading: dispatch, strictness, the namespace rule, kubectl output, seeds.

use metallb_api::{load, load_str, load_with, validate, Options, PeerAsn};
use std::path::PathBuf;
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load_errors(yaml: &str, file: &str) -> Vec<String> {
    match load_str(yaml, file, &Options::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_misspelt_field_is_an_error_naming_object_file_and_field() {
    let yaml = "
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor0, namespace: metallb-system}
spec: {myASN: 1, peerASN: 2, peerAddress: 192.0.2.9}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: tor1
  namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 192.0.2.1
  holdtime: 90s
";
    let errs = load_errors(yaml, "peers.yaml");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "BGPPeer metallb-system/tor1 (peers.yaml doc 2): spec.holdtime: unknown field `holdtime`, expected one of"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn a_misspelt_field_inside_a_selector_is_an_error() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec:
  nodeSelectors:
  - matchLabel: {a: b}
";
    let errs = load_errors(yaml, "l2.yaml");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(
            "L2Advertisement metallb-system/l2 (l2.yaml doc 1): spec.nodeSelectors[0].matchLabel: unknown field `matchLabel`"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn a_wrongly_typed_field_names_its_path() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: metallb-system}
spec:
  addresses: [10.0.0.0/24]
  autoAssign: maybe
";
    let errs = load_errors(yaml, "p.yaml");
    assert!(
        errs[0].starts_with(
            "IPAddressPool metallb-system/p (p.yaml doc 1): spec.autoAssign: invalid type"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn metallb_objects_outside_the_metallb_namespace_are_rejected() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: default}
spec: {addresses: [10.0.0.0/24]}
";
    assert_eq!(
        load_errors(yaml, "p.yaml"),
        ["IPAddressPool default/p (p.yaml doc 1): metadata.namespace: resource must be created in metallb-system namespace"]
    );
}

#[test]
fn the_namespace_rule_follows_the_configured_namespace() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: lb}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c, namespace: metallb-system}
";
    let opts = Options {
        namespace: "lb".into(),
        ..Options::default()
    };
    let err = load_str(yaml, "x.yaml", &opts).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(
        err.errors[0].to_string(),
        "Community metallb-system/c (x.yaml doc 2): metadata.namespace: resource must be created in lb namespace"
    );
}

#[test]
fn an_omitted_namespace_means_the_metallb_namespace() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p}
spec: {addresses: [10.0.0.0/24]}
";
    let objects = load_str(yaml, "p.yaml", &Options::default()).unwrap();
    assert_eq!(objects.ip_address_pools[0].namespace, "metallb-system");
}

#[test]
fn an_unknown_kind_is_an_error_naming_the_document() {
    let yaml = "
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: metallb.io/v1beta1
kind: AddressPool
metadata: {name: old}
---
foo: bar
";
    assert_eq!(
        load_errors(yaml, "x.yaml"),
        [
            "ConfigMap /cm (x.yaml doc 1): unsupported apiVersion/kind v1/ConfigMap".replace(" /cm", " cm"),
            "AddressPool old (x.yaml doc 2): unsupported apiVersion/kind metallb.io/v1beta1/AddressPool".into(),
            "x.yaml doc 3: missing apiVersion and kind".into(),
        ]
    );
}

#[test]
fn all_errors_are_collected_not_only_the_first() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: other}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: b}
spec: {aggregationLenght: 24}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: c}
spec: {echo: true}
";
    let errs = load_errors(yaml, "x.yaml");
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[1].contains(
        "BGPAdvertisement metallb-system/b (x.yaml doc 2): spec.aggregationLenght: unknown field"
    ));
    assert!(
        errs[2].contains("BFDProfile metallb-system/c (x.yaml doc 3): spec.echo: unknown field")
    );
}

#[test]
fn a_duplicate_object_is_an_error() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.1.0/24]}
";
    assert_eq!(
        load_errors(yaml, "x.yaml"),
        ["IPAddressPool metallb-system/a (x.yaml doc 2): metadata.name: duplicate object: already defined in x.yaml doc 1"]
    );
}

#[test]
fn invalid_yaml_is_reported_with_its_location_and_no_panic() {
    let errs = load_errors(
        &std::fs::read_to_string(data("seed000-placeholder-verbatim.yaml")).unwrap(),
        "seed.yaml",
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("seed.yaml doc 1: invalid YAML:"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("line 11"), "{}", errs[0]);
    for junk in ["[", "{a: [}", ": :", "\t- x", "a: *nope", "- 1\n- 2"] {
        let _ = load_str(junk, "junk.yaml", &Options::default());
    }
}

#[test]
fn a_v1beta1_bgp_peer_converts_to_the_v1beta2_model() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old}
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 192.0.2.1
  peerPort: 1179
  holdTime: 9s
  password: secret
  nodeSelectors:
  - matchExpressions:
    - {key: rack, operator: In, values: [a]}
";
    let objects = load_str(yaml, "old.yaml", &Options::default()).unwrap();
    let config = validate(&objects, &Options::default()).unwrap().config;
    let p = &config.peers["old"];
    assert_eq!(p.peer_asn, PeerAsn::Number(64512));
    assert_eq!(p.port, 1179);
    assert_eq!(p.hold_time, Duration::from_secs(9));
    assert_eq!(p.keepalive_time, Duration::from_secs(3));
    assert_eq!(p.password.as_deref(), Some("secret"));
    assert_eq!(p.node_selectors[0].match_expressions[0].values, ["a"]);
}

#[test]
fn v1beta2_only_bgp_peer_fields_are_unknown_in_v1beta1() {
    let yaml = "
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old}
spec: {myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, connectTime: 5s}
";
    let errs = load_errors(yaml, "old.yaml");
    assert!(
        errs[0].contains("spec.connectTime: unknown field `connectTime`"),
        "{}",
        errs[0]
    );
}

#[test]
fn kubectl_get_output_with_status_and_managed_fields_loads() {
    let objects = load(data("kubectl-service.yaml")).unwrap();
    assert_eq!(objects.services.len(), 3);
    assert_eq!(objects.namespaces.len(), 1);
    let config = validate(&objects, &Options::default()).unwrap().config;
    // ClusterIP and foreign-class services are not handled.
    assert_eq!(config.services.len(), 1);
    let web = &config.services[0];
    assert_eq!(web.key().to_string(), "shop/web");
    assert_eq!(
        web.status_ips(),
        [
            "203.0.113.10".parse::<std::net::IpAddr>().unwrap(),
            "2001:db8::10".parse().unwrap()
        ]
    );
    assert_eq!(web.fields().namespace_labels["team"], "retail");
    assert_eq!(web.fields().ports, [("TCP".to_string(), 443)]);
    assert_eq!(web.fields().external_traffic_policy, "Local");
    assert_eq!(web.fields().cluster_ips.len(), 2);
    let req = web.request().unwrap();
    assert_eq!(req.cluster_ip_families.len(), 2);
}

#[test]
fn the_load_balancer_class_option_selects_only_that_class() {
    let opts = Options {
        load_balancer_class: Some("example.com/other".into()),
        ..Options::default()
    };
    let objects = load_with(data("kubectl-service.yaml"), &opts).unwrap();
    let config = validate(&objects, &opts).unwrap().config;
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].fields().name, "other-class");
}

#[test]
fn a_directory_loads_its_yaml_files_in_name_order() {
    let objects = load(data("bgp")).unwrap();
    assert_eq!(objects.ip_address_pools.len(), 2);
    assert_eq!(objects.bgp_peers.len(), 2);
    assert!(objects.bgp_peers[0].source.file.ends_with("20-peers.yaml"));
    assert_eq!(objects.bgp_advertisements.len(), 2);
    let v = validate(&objects, &Options::default()).unwrap();
    let tor1 = &v.config.peers["tor1"];
    assert_eq!(tor1.password.as_deref(), Some("s3cr3t"));
    assert_eq!(tor1.hold_time, Duration::from_secs(90));
    assert_eq!(tor1.keepalive_time, Duration::from_secs(30));
    assert_eq!(tor1.connect_time, Some(Duration::from_secs(10)));
    let tor2 = &v.config.peers["tor2"];
    assert_eq!(tor2.hold_time, Duration::from_secs(30));
    assert_eq!(tor2.keepalive_time, Duration::from_secs(10));
    // The BFD profile is in force: no "not yet active" warning any more.
    assert!(!v
        .warnings
        .iter()
        .any(|w| w.to_string().contains("spec.bfdProfile")));
    assert_eq!(v.config.bfd_profiles["fast"].detect_multiplier, 3);
    assert_eq!(v.config.bfd_profiles["fast"].receive_interval, 100);
}

#[test]
fn a_missing_path_is_an_error_not_a_panic() {
    let err = load(data("does-not-exist")).unwrap_err();
    assert!(err.errors[0].to_string().contains("does-not-exist"));
}

#[test]
fn the_seed_000_documents_load_and_validate() {
    for f in [
        "seed000-address-pool-service.yaml",
        "seed000-loadbalancerips-service.yaml",
        "seed000-shared-ip.yaml",
    ] {
        let mut objects = load(data("seed000-pool-default.yaml")).unwrap();
        let more = load(data(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        objects.services.extend(more.services);
        let config = validate(&objects, &Options::default())
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .config;
        assert!(config.pools.contains_key("default"));
        for s in &config.services {
            let req = s.request().unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!req.deprecated_annotations.is_empty(), "{f}");
        }
    }
    let shared = load(data("seed000-shared-ip.yaml")).unwrap();
    let config = validate(&shared, &Options::default()).unwrap().config;
    let reqs: Vec<_> = config
        .services
        .iter()
        .map(|s| s.request().unwrap())
        .collect();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.sharing_key == "key-to-share-1.2.3.4"));
    assert_eq!(
        reqs[0].requested_ips,
        ["1.2.3.4".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn the_seed_004_documents_load_and_validate() {
    let objects = load(data("seed004-pool-and-l2.yaml")).unwrap();
    let config = validate(&objects, &Options::default()).unwrap().config;
    let pool = &config.pools["example"];
    assert!(!pool.pool.spec.auto_assign);
    assert!(pool.has_family(true) && pool.has_family(false));
    assert_eq!(config.l2_advertisements["example"].interfaces, ["eth3"]);
    for f in [
        "seed004-random-ip-service.yaml",
        "seed004-loadbalancerips-service.yaml",
        "seed004-address-pool-service.yaml",
    ] {
        let objects = load(data(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let config = validate(&objects, &Options::default()).unwrap().config;
        assert_eq!(config.services.len(), 1, "{f}");
        let s = &config.services[0];
        assert_eq!(s.fields().namespace, "default");
        let req = s.request().unwrap();
        assert_eq!(
            req.cluster_ip_families.len(),
            1,
            "{f}: families derived, IPv4 by default"
        );
    }
}

#[test]
fn truncated_or_mangled_files_never_panic() {
    let opts = Options::default();
    for f in [
        "bgp/20-peers.yaml",
        "bgp/30-ads.yaml",
        "kubectl-service.yaml",
        "seed004-pool-and-l2.yaml",
    ] {
        let text = std::fs::read_to_string(data(f)).unwrap();
        for cut in (0..text.len())
            .filter(|i| text.is_char_boundary(*i))
            .step_by(7)
        {
            if let Ok(o) = load_str(&text[..cut], f, &opts) {
                let _ = validate(&o, &opts);
            }
            let mangled = format!("{}9{}", &text[..cut], &text[cut..]);
            if let Ok(o) = load_str(&mangled, f, &opts) {
                let _ = validate(&o, &opts);
            }
        }
    }
}
