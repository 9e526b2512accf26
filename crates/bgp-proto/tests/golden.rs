//! Golden byte streams captured from independent implementations (BIRD 2,
//! GoBGP, FRR) talking to each other: we must decode every message, find
//! exactly what each README says was sent, and re-encode each message to
//! something that decodes to the same value (byte-identical where the
//! sender's choices match ours).
//!
//! The captures live in tests/golden/<case>/ (see tests/golden/README.md).
//! Setting GOLDEN_DIR points the test at a fresh capture instead (the e2e
//! test 10-golden-recapture does this).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use bgp_proto::capability::AddPathFamily;
use bgp_proto::*;
use bytes::BytesMut;
use ipnet::IpNet;
use tokio_util::codec::Decoder;

fn case_dir(case: &str) -> PathBuf {
    let root = std::env::var_os("GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"));
    root.join(case)
}

/// One direction of a session: the messages and the parameters they were
/// decoded with.
struct Stream {
    msgs: Vec<Message>,
    params: SessionParams,
    raw: Vec<bytes::Bytes>,
}

/// Decodes both directions of a case. Each stream starts with an OPEN; the
/// parameters for the rest come from negotiating the two OPENs, as the
/// receiver of that stream would.
fn load(case: &str, ebgp: bool) -> (Stream, Stream) {
    let dir = case_dir(case);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{case}/{f}: {e}"));
    let (a, b) = (read("a.bin"), read("b.bin"));
    let first_open = |bytes: &[u8]| {
        let mut codec = BgpCodec::default();
        let mut buf = BytesMut::from(bytes);
        match codec.decode(&mut buf).expect("first message decodes") {
            Some(Message::Open(o)) => o,
            other => panic!("{case}: stream does not start with an OPEN: {other:?}"),
        }
    };
    let (open_a, open_b) = (first_open(&a), first_open(&b));
    // A's stream is received by B: B's view of the negotiation.
    let params_a = negotiate(&open_b, &open_a, ebgp);
    let params_b = negotiate(&open_a, &open_b, ebgp);
    (
        decode_stream(case, "a", &a, params_a),
        decode_stream(case, "b", &b, params_b),
    )
}

fn decode_stream(case: &str, side: &str, bytes: &[u8], params: SessionParams) -> Stream {
    let mut codec = BgpCodec::new(params.clone());
    let mut buf = BytesMut::from(bytes);
    let (mut msgs, mut raw) = (Vec::new(), Vec::new());
    loop {
        let frame = codec
            .decode_frame(&mut buf)
            .unwrap_or_else(|n| panic!("{case}/{side}: framing error {n}"));
        let Some(frame) = frame else { break };
        raw.push(frame.clone());
        let msg = Message::decode(frame, &params)
            .unwrap_or_else(|n| panic!("{case}/{side}: message {} rejected: {n}", msgs.len()));
        if let Message::Update(u) = &msg {
            assert!(u.errors.is_empty(), "{case}/{side}: {:?}", u.errors);
        }
        msgs.push(msg);
    }
    assert!(
        buf.is_empty(),
        "{case}/{side}: {} trailing bytes",
        buf.len()
    );
    Stream { msgs, params, raw }
}

impl Stream {
    fn open(&self) -> &Open {
        match &self.msgs[0] {
            Message::Open(o) => o,
            _ => unreachable!(),
        }
    }

    fn updates(&self) -> impl Iterator<Item = &Update> {
        self.msgs.iter().filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
    }

    /// The last UPDATE that announced each prefix.
    fn announced(&self) -> BTreeMap<IpNet, &Update> {
        let mut out = BTreeMap::new();
        for u in self.updates() {
            for n in u.announced() {
                out.insert(n.prefix, u);
            }
        }
        out
    }

    fn withdrawn(&self) -> Vec<IpNet> {
        self.updates()
            .flat_map(|u| u.withdrawn_all().map(|n| n.prefix))
            .collect()
    }

    fn end_of_ribs(&self) -> Vec<Family> {
        self.updates()
            .filter_map(Update::end_of_rib_family)
            .collect()
    }

    fn last_notification(&self) -> &Notification {
        match self.msgs.last() {
            Some(Message::Notification(n)) => n,
            other => panic!("stream does not end with a NOTIFICATION: {other:?}"),
        }
    }

    /// Re-encodes every message with the sender's view of the parameters;
    /// returns how many came out byte-identical. All must decode back to
    /// the same value.
    fn reencode(&self) -> usize {
        let send_params = self.params.mirrored();
        let mut identical = 0;
        for (msg, raw) in self.msgs.iter().zip(&self.raw) {
            let ours = msg.to_bytes(&send_params).expect("re-encodes");
            let back = Message::decode(ours.clone(), &self.params).expect("our encoding decodes");
            assert_eq!(&back, msg);
            if ours == raw {
                identical += 1;
            }
        }
        identical
    }
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn path(u: &Update) -> Vec<u32> {
    u.as_path().expect("AS_PATH").asns().collect()
}

fn as4_path(u: &Update) -> Vec<u32> {
    u.attributes
        .iter()
        .find_map(|a| match a {
            PathAttribute::As4Path(p) => Some(p.asns().collect()),
            _ => None,
        })
        .expect("AS4_PATH")
}

fn comms(u: &Update) -> Vec<String> {
    u.communities().iter().map(ToString::to_string).collect()
}

fn large(u: &Update) -> Vec<String> {
    u.large_communities()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn bird_to_gobgp_ebgp_ipv4_decodes_as_configured() {
    let (a, b) = load("bird-gobgp-ebgp-v4", true);

    // BIRD's OPEN: AS_TRANS in My AS, the real AS in the capability.
    assert_eq!(a.open().my_as, 23456);
    assert_eq!(a.open().asn(), 4_200_000_001);
    assert!(a
        .open()
        .capabilities()
        .any(|c| *c == Capability::EnhancedRouteRefresh));
    assert!(a
        .open()
        .capabilities()
        .any(|c| matches!(c, Capability::GracefulRestart(g) if g.restart_time == 120)));
    assert!(a.params.four_octet_as);
    // GoBGP's OPEN: FQDN and extended next hop.
    assert!(b
        .open()
        .capabilities()
        .any(|c| matches!(c, Capability::Fqdn { hostname, .. } if hostname == "gobgp")));
    assert!(b
        .open()
        .capabilities()
        .any(|c| matches!(c, Capability::ExtendedNextHop(_))));
    assert_eq!(b.open().asn(), 65002);

    let ann = a.announced();
    let r1 = ann[&p("203.0.113.1/32")];
    assert_eq!(path(r1), vec![4_200_000_001]);
    assert_eq!(r1.origin(), Some(Origin::Igp));
    assert_eq!(
        r1.next_hop(),
        Some(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!(r1.med(), Some(10));
    assert_eq!(comms(r1), vec!["65001:100"]);
    assert_eq!(large(r1), vec!["4200000001:1:2"]);
    assert!(
        matches!(r1.attribute(16), Some(PathAttribute::ExtendedCommunities(v)) if v.len() == 1)
    );
    let r2 = ann[&p("203.0.113.2/32")];
    assert_eq!(r2.med(), Some(20));
    assert_eq!(comms(r2), vec!["65001:100", "65001:200"]);
    assert_eq!(large(r2), vec!["4200000001:1:2", "4200000001:3:4"]);
    let r3 = ann[&p("203.0.113.3/32")];
    assert_eq!((r3.med(), comms(r3)), (None, vec!["65001:300".to_string()]));
    assert_eq!(ann.len(), 3);
    assert_eq!(a.end_of_ribs(), vec![Family::IPV4_UNICAST]);
    assert!(a
        .msgs
        .iter()
        .any(|m| *m == Message::RouteRefresh(RouteRefresh::request(Family::IPV4_UNICAST))));
    let n = a.last_notification();
    assert_eq!(
        n.code,
        ErrorCode::Cease(notification::CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n.shutdown_communication(), Some("maintenance"));

    let bann = b.announced();
    assert_eq!(path(bann[&p("198.51.100.0/24")]), vec![65002]);
    assert_eq!(comms(bann[&p("198.51.100.0/24")]), vec!["65002:200"]);
    assert_eq!(
        comms(bann[&p("198.51.100.128/25")]),
        vec!["65002:200", "65002:300"]
    );
    assert_eq!(b.withdrawn(), vec![p("198.51.100.128/25")]);

    // BIRD and GoBGP encode these exactly as we do.
    assert_eq!(a.reencode(), a.msgs.len());
    assert_eq!(b.reencode(), b.msgs.len());
}

#[test]
fn bird_to_gobgp_ibgp_ipv6_decodes_as_configured() {
    let (a, b) = load("bird-gobgp-ibgp-v6", false);
    let ann = a.announced();
    let r = ann[&p("2001:db8:aa::1/128")];
    let mp = r.mp_reach().unwrap();
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::V6 {
            global: "2001:db8:10::1".parse().unwrap(),
            link_local: Some("fe80::ff:fe00:20a".parse().unwrap())
        }
    );
    assert_eq!(r.local_pref(), Some(200));
    assert_eq!(path(r), Vec::<u32>::new());
    assert!(ann.contains_key(&p("2001:db8:aa:1::/64")));
    // RFC 8950: an IPv4 prefix with an IPv6 next hop in MP_REACH AFI 1.
    let v4 = ann[&p("203.0.113.10/32")];
    let mp4 = v4.mp_reach().unwrap();
    assert_eq!(mp4.family, Family::IPV4_UNICAST);
    assert!(matches!(mp4.next_hop, NextHop::V6 { .. }));
    assert_eq!(v4.local_pref(), Some(150));
    let eors = a.end_of_ribs();
    assert!(
        eors.contains(&Family::IPV6_UNICAST) && eors.contains(&Family::IPV4_UNICAST),
        "{eors:?}"
    );
    assert!(a.withdrawn().contains(&p("2001:db8:aa:2::/64")));

    let bann = b.announced();
    let r = bann[&p("2001:db8:bb::1/128")];
    assert_eq!(r.local_pref(), Some(300));
    assert_eq!(
        r.mp_reach().unwrap().next_hop,
        NextHop::V6 {
            global: "2001:db8:10::2".parse().unwrap(),
            link_local: None
        }
    );
    assert!(matches!(
        bann[&p("198.51.100.10/32")].mp_reach().unwrap().next_hop,
        NextHop::V6 { .. }
    ));
    assert_eq!(b.withdrawn(), vec![p("2001:db8:bb:1::/64")]);
    // GoBGP 3.10 sends Cease / Administrative Shutdown without the RFC 9003
    // text even when `disable --reason` is given.
    let n = b.last_notification();
    assert_eq!(
        n.code,
        ErrorCode::Cease(notification::CeaseSubcode::AdministrativeShutdown)
    );
    assert!(n.data.is_empty());

    // BIRD always sets the Extended Length flag on MP_REACH/MP_UNREACH,
    // even for short values; we use it only when the value needs it. All
    // its other messages match byte for byte.
    let bird_mp = a
        .updates()
        .filter(|u| u.mp_reach().is_some() || u.mp_unreach().is_some())
        .count();
    assert!(a.reencode() >= a.msgs.len() - bird_mp);
    assert_eq!(b.reencode(), b.msgs.len());
}

#[test]
fn frr_to_bird_ebgp_decodes_frr_capabilities_and_add_path() {
    let (a, b) = load("frr-bird-ebgp", true);
    let caps: Vec<&Capability> = a.open().capabilities().collect();
    assert!(caps.iter().any(|c| matches!(c, Capability::Fqdn { hostname, domain } if hostname == "frr" && domain == "example.net")));
    assert!(caps.iter().any(|c| matches!(c, Capability::GracefulRestart(g) if g.restarting && g.notification && g.restart_time == 120)));
    assert!(caps.iter().any(|c| matches!(c, Capability::AddPath(v) if v.contains(&AddPathFamily { family: Family::IPV4_UNICAST, receive: true, send: true }))));
    assert!(caps.iter().any(|c| **c == Capability::ExtendedMessage));
    assert!(caps.iter().any(|c| **c == Capability::EnhancedRouteRefresh));
    // Cisco's pre-standard route refresh (128) and LLGR (71) are kept raw.
    assert!(caps
        .iter()
        .any(|c| matches!(c, Capability::Unknown { code: 128, .. })));
    assert!(caps
        .iter()
        .any(|c| matches!(c, Capability::Unknown { code: 71, .. })));

    // FRR sends path identifiers; BIRD receives them.
    assert_eq!(a.params.add_path_receive, vec![Family::IPV4_UNICAST]);
    assert!(b.params.add_path_receive.is_empty());
    assert!(a
        .updates()
        .flat_map(|u| u.announced())
        .all(|n| n.path_id.is_some()));

    let ann = a.announced();
    assert_eq!(path(ann[&p("198.51.100.0/26")]), vec![65003, 65030, 65031]);
    assert_eq!(
        comms(ann[&p("198.51.100.0/26")]),
        vec!["65003:1", "65003:2"]
    );
    assert_eq!(large(ann[&p("198.51.100.0/26")]), vec!["65003:0:1"]);
    let agg = ann[&p("198.51.100.128/25")];
    assert!(agg.attribute(6).is_some(), "ATOMIC_AGGREGATE");
    assert_eq!(
        agg.attribute(7),
        Some(&PathAttribute::Aggregator(Aggregator {
            asn: 65003,
            address: Ipv4Addr::new(192, 0, 2, 5)
        }))
    );
    assert_eq!(
        path(ann[&p("203.0.113.64/26")]),
        vec![65003, 65001, 4_200_000_099, 64512]
    );
    assert!(a.withdrawn().contains(&p("198.51.100.64/26")));
    assert_eq!(
        a.last_notification().shutdown_communication(),
        Some("frr maintenance")
    );

    let bann = b.announced();
    assert_eq!(
        path(bann[&p("203.0.113.64/26")]),
        vec![65001, 4_200_000_099, 64512]
    );
    assert_eq!(bann[&p("203.0.113.128/26")].med(), Some(128));
    let subtypes: Vec<RefreshSubtype> = b
        .msgs
        .iter()
        .filter_map(|m| match m {
            Message::RouteRefresh(r) => Some(r.subtype),
            _ => None,
        })
        .collect();
    assert_eq!(
        subtypes,
        vec![
            RefreshSubtype::BeginningOfRefresh,
            RefreshSubtype::EndOfRefresh
        ]
    );

    // Every message decodes back identically from our encoding; BIRD's are
    // byte-identical too.
    a.reencode();
    assert_eq!(b.reencode(), b.msgs.len());
}

#[test]
fn a_two_octet_as_session_carries_as_trans_and_as4_path() {
    let (a, b) = load("gobgp-bird-2byte", true);
    assert!(!a.params.four_octet_as && !b.params.four_octet_as);
    assert!(b.open().four_octet_as().is_none());

    let bann = b.announced();
    let r = bann[&p("203.0.113.0/25")];
    assert_eq!(path(r), vec![65005, 23456]);
    assert_eq!(as4_path(r), vec![65005, 4_200_000_055]);
    assert_eq!(comms(r), vec!["65005:1"]);

    let ann = a.announced();
    assert_eq!(path(ann[&p("198.51.100.0/24")]), vec![65004]);
    assert_eq!(comms(ann[&p("198.51.100.0/24")]), vec!["65004:4"]);
    let r = ann[&p("198.51.100.128/25")];
    assert_eq!(path(r), vec![65004, 23456, 65066]);
    assert_eq!(as4_path(r), vec![65004, 4_200_000_066, 65066]);
    assert_eq!(
        b.last_notification().shutdown_communication(),
        Some("as4 off bye")
    );

    assert_eq!(a.reencode(), a.msgs.len());
    assert_eq!(b.reencode(), b.msgs.len());
}
