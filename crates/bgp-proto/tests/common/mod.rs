//! proptest strategies for every wire type, shared by the test files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::capability::{
    AddPathFamily, ExtendedNextHop, GracefulRestart, GracefulRestartFamily,
};
use bgp_proto::*;
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

pub fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

pub fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

pub fn nlri(prefix: impl Strategy<Value = IpNet>, add_path: bool) -> impl Strategy<Value = Nlri> {
    (prefix, any::<u32>()).prop_map(move |(prefix, id)| Nlri {
        prefix,
        path_id: add_path.then_some(id),
    })
}

pub fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("unicast", |a| {
            !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast()
        })
}

pub fn as_path(four_octet: bool) -> impl Strategy<Value = AsPath> {
    let asn = if four_octet {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    let kind = prop_oneof![
        Just(SegmentType::Sequence),
        Just(SegmentType::Set),
        Just(SegmentType::ConfedSequence),
        Just(SegmentType::ConfedSet),
    ];
    vec(
        (kind, vec(asn, 1..12)).prop_map(|(kind, asns)| AsSegment { kind, asns }),
        0..4,
    )
    .prop_map(|segments| AsPath { segments })
}

pub fn next_hop_for(family: Family) -> BoxedStrategy<NextHop> {
    let v6 = (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, ll)| NextHop::V6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(Ipv6Addr::from),
    });
    if family.afi == 1 {
        prop_oneof![unicast_v4().prop_map(NextHop::V4), v6].boxed()
    } else {
        v6.boxed()
    }
}

pub fn ip_family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::IPV4_UNICAST), Just(Family::IPV6_UNICAST)]
}

fn prefixes_of(family: Family, add_path: bool, max: usize) -> BoxedStrategy<Vec<Nlri>> {
    if family.afi == 1 {
        vec(nlri(v4_prefix(), add_path), 0..max).boxed()
    } else {
        vec(nlri(v6_prefix(), add_path), 0..max).boxed()
    }
}

pub fn mp_reach(add_path: bool) -> impl Strategy<Value = MpReach> {
    prop_oneof![
        ip_family()
            .prop_flat_map(move |f| (Just(f), next_hop_for(f), prefixes_of(f, add_path, 20)))
            .prop_map(|(family, next_hop, p)| MpReach {
                family,
                next_hop,
                nlri: MpNlri::Prefixes(p)
            }),
        // A family we do not interpret (e.g. L2VPN EVPN): opaque bytes.
        (vec(any::<u8>(), 0..24), vec(any::<u8>(), 0..40)).prop_map(|(nh, n)| MpReach {
            family: Family::new(25, 70),
            next_hop: NextHop::Other(Bytes::from(nh)),
            nlri: MpNlri::Opaque(Bytes::from(n)),
        }),
    ]
}

pub fn mp_unreach(add_path: bool) -> impl Strategy<Value = MpUnreach> {
    ip_family()
        .prop_flat_map(move |f| (Just(f), prefixes_of(f, add_path, 20)))
        .prop_map(|(family, p)| MpUnreach {
            family,
            nlri: MpNlri::Prefixes(p),
        })
}

fn aggregator(four_octet: bool) -> impl Strategy<Value = Aggregator> {
    let asn = if four_octet {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    (asn, any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

/// Any attribute that decodes cleanly on an iBGP session with `params`,
/// keyed by type code so an UPDATE never repeats one.
pub fn attribute(params: &SessionParams) -> BoxedStrategy<PathAttribute> {
    let four = params.four_octet_as;
    let ap = params.add_path_send.contains(&Family::IPV4_UNICAST);
    prop_oneof![
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
        .prop_map(PathAttribute::Origin),
        as_path(four).prop_map(PathAttribute::AsPath),
        unicast_v4().prop_map(PathAttribute::NextHop),
        any::<u32>().prop_map(PathAttribute::Med),
        any::<u32>().prop_map(PathAttribute::LocalPref),
        Just(PathAttribute::AtomicAggregate),
        aggregator(four).prop_map(PathAttribute::Aggregator),
        vec(any::<u32>().prop_map(Community), 1..20).prop_map(PathAttribute::Communities),
        any::<u32>().prop_map(|a| PathAttribute::OriginatorId(Ipv4Addr::from(a))),
        vec(any::<u32>().prop_map(Ipv4Addr::from), 1..6).prop_map(PathAttribute::ClusterList),
        mp_reach(ap).prop_map(PathAttribute::MpReach),
        mp_unreach(ap).prop_map(PathAttribute::MpUnreach),
        vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..6)
            .prop_map(PathAttribute::ExtendedCommunities),
        as_path(true).prop_map(PathAttribute::As4Path),
        aggregator(true).prop_map(PathAttribute::As4Aggregator),
        vec(
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, a, b)| LargeCommunity {
                global_admin: g,
                local1: a,
                local2: b
            }),
            1..6
        )
        .prop_map(PathAttribute::LargeCommunities),
        // Unassigned type codes, optional (else they would claim to be
        // well-known), any transitive/partial bits, values long enough to
        // need the extended length.
        (
            200u8..=250,
            any::<bool>(),
            any::<bool>(),
            vec(any::<u8>(), 0..400)
        )
            .prop_map(|(t, tr, p, v)| PathAttribute::Unknown(UnknownAttribute {
                flags: 0x80 | if tr { 0x40 } else { 0 } | if p { 0x20 } else { 0 },
                type_code: t,
                value: Bytes::from(v),
            })),
    ]
    .boxed()
}

/// An UPDATE that is well-formed for `params` (so decoding must give it
/// back exactly).
pub fn update(params: SessionParams) -> impl Strategy<Value = Update> {
    let ap = params.add_path_send.contains(&Family::IPV4_UNICAST);
    (
        vec(nlri(v4_prefix(), ap), 0..30),
        vec(attribute(&params), 0..10),
        vec(nlri(v4_prefix(), ap), 0..30),
        unicast_v4(),
        as_path(params.four_octet_as),
    )
        .prop_map(|(withdrawn, attrs, nlri, nh, path)| {
            let mut by_type: BTreeMap<u8, PathAttribute> = BTreeMap::new();
            for a in attrs {
                by_type.entry(a.type_code()).or_insert(a);
            }
            let announces = !nlri.is_empty()
                || matches!(by_type.get(&14), Some(PathAttribute::MpReach(m)) if !m.nlri.is_empty());
            if announces {
                by_type.entry(1).or_insert(PathAttribute::Origin(Origin::Igp));
                by_type.entry(2).or_insert(PathAttribute::AsPath(path));
            }
            if !nlri.is_empty() {
                by_type.entry(3).or_insert(PathAttribute::NextHop(nh));
            }
            Update { withdrawn, attributes: by_type.into_values().collect(), nlri, errors: vec![] }
        })
}

pub fn capability() -> impl Strategy<Value = Capability> {
    let family = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(a, s));
    prop_oneof![
        family.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        vec(
            (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(a, s, n)| ExtendedNextHop {
                nlri_afi: a,
                nlri_safi: s,
                next_hop_afi: n
            }),
            0..5
        )
        .prop_map(Capability::ExtendedNextHop),
        (
            any::<bool>(),
            any::<bool>(),
            0u8..4,
            0u16..4096,
            vec(
                (family.clone(), any::<bool>(), 0u8..128).prop_map(|(family, f, o)| {
                    GracefulRestartFamily {
                        family,
                        forwarding_preserved: f,
                        other_flags: o,
                    }
                }),
                0..4
            )
        )
            .prop_map(|(r, n, o, t, families)| Capability::GracefulRestart(
                GracefulRestart {
                    restarting: r,
                    notification: n,
                    other_flags: o,
                    restart_time: t,
                    families
                }
            )),
        any::<u32>().prop_map(Capability::FourOctetAs),
        vec(
            (family, 1u8..=3).prop_map(|(family, m)| AddPathFamily {
                family,
                receive: m & 1 != 0,
                send: m & 2 != 0
            }),
            0..4
        )
        .prop_map(Capability::AddPath),
        ("[a-z0-9-]{0,20}", "[a-z0-9.]{0,20}")
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (100u8..=127, vec(any::<u8>(), 0..30)).prop_map(|(code, v)| Capability::Unknown {
            code,
            value: Bytes::from(v)
        }),
    ]
}

pub fn open() -> impl Strategy<Value = Open> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        vec(
            prop_oneof![
                4 => vec(capability(), 0..8).prop_map(OptionalParameter::Capabilities),
                1 => (3u8..=254, vec(any::<u8>(), 0..20)).prop_map(|(kind, v)| {
                    OptionalParameter::Unknown { kind, value: Bytes::from(v) }
                }),
            ],
            0..12,
        ),
    )
        .prop_map(|(version, my_as, hold_time, id, params)| Open {
            version,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            params,
        })
}

pub fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64))
        .prop_map(|(c, s, d)| Notification::new(ErrorCode::from_pair(c, s), Bytes::from(d)))
}

pub fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(afi, sub, safi)| {
        let subtype = match sub {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh,
            v => RefreshSubtype::Unknown(v),
        };
        RouteRefresh {
            family: Family::new(afi, safi),
            subtype,
        }
    })
}

pub fn session_params() -> impl Strategy<Value = SessionParams> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, ext, ap)| SessionParams {
        four_octet_as: four,
        extended_message: ext,
        add_path_receive: if ap {
            vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        } else {
            vec![]
        },
        add_path_send: if ap {
            vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        } else {
            vec![]
        },
        ebgp: false,
    })
}

/// Encodes then decodes one message with the same parameters on both ends.
pub fn roundtrip(msg: &Message, params: &SessionParams) -> Result<Message, TestCaseError> {
    let fail = |e: String| TestCaseError::fail(e);
    let bytes = msg.to_bytes(params).map_err(|e| fail(e.to_string()))?;
    let back =
        Message::decode(bytes.clone(), &params.mirrored()).map_err(|e| fail(e.to_string()))?;
    let again = back.to_bytes(params).map_err(|e| fail(e.to_string()))?;
    if again != bytes {
        return Err(fail(
            "re-encoding the decoded message gave different bytes".into(),
        ));
    }
    Ok(back)
}
