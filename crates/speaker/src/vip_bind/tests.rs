use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::plan::{arp_writes, leftovers_when_off, probe_verdict, Bindings, KernelAddr, PROBE_IP};
use super::{bgp_ips, l2_ips};
use crate::announcement::Announcement;
use crate::desired::ServiceReport;

const DUMMY: u32 = 7;
const LO: u32 = 1;
const ETH: u32 = 2;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set(v: &[&str]) -> BTreeSet<IpAddr> {
    v.iter().map(|s| ip(s)).collect()
}

fn addr(ifindex: u32, s: &str, prefix_len: u8, ours: bool) -> KernelAddr {
    KernelAddr {
        ifindex,
        ip: ip(s),
        prefix_len,
        ours,
    }
}

#[test]
fn restart_keeps_our_addresses_on_the_target_and_adds_no_duplicate() {
    let kernel = [
        addr(DUMMY, "198.51.100.1", 32, true),
        addr(DUMMY, "2001:db8::1", 128, true),
    ];
    let (b, strays) = Bindings::from_kernel(DUMMY, &kernel);
    assert!(strays.is_empty());
    assert_eq!(b.bound, set(&["198.51.100.1", "2001:db8::1"]));
    let want = set(&["198.51.100.1", "2001:db8::1", "198.51.100.2"]);
    assert_eq!(b.to_add(&want), vec![ip("198.51.100.2")]);
    assert!(b.to_remove(&want).is_empty());
}

#[test]
fn restart_removes_ours_that_are_no_longer_wanted_only_after_the_apply() {
    let (b, strays) = Bindings::from_kernel(DUMMY, &[addr(DUMMY, "198.51.100.9", 32, true)]);
    // Not a stray at start: the first apply decides.
    assert!(strays.is_empty());
    assert_eq!(
        b.to_remove(&set(&["198.51.100.1"])),
        vec![ip("198.51.100.9")]
    );
}

#[test]
fn ours_on_another_interface_or_prefix_is_a_stray() {
    let kernel = [
        addr(LO, "198.51.100.1", 32, true),
        addr(DUMMY, "198.51.100.2", 24, true),
        addr(DUMMY, "198.51.100.3", 32, true),
    ];
    let (b, strays) = Bindings::from_kernel(DUMMY, &kernel);
    assert_eq!(b.bound, set(&["198.51.100.3"]));
    assert_eq!(strays, vec![kernel[0].clone(), kernel[1].clone()]);
}

#[test]
fn an_address_listed_twice_is_removed_once() {
    let a = addr(DUMMY, "198.51.100.3", 32, true);
    let (b, strays) = Bindings::from_kernel(DUMMY, &[a.clone(), a.clone()]);
    assert_eq!(b.bound, set(&["198.51.100.3"]));
    assert_eq!(strays, vec![a]);
}

#[test]
fn an_admins_address_on_lo_is_never_removed_nor_added_again() {
    let kernel = [
        addr(LO, "127.0.0.1", 8, false),
        addr(LO, "198.51.100.1", 32, false),
        addr(LO, "198.51.100.2", 32, true),
    ];
    let (b, strays) = Bindings::from_kernel(LO, &kernel);
    assert!(strays.is_empty());
    assert_eq!(b.foreign, set(&["198.51.100.1"]));
    let want = set(&["198.51.100.1"]);
    assert!(b.to_add(&want).is_empty());
    // Nothing wanted: only ours goes, the admin's stays.
    assert_eq!(b.to_remove(&BTreeSet::new()), vec![ip("198.51.100.2")]);
}

#[test]
fn an_unmarked_address_elsewhere_does_not_stop_the_bind() {
    // 198.51.100.1/24 on eth0 is the admin's subnet address, not a host
    // address on the target: the VIP /32 still goes on the dummy.
    let (b, _) = Bindings::from_kernel(DUMMY, &[addr(ETH, "198.51.100.1", 24, false)]);
    assert_eq!(b.to_add(&set(&["198.51.100.1"])), vec![ip("198.51.100.1")]);
}

#[test]
fn arp_sysctls_are_raised_on_nics_and_left_on_lo_and_the_dummy() {
    assert_eq!(
        arp_writes("eth0", Some(0), Some(0)),
        vec![("arp_ignore", 1), ("arp_announce", 2)]
    );
    assert!(arp_writes("lo", Some(0), Some(0)).is_empty());
    assert!(arp_writes("oxlb0", Some(0), Some(0)).is_empty());
    // arp_ignore 3 still answers for global addresses: raised.
    assert_eq!(
        arp_writes("eth0", Some(3), Some(2)),
        vec![("arp_ignore", 1)]
    );
    // An admin's stricter choice stays.
    assert!(arp_writes("eth0", Some(8), Some(2)).is_empty());
    assert!(arp_writes("eth0", Some(2), Some(2)).is_empty());
    // Unreadable: written.
    assert_eq!(arp_writes("eth0", None, None).len(), 2);
}

fn report(ips: &[&str], announcements: Vec<Announcement>) -> ServiceReport {
    ServiceReport {
        namespace: "default".into(),
        name: "web".into(),
        ips: ips.iter().map(|s| ip(s)).collect(),
        pool: Some("p".into()),
        pending: None,
        announcements,
    }
}

#[test]
fn bgp_binds_announced_ips_covered_by_a_route_and_not_held_ones() {
    let to: Arc<str> = "r (192.0.2.1)".into();
    let bgp = |p: &str| Announcement::Bgp {
        prefix: p.parse().unwrap(),
        to: to.clone(),
    };
    let services = [
        report(&["198.51.100.1"], vec![bgp("198.51.100.1/32")]),
        // aggregationLength: one /24 covers the Service IP.
        report(&["198.51.100.7"], vec![bgp("198.51.100.0/24")]),
        // Dual stack with only the v4 route from this node.
        report(
            &["198.51.100.8", "2001:db8::8"],
            vec![bgp("198.51.100.8/32")],
        ),
        // Allocated, not announced from this node (e.g. Local, no endpoint).
        report(&["198.51.100.2"], vec![]),
        // L2 only: its bind comes from the L2 hook.
        report(
            &["198.51.100.3"],
            vec![Announcement::L2 {
                ip: ip("198.51.100.3"),
                via: "ad".into(),
            }],
        ),
        report(&["198.51.100.4"], vec![bgp("198.51.100.4/32")]),
    ];
    assert_eq!(
        bgp_ips(&services, &set(&["198.51.100.4"])),
        set(&["198.51.100.1", "198.51.100.7", "198.51.100.8"])
    );
}

#[test]
fn l2_binds_vips_this_node_is_a_candidate_for() {
    let v = |s: &str, nodes: &[&str], ready: Option<&[&str]>| l2::node::VipDesire {
        ip: ip(s),
        election_ip: ip(s),
        interfaces: None,
        matching_nodes: nodes.iter().map(|n| n.to_string()).collect(),
        scores: Default::default(),
        ready_nodes: ready.map(|r| r.iter().map(|n| n.to_string()).collect()),
        services: vec![],
    };
    let vips = [
        v("198.51.100.1", &["a", "b"], None),
        v("198.51.100.2", &["b"], None),
        v("198.51.100.3", &["a", "b"], Some(&["b"])),
        v("198.51.100.4", &["a"], Some(&["a"])),
    ];
    assert_eq!(
        l2_ips(vips.iter(), "a"),
        set(&["198.51.100.1", "198.51.100.4"])
    );
}

#[test]
fn a_kernel_that_keeps_the_mark_passes_the_probe() {
    let kernel = [addr(DUMMY, &PROBE_IP.to_string(), 32, true)];
    assert_eq!(probe_verdict(DUMMY, &kernel, "6.1.0"), Ok(()));
}

#[test]
fn a_kernel_that_drops_the_mark_refuses_bind_vips_and_names_the_kernel() {
    let kernel = [
        addr(DUMMY, &PROBE_IP.to_string(), 32, false),
        addr(DUMMY, "198.51.100.1", 32, true),
    ];
    let e = probe_verdict(DUMMY, &kernel, "5.15.0-91-generic").unwrap_err();
    assert!(e.contains("5.15.0-91-generic") && e.contains("6.1"), "{e}");
}

#[test]
fn a_probe_missing_from_the_dump_or_on_another_interface_fails_the_probe() {
    assert!(probe_verdict(DUMMY, &[], "6.8.0").is_err());
    let elsewhere = [addr(LO, &PROBE_IP.to_string(), 32, true)];
    assert!(probe_verdict(DUMMY, &elsewhere, "6.8.0").is_err());
}

#[test]
fn bind_vips_off_removes_every_marked_address_and_no_other() {
    let kernel = [
        addr(DUMMY, "198.51.100.1", 32, true),
        addr(LO, "2001:db8::1", 128, true),
        addr(LO, "198.51.100.2", 32, false),
        addr(ETH, "192.0.2.1", 24, false),
    ];
    let gone: Vec<IpAddr> = leftovers_when_off(&kernel).iter().map(|a| a.ip).collect();
    assert_eq!(gone, vec![ip("198.51.100.1"), ip("2001:db8::1")]);
}
