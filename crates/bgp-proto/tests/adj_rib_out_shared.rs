//! Adj-RIB-Outs of several sessions exporting from one shared RouteTable.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp_proto::adj_rib_out::{AdjRibOut, ExportContext, RouteSpec, RouteTable};
use bgp_proto::*;
use ipnet::IpNet;
use proptest::prelude::*;

fn ctx(ebgp: bool, v6: bool) -> ExportContext {
    ExportContext {
        local_as: 64512,
        ebgp,
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        next_hop_v6: v6.then(|| "2001:db8::1".parse().unwrap()),
        link_local_v6: None,
        families: if v6 {
            vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        } else {
            vec![Family::IPV4_UNICAST]
        },
        extended_next_hop: false,
        params: SessionParams {
            ebgp,
            ..SessionParams::four_octet()
        },
    }
}

fn v4(a: u32) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::from(Ipv4Addr::from(a)))
}

/// Prefix number `i` of a fixed universe: IPv4 /32s, every eighth IPv6.
fn nth(i: u16) -> IpNet {
    if i % 8 == 7 {
        format!("2001:db8::{:x}/128", i).parse().unwrap()
    } else {
        v4(0xc612_0000u32 + u32::from(i))
    }
}

/// What a peer holds: prefix -> (communities, local preference).
#[derive(Default, Debug)]
struct PeerModel {
    table: BTreeMap<IpNet, (Vec<Community>, Option<u32>)>,
    end_of_rib: Vec<Family>,
}

impl PeerModel {
    fn apply(&mut self, msgs: &[bytes::Bytes], params: &SessionParams) {
        for m in msgs {
            match Message::decode(m.clone(), params).unwrap() {
                Message::Update(u) => {
                    if let Some(f) = u.end_of_rib_family() {
                        self.end_of_rib.push(f);
                        continue;
                    }
                    for n in u.withdrawn_all() {
                        self.table.remove(&n.prefix);
                    }
                    let lp = u.attributes.iter().find_map(|a| match a {
                        PathAttribute::LocalPref(l) => Some(*l),
                        _ => None,
                    });
                    for n in u.announced() {
                        self.table.insert(n.prefix, (u.communities().to_vec(), lp));
                    }
                }
                Message::RouteRefresh(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// What a session described by `c` should hold for `routes`.
fn expected(
    routes: &[RouteSpec],
    c: &ExportContext,
) -> BTreeMap<IpNet, (Vec<Community>, Option<u32>)> {
    let mut t: BTreeMap<IpNet, (Vec<Community>, Option<u32>)> = BTreeMap::new();
    for r in routes {
        if matches!(r.prefix, IpNet::V6(_)) && !c.families.contains(&Family::IPV6_UNICAST) {
            continue;
        }
        let e = t.entry(r.prefix).or_default();
        e.0.extend(&r.communities);
        e.1 = e.1.max(r.local_pref);
    }
    for e in t.values_mut() {
        e.0.sort_unstable();
        e.0.dedup();
        e.1 = if c.ebgp {
            None
        } else {
            Some(e.1.unwrap_or(100))
        };
    }
    t
}

#[derive(Clone, Debug)]
enum Op {
    /// New routes, given to the peers whose bit is set in the mask.
    Set(Vec<(u16, u8)>, u8),
    Pull(usize, usize),
    Refresh(usize, bool),
    /// The session of one peer goes down and comes back.
    Flap(usize),
}

const PEERS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (proptest::collection::vec((0u16..600, 0u8..4), 0..600), 1u8..8)
            .prop_map(|(s, m)| Op::Set(s, m)),
        4 => (0..PEERS, 1usize..4).prop_map(|(p, m)| Op::Pull(p, m)),
        1 => (0..PEERS, any::<bool>()).prop_map(|(p, v6)| Op::Refresh(p, v6)),
        1 => (0..PEERS).prop_map(Op::Flap),
    ]
}

fn routes_of(spec: &[(u16, u8)]) -> Vec<RouteSpec> {
    spec.iter()
        .map(|(i, v)| {
            let mut r = RouteSpec::new(nth(*i));
            if *v & 1 == 1 {
                r.communities.push(Community::new(65000, u16::from(*v)));
            }
            if *v & 2 == 2 {
                r.local_pref = Some(200);
            }
            r
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn peers_sharing_one_table_each_end_with_the_desired_table_whatever_they_pull(
        ops in proptest::collection::vec(op(), 1..16),
    ) {
        let ctxs = [ctx(true, true), ctx(false, true), ctx(true, false)];
        let mut ribs: Vec<AdjRibOut> = (0..PEERS).map(|_| AdjRibOut::new()).collect();
        let mut peers: Vec<PeerModel> = (0..PEERS).map(|_| PeerModel::default()).collect();
        let mut routes: Vec<RouteSpec> = Vec::new();
        let mut table = RouteTable::empty();
        for (r, c) in ribs.iter_mut().zip(&ctxs) {
            r.start(&c.families);
        }
        for op in ops {
            match op {
                Op::Set(spec, mask) => {
                    routes = routes_of(&spec);
                    table = Arc::new(RouteTable::build(routes.iter(), Some(&table)));
                    for i in (0..PEERS).filter(|i| mask & (1 << i) != 0) {
                        ribs[i].set_table(&ctxs[i], table.clone());
                    }
                }
                Op::Pull(i, max) => {
                    let msgs = ribs[i].next_updates(&ctxs[i].params, max).unwrap();
                    prop_assert!(msgs.len() <= max, "{} messages for a budget of {max}", msgs.len());
                    peers[i].apply(&msgs, &ctxs[i].params);
                }
                Op::Refresh(i, v6) => {
                    let f = if v6 { Family::IPV6_UNICAST } else { Family::IPV4_UNICAST };
                    ribs[i].request_refresh(f, true);
                }
                Op::Flap(i) => {
                    ribs[i].reset();
                    peers[i] = PeerModel::default();
                    let t = ribs[i].table().clone();
                    ribs[i].set_table(&ctxs[i], t);
                    ribs[i].start(&ctxs[i].families);
                }
            }
        }
        for i in 0..PEERS {
            ribs[i].set_table(&ctxs[i], table.clone());
            while ribs[i].has_pending() {
                let msgs = ribs[i].next_updates(&ctxs[i].params, 2).unwrap();
                prop_assert!(msgs.len() <= 2);
                peers[i].apply(&msgs, &ctxs[i].params);
            }
            let want = expected(&routes, &ctxs[i]);
            prop_assert_eq!(&peers[i].table, &want, "peer {}", i);
            prop_assert_eq!(ribs[i].advertised_len(), want.len(), "peer {}", i);
            prop_assert_eq!(ribs[i].desired_len(), want.len(), "peer {}", i);
            let mut eor = peers[i].end_of_rib.clone();
            eor.sort_unstable();
            prop_assert_eq!(eor, ctxs[i].families.clone(), "peer {}: one End-of-RIB per family", i);
        }
    }
}

#[test]
fn a_table_built_from_the_previous_one_lists_only_the_changed_prefixes() {
    let base: Vec<RouteSpec> = (0..10_000u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    let t1 = RouteTable::build(base.iter(), None);
    let mut next = base.clone();
    next[17].communities.push(Community::new(65000, 1));
    next.push(RouteSpec::new(v4(0xc613_0000)));
    next.remove(4000);
    let t2 = RouteTable::build(next.iter(), Some(&t1));
    assert_eq!(
        t2.changed_since(t1.generation()),
        Some(
            &[
                v4(0xc612_0000 + 17),
                v4(0xc612_0000 + 4000),
                v4(0xc613_0000)
            ][..]
        )
    );
    assert_eq!(t2.changed_since(t2.generation()), None);
    assert_eq!(
        t2.attr_sets().len(),
        2,
        "routes with equal attributes share one set"
    );
}

#[test]
fn a_one_route_change_in_a_large_shared_table_marks_one_prefix_per_peer() {
    let ctxs = [ctx(true, false), ctx(false, false)];
    let base: Vec<RouteSpec> = (0..50_000u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    let t1 = Arc::new(RouteTable::build(base.iter(), None));
    let mut ribs: Vec<AdjRibOut> = (0..2).map(|_| AdjRibOut::new()).collect();
    let mut peers: Vec<PeerModel> = (0..2).map(|_| PeerModel::default()).collect();
    for i in 0..2 {
        ribs[i].set_table(&ctxs[i], t1.clone());
        ribs[i].start(&ctxs[i].families);
        let msgs = ribs[i].next_updates(&ctxs[i].params, usize::MAX).unwrap();
        peers[i].apply(&msgs, &ctxs[i].params);
    }
    let mut next = base.clone();
    next[123].communities.push(Community::new(65000, 9));
    let t2 = Arc::new(RouteTable::build(next.iter(), Some(&t1)));
    for i in 0..2 {
        ribs[i].set_table(&ctxs[i], t2.clone());
        assert_eq!(ribs[i].dirty_len(), 1, "peer {i}");
        let msgs = ribs[i].next_updates(&ctxs[i].params, usize::MAX).unwrap();
        assert_eq!(msgs.len(), 1, "peer {i}");
        peers[i].apply(&msgs, &ctxs[i].params);
        assert_eq!(peers[i].table, expected(&next, &ctxs[i]), "peer {i}");
    }
}

#[test]
fn withdrawing_a_whole_shared_table_sends_full_withdrawal_updates_to_every_peer() {
    let ctxs = [ctx(true, false), ctx(true, false), ctx(false, false)];
    let base: Vec<RouteSpec> = (0..100_000u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    let t1 = Arc::new(RouteTable::build(base.iter(), None));
    let t2 = Arc::new(RouteTable::build([].iter(), Some(&t1)));
    for c in &ctxs {
        let mut rib = AdjRibOut::new();
        let mut peer = PeerModel::default();
        rib.set_table(c, t1.clone());
        rib.start(&c.families);
        peer.apply(&rib.next_updates(&c.params, usize::MAX).unwrap(), &c.params);
        assert_eq!(peer.table.len(), 100_000);
        rib.set_table(c, t2.clone());
        let msgs = rib.next_updates(&c.params, usize::MAX).unwrap();
        // A plain IPv4 withdrawal takes 5 bytes per /32: 815 per UPDATE.
        assert_eq!(msgs.len(), 100_000usize.div_ceil(815));
        peer.apply(&msgs, &c.params);
        assert!(peer.table.is_empty());
        assert_eq!(rib.advertised_len(), 0);
        assert!(!rib.has_pending());
    }
}

#[test]
fn tables_of_equal_routes_in_any_order_hold_the_same_routes() {
    let mut a: Vec<RouteSpec> = (0..100u32)
        .map(|i| RouteSpec::new(v4(0xc612_0000 + i)))
        .collect();
    a[5].communities = vec![Community::new(65000, 2), Community::new(65000, 1)];
    let mut b = a.clone();
    b.reverse();
    b[94].communities.reverse();
    let ta = RouteTable::build(a.iter(), None);
    let tb = RouteTable::build(b.iter(), None);
    assert!(ta.same_routes(&tb));
    b[0].local_pref = Some(50);
    assert!(!ta.same_routes(&RouteTable::build(b.iter(), None)));
}
