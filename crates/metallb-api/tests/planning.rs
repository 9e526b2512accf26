//! Announcement planning (§5.1).

use allocator::{Labels, ServiceKey};
use ipnet::IpNet;
use metallb_api::{load_str, plan, validate, Assigned, Config, Options};
use std::collections::BTreeSet;

fn config(yaml: &str) -> Config {
    let opts = Options::default();
    let objects = load_str(yaml, "c.yaml", &opts).unwrap_or_else(|e| panic!("{e}"));
    validate(&objects, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn assigned(name: &str, pool: &str, ips: &[&str]) -> Assigned {
    Assigned {
        service: ServiceKey::new("default", name),
        pool: pool.into(),
        ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        labels: Labels::new(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const BASE: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pub}
spec: {addresses: [203.0.113.0/24, 2001:db8::/120]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor1}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor2}
spec:
  myASN: 64512
  peerASN: 64501
  peerAddress: 192.0.2.2
  nodeSelectors: [{matchLabels: {rack: b}}]
---
";

#[test]
fn aggregation_to_24_merges_two_vips_into_one_prefix_with_unioned_communities() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: agg}}
spec: {{aggregationLength: 24, communities: [\"65000:1\"]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: agg-big}}
spec: {{aggregationLength: 24, communities: [\"large:1:2:3\", \"65000:2\"]}}
"
    ));
    let p = plan(
        &c,
        "node-a",
        &labels(&[("rack", "a")]),
        &[
            assigned("web", "pub", &["203.0.113.10"]),
            assigned("api", "pub", &["203.0.113.20", "2001:db8::5"]),
        ],
    );
    assert_eq!(p.bgp.len(), 2, "{:#?}", p.bgp);
    let v4 = &p.bgp[0];
    assert_eq!(v4.prefix, "203.0.113.0/24".parse::<IpNet>().unwrap());
    assert_eq!(v4.communities, [(65000, 1), (65000, 2)]);
    assert_eq!(v4.large_communities, [(1, 2, 3)]);
    assert_eq!(v4.services, set(&["default/api", "default/web"]));
    assert_eq!(v4.peers, set(&["tor1"]), "tor2 does not select rack a");
    assert_eq!(v4.local_pref, None);
    // The IPv6 VIP keeps its /128 (aggregationLengthV6 default).
    assert_eq!(p.bgp[1].prefix, "2001:db8::5/128".parse::<IpNet>().unwrap());
}

#[test]
fn the_peers_field_limits_where_a_prefix_goes() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: only-tor2}}
spec: {{peers: [tor2]}}
"
    ));
    let svc = [assigned("web", "pub", &["203.0.113.10"])];
    let p = plan(&c, "node-b", &labels(&[("rack", "b")]), &svc);
    assert_eq!(p.bgp.len(), 1);
    assert_eq!(p.bgp[0].peers, set(&["tor2"]));
    // On a node tor2 does not select, nothing is left to announce.
    let p = plan(&c, "node-a", &labels(&[("rack", "a")]), &svc);
    assert!(p.bgp.is_empty());
}

#[test]
fn an_advertisement_node_selector_excludes_this_node() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: edge-only}}
spec: {{nodeSelectors: [{{matchLabels: {{kubernetes.io/hostname: edge1}}}}]}}
"
    ));
    let svc = [assigned("web", "pub", &["203.0.113.10"])];
    assert!(plan(&c, "node-a", &Labels::new(), &svc).bgp.is_empty());
    // The hostname label defaults to the node name.
    let p = plan(&c, "edge1", &Labels::new(), &svc);
    assert_eq!(p.bgp.len(), 1);
    assert_eq!(p.bgp[0].peers, set(&["tor1"]));
}

#[test]
fn local_pref_is_set_only_where_an_advertisement_sets_it() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: pref}}
spec: {{localPref: 150, peers: [tor1]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: plain}}
spec: {{peers: [tor2]}}
"
    ));
    let p = plan(
        &c,
        "node-b",
        &labels(&[("rack", "b")]),
        &[assigned("web", "pub", &["203.0.113.10"])],
    );
    assert_eq!(p.bgp.len(), 2);
    let by_pref: Vec<_> = p
        .bgp
        .iter()
        .map(|a| (a.local_pref, a.peers.clone()))
        .collect();
    assert!(by_pref.contains(&(Some(150), set(&["tor1"]))));
    assert!(by_pref.contains(&(None, set(&["tor2"]))));
}

#[test]
fn service_selectors_and_unknown_pools_skip_announcements() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: sel}}
spec: {{serviceSelectors: [{{matchLabels: {{expose: bgp}}}}]}}
"
    ));
    let mut svc = assigned("web", "pub", &["203.0.113.10"]);
    assert!(plan(&c, "n", &Labels::new(), std::slice::from_ref(&svc))
        .bgp
        .is_empty());
    svc.labels = labels(&[("expose", "bgp")]);
    assert_eq!(
        plan(&c, "n", &Labels::new(), std::slice::from_ref(&svc))
            .bgp
            .len(),
        1
    );
    svc.pool = "gone".into();
    assert!(plan(&c, "n", &Labels::new(), &[svc]).bgp.is_empty());
}

#[test]
fn l2_announcements_union_interfaces_and_respect_node_selectors() {
    let c = config(
        "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, labels: {net: lan}}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth}
spec: {ipAddressPools: [lan], interfaces: [eth3]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: bond}
spec:
  ipAddressPoolSelectors: [{matchLabels: {net: lan}}]
  interfaces: [bond0]
  nodeSelectors: [{matchLabels: {rack: a}}]
  preferredNodeSelectors: [{weight: 40, preference: {matchLabels: {rack: a}}}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: other}
spec: {ipAddressPools: [elsewhere]}
",
    );
    let svc = [assigned("web", "lan", &["192.168.10.7"])];
    let p = plan(&c, "n1", &labels(&[("rack", "a")]), &svc);
    assert!(p.bgp.is_empty());
    assert_eq!(p.l2.len(), 1);
    assert_eq!(p.l2[0].advertisements, set(&["bond", "eth"]));
    assert_eq!(p.l2[0].interfaces, Some(set(&["bond0", "eth3"])));
    assert_eq!(p.l2[0].preference_score, 40);
    let p = plan(&c, "n2", &labels(&[("rack", "b")]), &svc);
    assert_eq!(p.l2[0].advertisements, set(&["eth"]));
    assert_eq!(p.l2[0].interfaces, Some(set(&["eth3"])));
    assert_eq!(p.l2[0].preference_score, 0);
}

#[test]
fn an_l2_advertisement_without_interfaces_means_all_interfaces() {
    let c = config(
        "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth}
spec: {interfaces: [eth3]}
",
    );
    let p = plan(
        &c,
        "n1",
        &Labels::new(),
        &[assigned("web", "lan", &["192.168.10.7"])],
    );
    assert_eq!(p.l2[0].interfaces, None);
}

#[test]
fn config_helpers_follow_the_selection_rules() {
    let c = config(&format!(
        "{BASE}
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: all}}
"
    ));
    let a = labels(&[("rack", "a")]);
    let b = labels(&[("rack", "b")]);
    assert_eq!(c.peers_for_node(&a).len(), 1);
    assert_eq!(c.peers_for_node(&b).len(), 2);
    assert_eq!(c.bgp_advertisements_for("pub", &Labels::new(), &a).len(), 1);
    assert_eq!(
        c.bgp_advertisements_for("any-pool", &Labels::new(), &a)
            .len(),
        1
    );
    assert!(c
        .l2_advertisements_for("pub", &Labels::new(), &a)
        .is_empty());
    assert_eq!(c.ip_address_pools().len(), 1);
}
