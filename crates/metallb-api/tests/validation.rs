//! Validation: one failing case per rule, asserting the exact text.

use metallb_api::{load_str, validate, Community, Options, Validated};
use std::time::Duration;

fn check(yaml: &str) -> Result<Validated, Vec<String>> {
    let opts = Options::default();
    let objects = load_str(yaml, "c.yaml", &opts)
        .map_err(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    validate(&objects, &opts).map_err(|e| e.errors.iter().map(ToString::to_string).collect())
}

fn errors(yaml: &str) -> Vec<String> {
    match check(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e,
    }
}

fn peer(spec: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: p}}\nspec:\n{}",
        spec.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("  {}\n", l.trim()))
            .collect::<String>()
    )
}

const P: &str = "BGPPeer metallb-system/p (c.yaml doc 1)";
const BASE: &str = "myASN: 64512\npeerASN: 64500\npeerAddress: 192.0.2.1\n";

fn peer_error(extra: &str) -> Vec<String> {
    errors(&peer(&format!("{BASE}{extra}")))
}

fn peer_ok(extra: &str) -> metallb_api::BgpPeerConfig {
    let v = check(&peer(&format!("{BASE}{extra}"))).unwrap_or_else(|e| panic!("{e:?}"));
    v.config.peers["p"].clone()
}

const POOL: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, labels: {tier: web}}
spec: {addresses: [10.0.0.0/24, 2001:db8::/120]}
---
";

fn ad(name: &str, spec: &str) -> String {
    format!("apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {name}}}\nspec: {spec}\n---\n")
}

// ------------------------------------------------------------------ peers

#[test]
fn a_peer_without_my_asn_is_rejected() {
    assert_eq!(
        errors(&peer("peerASN: 1\npeerAddress: 192.0.2.1")),
        [format!("{P}: spec.myASN: missing local ASN")]
    );
}

#[test]
fn peer_asn_and_dynamic_asn_are_mutually_exclusive_and_one_is_required() {
    assert_eq!(
        peer_error("dynamicASN: external"),
        [format!(
            "{P}: spec.dynamicASN: peerASN and dynamicASN can't be set together"
        )]
    );
    assert_eq!(
        errors(&peer("myASN: 1\npeerAddress: 192.0.2.1")),
        [format!(
            "{P}: spec.peerASN: missing peer ASN: one of peerASN or dynamicASN must be set"
        )]
    );
    let ok = check(&peer(
        "myASN: 1\ndynamicASN: internal\npeerAddress: 192.0.2.1",
    ))
    .unwrap();
    assert_eq!(
        ok.config.peers["p"].peer_asn,
        metallb_api::PeerAsn::Internal
    );
    assert_eq!(
        errors(&peer("myASN: 1\ndynamicASN: sideways\npeerAddress: 192.0.2.1")),
        [format!("{P}: spec.dynamicASN: Unsupported value: \"sideways\": supported values: \"internal\", \"external\"")]
    );
}

#[test]
fn peer_address_and_interface_are_mutually_exclusive() {
    assert_eq!(
        peer_error("interface: eth0"),
        [format!(
            "{P}: spec.interface: peerAddress and interface are mutually exclusive"
        )]
    );
    assert_eq!(
        errors(&peer("myASN: 1\npeerASN: 2\ninterface: eth0")),
        [format!(
            "{P}: spec.interface: unnumbered BGP (interface) is not supported in standalone mode"
        )]
    );
    assert_eq!(
        errors(&peer("myASN: 1\npeerASN: 2")),
        [format!("{P}: spec.peerAddress: missing peer address: one of peerAddress or interface must be set")]
    );
    assert_eq!(
        errors(&peer("myASN: 1\npeerASN: 2\npeerAddress: 192.0.2.300")),
        [format!(
            "{P}: spec.peerAddress: invalid peer IP \"192.0.2.300\""
        )]
    );
}

#[test]
fn a_hold_time_below_three_seconds_is_rejected() {
    assert_eq!(
        peer_error("holdTime: 2s"),
        [format!(
            "{P}: spec.holdTime: invalid hold time \"2s\": must be 0 or >=3s"
        )]
    );
    assert_eq!(peer_ok("holdTime: 0s").hold_time, Duration::ZERO);
}

#[test]
fn a_keepalive_longer_than_the_hold_time_is_rejected() {
    assert_eq!(
        peer_error("holdTime: 30s\nkeepaliveTime: 1m"),
        [format!("{P}: spec.keepaliveTime: invalid keepaliveTime \"1m\", must be lower than holdTime \"30s\"")]
    );
}

#[test]
fn timers_default_and_derive_as_in_metallb() {
    let p = peer_ok("");
    assert_eq!(
        (p.hold_time, p.keepalive_time),
        (Duration::from_secs(90), Duration::from_secs(30))
    );
    let p = peer_ok("holdTime: 9s");
    assert_eq!(
        (p.hold_time, p.keepalive_time),
        (Duration::from_secs(9), Duration::from_secs(3))
    );
    let p = peer_ok("keepaliveTime: 20s");
    assert_eq!(
        (p.hold_time, p.keepalive_time),
        (Duration::from_secs(60), Duration::from_secs(20))
    );
    assert_eq!(p.port, 179);
    // An integer is not a duration string.
    assert!(peer_error("holdTime: 90")[0]
        .contains("spec.holdTime: invalid type: integer `90`, expected a string"));
}

#[test]
fn a_sub_three_second_derived_hold_time_is_rejected() {
    // keepalive 500ms -> hold 1.5s, which rounds down to 1s: invalid.
    assert!(peer_error("keepaliveTime: 500ms")[0].contains("spec.holdTime: invalid hold time"));
}

#[test]
fn a_malformed_duration_names_its_field() {
    assert_eq!(
        peer_error("holdTime: \"90\""),
        [format!(
            "{P}: spec.holdTime: time: missing unit in duration \"90\""
        )]
    );
}

#[test]
fn connect_time_must_be_whole_seconds_between_1_and_65535() {
    assert_eq!(
        peer_error("connectTime: 1500ms"),
        [format!("{P}: spec.connectTime: invalid connectTime \"1500ms\": connect time should contain a whole number of seconds")]
    );
    assert_eq!(
        peer_error("connectTime: 0s"),
        [format!("{P}: spec.connectTime: invalid connectTime \"0s\": connect time should be between 1 and 65535 seconds")]
    );
    assert!(peer_error("connectTime: 20h")[0].contains("between 1 and 65535 seconds"));
    assert_eq!(
        peer_ok("connectTime: 5s").connect_time,
        Some(Duration::from_secs(5))
    );
}

#[test]
fn the_peer_port_is_limited_to_16384() {
    assert_eq!(
        peer_error("peerPort: 20000"),
        [format!(
            "{P}: spec.peerPort: Invalid value: 20000: must be between 1 and 16384"
        )]
    );
    assert_eq!(peer_ok("peerPort: 16384").port, 16384);
}

#[test]
fn ebgp_multihop_on_an_ibgp_peer_is_rejected() {
    assert_eq!(
        errors(&peer(
            "myASN: 64512\npeerASN: 64512\npeerAddress: 192.0.2.1\nebgpMultiHop: true"
        )),
        [format!(
            "{P}: spec.ebgpMultiHop: invalid ebgp-multihop parameter set for an ibgp peer"
        )]
    );
    assert!(peer_ok("ebgpMultiHop: true").ebgp_multi_hop);
}

#[test]
fn password_and_password_secret_are_mutually_exclusive() {
    assert_eq!(
        peer_error("password: a\npasswordSecret: {name: s}"),
        [format!("{P}: spec.passwordSecret: can not have both password and secret ref set in peer config \"metallb-system\"/\"p\"")]
    );
}

#[test]
fn a_password_secret_must_exist_have_the_basic_auth_type_and_a_password_key() {
    assert_eq!(
        peer_error("passwordSecret: {name: s}"),
        [format!("{P}: spec.passwordSecret: secret ref not found for peer config \"metallb-system\"/\"s\"")]
    );
    let with_secret = |secret: &str| {
        errors(&format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: metallb-system}}\n{secret}\n",
            peer(&format!("{BASE}passwordSecret: {{name: s}}"))
        ))
    };
    assert_eq!(
        with_secret("type: Opaque\nstringData: {password: x}"),
        [format!("{P}: spec.passwordSecret: secret type mismatch on \"metallb-system\"/\"s\", type \"kubernetes.io/basic-auth\" is expected (got \"Opaque\")")]
    );
    assert_eq!(
        with_secret("type: kubernetes.io/basic-auth\nstringData: {username: x}"),
        [format!("{P}: spec.passwordSecret: password not specified in the secret \"metallb-system\"/\"s\"")]
    );
    // A secret of the same name in another namespace does not count.
    let other_ns = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: default}}\ntype: kubernetes.io/basic-auth\nstringData: {{password: x}}\n",
        peer(&format!("{BASE}passwordSecret: {{name: s}}"))
    );
    assert!(errors(&other_ns)[0].contains("secret ref not found"));
    assert_eq!(
        peer_error("passwordSecret: {name: s, namespace: kube-system}"),
        [format!("{P}: spec.passwordSecret.namespace: the secret must be in the metallb-system namespace, not \"kube-system\"")]
    );
}

#[test]
fn an_md5_password_longer_than_80_bytes_is_rejected_in_either_field() {
    let at_limit = "k".repeat(80);
    let too_long = "k".repeat(81);
    assert_eq!(
        peer_ok(&format!("password: {at_limit}"))
            .password
            .as_deref(),
        Some(at_limit.as_str())
    );
    assert_eq!(
        peer_error(&format!("password: {too_long}")),
        [format!("{P}: spec.password: password is 81 bytes long; TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)")]
    );
    let with_secret = |pw: &str| {
        format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: metallb-system}}\ntype: kubernetes.io/basic-auth\nstringData: {{password: {pw}}}\n",
            peer(&format!("{BASE}passwordSecret: {{name: s}}"))
        )
    };
    // Bytes, not characters: 41 two-byte characters are 82 bytes.
    assert_eq!(
        errors(&with_secret(&"é".repeat(41))),
        [format!("{P}: spec.passwordSecret: password in the secret \"metallb-system\"/\"s\" is 82 bytes long; TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)")]
    );
    assert!(check(&with_secret(&at_limit)).is_ok());
}

#[test]
fn a_missing_bfd_profile_is_rejected_and_an_existing_one_warns() {
    assert_eq!(
        peer_error("bfdProfile: fast"),
        [format!(
            "{P}: spec.bfdProfile: peer p referencing non existing bfd profile fast"
        )]
    );
    let yaml = format!(
        "{}---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: fast}}\n",
        peer(&format!(
            "{BASE}bfdProfile: fast\nenableGracefulRestart: true"
        ))
    );
    let v = check(&yaml).unwrap();
    let w: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert!(w.is_empty(), "{w:?}");
    let bfd = &v.config.bfd_profiles["fast"];
    assert_eq!(
        (
            bfd.receive_interval,
            bfd.transmit_interval,
            bfd.detect_multiplier,
            bfd.echo_interval
        ),
        (300, 300, 3, 50)
    );
}

#[test]
fn bfd_profile_values_out_of_range_are_rejected() {
    let e = errors("apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b}\nspec: {receiveInterval: 5, detectMultiplier: 300}\n");
    assert_eq!(
        e,
        [
            "BFDProfile metallb-system/b (c.yaml doc 1): spec.receiveInterval: Invalid value: 5: must be between 10 and 60000",
            "BFDProfile metallb-system/b (c.yaml doc 1): spec.detectMultiplier: Invalid value: 300: must be between 2 and 255",
        ]
    );
}

#[test]
fn bfd_echo_mode_is_rejected_for_a_peer_advertising_ipv6() {
    let yaml = format!(
        "{POOL}{}---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: echo}}\nspec: {{echoMode: true}}\n---\n{}",
        peer(&format!("{BASE}bfdProfile: echo")),
        ad("all", "{}")
    );
    let e = errors(&yaml);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("BGPPeer metallb-system/p (c.yaml doc 2): spec.bfdProfile: echo mode is not supported with IPv6"), "{}", e[0]);
}

#[test]
fn duplicate_peers_with_overlapping_node_selectors_are_rejected() {
    let two = |a: &str, b: &str| {
        format!(
            "{}---\n{}",
            peer(&format!("{BASE}{a}")),
            peer(&format!("{BASE}{b}")).replace("name: p}", "name: q}")
        )
    };
    assert_eq!(
        errors(&two("", "nodeSelectors: [{matchLabels: {rack: a}}]")),
        ["BGPPeer metallb-system/q (c.yaml doc 2): spec.peerAddress: duplicate peer 192.0.2.1: BGPPeer \"p\" has the same address and overlapping nodeSelectors"]
    );
    let ok = check(&two(
        "nodeSelectors: [{matchLabels: {rack: b}}]",
        "nodeSelectors: [{matchLabels: {rack: a}}]",
    ))
    .unwrap();
    assert_eq!(ok.config.peers.len(), 2);
}

#[test]
fn the_router_id_must_be_ipv4() {
    assert_eq!(
        peer_error("routerID: 2001:db8::1"),
        [format!(
            "{P}: spec.routerID: invalid router ID \"2001:db8::1\": must be an IPv4 address"
        )]
    );
}

#[test]
fn vrf_and_local_asn_are_not_supported_in_standalone_mode() {
    assert_eq!(
        peer_error("vrf: red\nlocalASN: 65000"),
        [
            format!("{P}: spec.localASN: not supported in standalone mode"),
            format!("{P}: spec.vrf: not supported in standalone mode"),
        ]
    );
}

#[test]
fn an_invalid_peer_node_selector_names_the_expression() {
    assert_eq!(
        peer_error("nodeSelectors: [{matchExpressions: [{key: a, operator: In}]}]"),
        [format!("{P}: spec.nodeSelectors[0].matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'")]
    );
}

// ------------------------------------------------------------------ pools

#[test]
fn overlapping_pools_name_both_pools() {
    let e = errors(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [10.0.0.0/24]}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: b}\nspec: {addresses: [10.0.0.128-10.0.1.5]}\n",
    );
    assert_eq!(
        e,
        ["IPAddressPool metallb-system/b (c.yaml doc 2): spec.addresses[0]: \"10.0.0.128-10.0.1.5\" overlaps with IPAddressPool \"a\": spec.addresses[0]: \"10.0.0.0/24\""]
    );
}

#[test]
fn a_malformed_pool_address_names_the_entry() {
    let e = errors("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [10.0.0.1]}\n");
    assert_eq!(
        e,
        ["IPAddressPool metallb-system/a (c.yaml doc 1): spec.addresses[0]: \"10.0.0.1\": invalid CIDR: a single address must be written with a prefix length (/32 or /128)"]
    );
}

// ------------------------------------------------------ BGP advertisements

const A: &str = "BGPAdvertisement metallb-system/a (c.yaml doc 2)";

#[test]
fn aggregation_lengths_must_be_in_range() {
    assert_eq!(
        errors(&format!("{POOL}{}", ad("a", "{aggregationLength: 33, aggregationLengthV6: 0}"))),
        [
            format!("{A}: spec.aggregationLength: invalid aggregation length 33 for IPv4: must be between 1 and 32"),
            format!("{A}: spec.aggregationLengthV6: invalid aggregation length 0 for IPv6: must be between 1 and 128"),
        ]
    );
}

#[test]
fn an_aggregation_length_shorter_than_the_pool_prefix_is_rejected() {
    assert_eq!(
        errors(&format!("{POOL}{}", ad("a", "{aggregationLength: 16, aggregationLengthV6: 64}"))),
        [
            format!("{A}: spec.aggregationLength: invalid aggregation length 16: prefix 24 in this pool is more specific than the aggregation length for addresses 10.0.0.0/24 (IPAddressPool \"pool\")"),
            format!("{A}: spec.aggregationLengthV6: invalid aggregation length 64: prefix 120 in this pool is more specific than the aggregation length for addresses 2001:db8::/120 (IPAddressPool \"pool\")"),
        ]
    );
    assert!(check(&format!(
        "{POOL}{}",
        ad("a", "{aggregationLength: 24, aggregationLengthV6: 124}")
    ))
    .is_ok());
}

#[test]
fn a_range_pool_is_checked_against_its_shortest_summarized_prefix() {
    let pool = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: r}\nspec: {addresses: [10.0.0.0-10.0.1.255]}\n---\n";
    assert!(check(&format!("{pool}{}", ad("a", "{aggregationLength: 23}"))).is_ok());
    let e = errors(&format!("{pool}{}", ad("a", "{aggregationLength: 22}")));
    assert!(e[0].contains("invalid aggregation length 22: prefix 23 in this pool is more specific than the aggregation length for addresses 10.0.0.0-10.0.1.255"), "{}", e[0]);
}

#[test]
fn malformed_and_unknown_communities_are_rejected() {
    assert_eq!(
        errors(&format!("{POOL}{}", ad("a", "{communities: [\"65536:1\", nope, \"large:1:2\"]}"))),
        [
            format!("{A}: spec.communities[0]: invalid community \"65536:1\" in BGP advertisement: invalid first section of community value \"65536:1\": \"65536\" is not a 16-bit number"),
            format!("{A}: spec.communities[1]: invalid community \"nope\" in BGP advertisement: community alias not found (no Community defines it)"),
            format!("{A}: spec.communities[2]: invalid community \"large:1:2\" in BGP advertisement: invalid large community value \"large:1:2\": expected the form large:A:B:C"),
        ]
    );
}

#[test]
fn duplicate_communities_in_one_advertisement_are_rejected() {
    let community = "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\nspec: {communities: [{name: ne, value: \"65535:65281\"}]}\n---\n";
    let e = errors(&format!(
        "{POOL}{community}{}",
        ad("a", "{communities: [ne, \"65535:65281\"]}")
    ));
    assert_eq!(
        e,
        ["BGPAdvertisement metallb-system/a (c.yaml doc 3): spec.communities[1]: duplicate definition of community \"65535:65281\""]
    );
}

#[test]
fn community_aliases_must_be_unique_and_valid() {
    let e = errors(
        "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c1}\nspec: {communities: [{name: x, value: \"1:1\"}]}\n---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c2}\nspec: {communities: [{name: x, value: \"2:2\"}, {name: y, value: \"large:1:2:x\"}]}\n",
    );
    assert_eq!(
        e,
        [
            "Community metallb-system/c2 (c.yaml doc 2): spec.communities[0].name: duplicate definition of community \"x\" (already defined in Community \"c1\")",
            "Community metallb-system/c2 (c.yaml doc 2): spec.communities[1].value: invalid third section of large community value \"large:1:2:x\": \"x\" is not a 32-bit number",
        ]
    );
}

#[test]
fn community_aliases_resolve_to_standard_and_large_values() {
    let community = "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\nspec: {communities: [{name: big, value: \"large:1:2:3\"}]}\n---\n";
    let v = check(&format!(
        "{POOL}{community}{}",
        ad("a", "{communities: [big, \"7:8\"]}")
    ))
    .unwrap();
    assert_eq!(
        v.config.bgp_advertisements["a"].communities,
        [Community::Standard(7, 8), Community::Large(1, 2, 3)]
    );
}

#[test]
fn conflicting_local_prefs_on_one_pool_are_rejected_unless_disjoint() {
    let e = errors(&format!(
        "{POOL}{}{}",
        ad("a", "{localPref: 100}"),
        ad("b", "{localPref: 200}")
    ));
    assert_eq!(
        e,
        ["BGPAdvertisement metallb-system/b (c.yaml doc 3): spec.localPref: invalid local preference 200: local preference 100 was already set for the same type of BGP update by BGPAdvertisement \"a\" on IPAddressPool \"pool\". Check existing bgp advertisements with common pools and aggregation lengths"]
    );
    // Disjoint by peers, by nodes, or by aggregation length: accepted.
    for (a, b) in [
        (
            "{localPref: 100, peers: [x]}",
            "{localPref: 200, peers: [y]}",
        ),
        (
            "{localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]}",
            "{localPref: 200, nodeSelectors: [{matchLabels: {rack: b}}]}",
        ),
        (
            "{localPref: 100, aggregationLengthV6: 124}",
            "{localPref: 200, aggregationLength: 28}",
        ),
    ] {
        assert!(
            check(&format!("{POOL}{}{}", ad("a", a), ad("b", b))).is_ok(),
            "{a} / {b}"
        );
    }
}

#[test]
fn byte_identical_advertisements_are_rejected() {
    let e = errors(&format!(
        "{POOL}{}{}",
        ad("a", "{communities: [\"1:1\"]}"),
        ad("b", "{communities: [\"1:1\"]}")
    ));
    assert_eq!(
        e,
        ["BGPAdvertisement metallb-system/b (c.yaml doc 3): spec: duplicate definition of bgpadvertisements: BGPAdvertisement \"a\" has the same spec"]
    );
}

#[test]
fn service_selectors_with_a_non_default_aggregation_length_are_rejected() {
    assert_eq!(
        errors(&format!("{POOL}{}", ad("a", "{aggregationLength: 28, serviceSelectors: [{matchLabels: {a: b}}]}"))),
        [format!("{A}: spec.serviceSelectors: serviceSelectors can't be used together with a non-default aggregationLength or aggregationLengthV6")]
    );
}

#[test]
fn duplicate_pools_and_selectors_in_a_bgp_advertisement_are_rejected() {
    assert_eq!(
        errors(&format!("{POOL}{}", ad("a", "{ipAddressPools: [pool, pool], nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}"))),
        [
            format!("{A}: spec.ipAddressPools[1]: duplicate definition of spec.ipAddressPools: \"pool\""),
            format!("{A}: spec.nodeSelectors[1]: duplicate definition of spec.nodeSelectors"),
        ]
    );
}

#[test]
fn unknown_peer_and_pool_names_in_an_advertisement_only_warn() {
    let v = check(&format!(
        "{POOL}{}",
        ad("a", "{peers: [ghost], ipAddressPools: [pool, gone]}")
    ))
    .unwrap();
    let w: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            format!("{A}: spec.ipAddressPools[1]: IPAddressPool \"gone\" does not exist (or is invalid): nothing from it is announced"),
            format!("{A}: spec.peers[0]: BGPPeer \"ghost\" does not exist: nothing is sent to it"),
        ]
    );
    assert_eq!(v.config.bgp_advertisements["a"].aggregation_length, 32);
    assert_eq!(v.config.bgp_advertisements["a"].aggregation_length_v6, 128);
}

// ------------------------------------------------------- L2 advertisements

#[test]
fn duplicate_pools_and_selectors_in_an_l2_advertisement_are_rejected() {
    let e = errors(
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l}\nspec:\n  ipAddressPools: [a, a]\n  ipAddressPoolSelectors: [{matchLabels: {x: y}}, {matchLabels: {x: y}}]\n  preferredNodeSelectors: [{weight: 0, preference: {}}]\n",
    );
    let l = "L2Advertisement metallb-system/l (c.yaml doc 1)";
    assert_eq!(
        e,
        [
            format!("{l}: spec.ipAddressPools[1]: duplicate definition of spec.ipAddressPools: \"a\""),
            format!("{l}: spec.ipAddressPoolSelectors[1]: duplicate definition of spec.ipAddressPoolSelectors"),
            format!("{l}: spec.preferredNodeSelectors[0].weight: Invalid value: 0: must be between 1 and 100"),
        ]
    );
}
