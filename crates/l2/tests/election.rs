//! Election: MetalLB's order (golden vectors from `sha256sum`), the
//! filters and their reasons, and order independence.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use l2::election::{elect, go_ip_string, order_key, Election, ElectionInputs, NoCandidate};
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// Computed with `printf 'node-a#192.0.2.10' | sha256sum` (coreutils), not
// with the code under test.
const GOLDEN: &[(&str, &str)] = &[
    (
        "node-a#192.0.2.10",
        "d4b84135501a6622f43f01422f65d768d1a4637914be8add4e31f107336b8068",
    ),
    (
        "node-b#192.0.2.10",
        "6e9fb809c116d8f27df8ac49a804ddcf00101a76d602d91312d91548ae06abbf",
    ),
    (
        "node-c#192.0.2.10",
        "39f2d7a8f2401847a848a92e8435873a10a277cabe7bc275e797deb43bd7cd0c",
    ),
    (
        "node-a#2001:db8::10",
        "5525059d790ad6c9458aabead6068769eb0cbb13962eae2500ff38eb462569c2",
    ),
    (
        "node-b#2001:db8::10",
        "21d5668f18c03bbe00f394da685dde376e0293fd36d5320ac575f592bd70c06b",
    ),
    (
        "node-c#2001:db8::10",
        "d30d3eb7a24270e021589e4071ea239bc2d6472ec4bf8f4e965bc63696567392",
    ),
];

#[test]
fn order_key_is_sha256_of_node_hash_sign_ip_as_sha256sum_computes_it() {
    for (input, want) in GOLDEN {
        let (node, addr) = input.split_once('#').unwrap();
        assert_eq!(hex(&order_key(node, addr)), *want, "sha256({input:?})");
    }
}

#[test]
fn ipv4_winner_is_the_node_with_the_smallest_hash() {
    // Hashes above: c 39f2.. < b 6e9f.. < a d4b8..
    let e = elect(
        ip("192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs::default(),
    );
    assert_eq!(
        e,
        Election::Winner {
            ordered: vec!["node-c".into(), "node-b".into(), "node-a".into()]
        }
    );
}

#[test]
fn ipv6_order_uses_the_compressed_text_form_of_the_first_ip() {
    // b 21d5.. < a 5525.. < c d30d..; the address is written fully and must
    // still hash as "2001:db8::10".
    let e = elect(
        ip("2001:0db8:0000:0000:0000:0000:0000:0010"),
        ["node-c", "node-a", "node-b"],
        ElectionInputs::default(),
    );
    assert_eq!(e.candidates(), ["node-b", "node-a", "node-c"]);
}

#[test]
fn ipv4_mapped_ipv6_address_hashes_as_dotted_ipv4_like_go() {
    assert_eq!(go_ip_string(ip("::ffff:192.0.2.10")), "192.0.2.10");
    let mapped = elect(
        ip("::ffff:192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs::default(),
    );
    assert_eq!(mapped.winner(), Some("node-c"));
}

#[test]
fn dead_member_is_not_a_candidate_and_the_next_in_order_wins() {
    let live = set(&["node-a", "node-b"]);
    let e = elect(
        ip("192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs {
            live: Some(&live),
            ..Default::default()
        },
    );
    assert_eq!(e.candidates(), ["node-b", "node-a"]);
}

#[test]
fn local_traffic_policy_keeps_only_nodes_with_a_ready_endpoint() {
    let ready = set(&["node-a"]);
    let e = elect(
        ip("192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs {
            ready_endpoints: Some(&ready),
            ..Default::default()
        },
    );
    assert_eq!(e.candidates(), ["node-a"]);
}

#[test]
fn node_whose_link_lost_carrier_leaves_the_candidates() {
    let down = set(&["node-c"]);
    let e = elect(
        ip("192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs {
            link_down: Some(&down),
            ..Default::default()
        },
    );
    assert_eq!(e.winner(), Some("node-b"));
}

#[test]
fn preference_score_outranks_the_hash_as_in_metallb() {
    let scores: BTreeMap<String, i64> = [("node-a".to_string(), 10)].into();
    let e = elect(
        ip("192.0.2.10"),
        ["node-a", "node-b", "node-c"],
        ElectionInputs {
            scores: Some(&scores),
            ..Default::default()
        },
    );
    assert_eq!(e.candidates(), ["node-a", "node-c", "node-b"]);
}

#[test]
fn each_empty_filter_gives_its_own_reason() {
    let a = ip("192.0.2.10");
    let none = set(&[]);
    let only_a = set(&["node-a"]);
    assert_eq!(
        elect(a, std::iter::empty(), ElectionInputs::default()),
        Election::NoCandidate(NoCandidate::NoMatchingNode)
    );
    assert_eq!(
        elect(
            a,
            ["node-b", "node-c"],
            ElectionInputs {
                live: Some(&only_a),
                ..Default::default()
            }
        ),
        Election::NoCandidate(NoCandidate::NoLiveNode { matching: 2 })
    );
    let e = elect(
        a,
        ["node-a"],
        ElectionInputs {
            ready_endpoints: Some(&none),
            ..Default::default()
        },
    );
    assert_eq!(
        e,
        Election::NoCandidate(NoCandidate::NoReadyEndpoint { live: 1 })
    );
    assert!(
        matches!(&e, Election::NoCandidate(r) if r.to_string().contains("externalTrafficPolicy"))
    );
    assert_eq!(
        elect(
            a,
            ["node-a"],
            ElectionInputs {
                link_down: Some(&only_a),
                ..Default::default()
            }
        ),
        Election::NoCandidate(NoCandidate::AllLinksDown { eligible: 1 })
    );
}

proptest! {
    #[test]
    fn same_winner_on_every_node_for_any_member_order_and_insertion_order(
        names in proptest::collection::btree_set("[a-z][a-z0-9-]{0,12}", 1..12),
        shuffle in proptest::collection::vec(any::<u32>(), 0..64),
        dup in proptest::collection::vec(any::<u32>(), 0..8),
        last in any::<u8>(),
        live_mask in any::<u16>(),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let addr = IpAddr::from([192, 0, 2, last]);
        // "Node 1" sees the members in sorted order, built in that order.
        let live1: BTreeSet<String> = names.iter().enumerate()
            .filter(|(i, _)| live_mask & (1 << (i % 16)) != 0).map(|(_, n)| n.clone()).collect();
        // "Node 2" got them shuffled and with duplicates, and built its
        // live set by inserting in reverse.
        let mut order = names.clone();
        for (k, s) in shuffle.iter().enumerate() {
            let i = k % order.len();
            let j = (*s as usize) % order.len();
            order.swap(i, j);
        }
        for d in &dup {
            order.push(names[(*d as usize) % names.len()].clone());
        }
        let mut live2 = BTreeSet::new();
        for n in order.iter().rev() {
            if live1.contains(n) { live2.insert(n.clone()); }
        }
        let e1 = elect(addr, names.iter().map(String::as_str), ElectionInputs { live: Some(&live1), ..Default::default() });
        let e2 = elect(addr, order.iter().map(String::as_str), ElectionInputs { live: Some(&live2), ..Default::default() });
        prop_assert_eq!(&e1, &e2);
        // And the winner is the live node with the smallest hash.
        let ip = addr.to_string();
        let best = live1.iter().min_by_key(|n| order_key(n, &ip)).cloned();
        prop_assert_eq!(e1.winner().map(str::to_owned), best);
    }
}
