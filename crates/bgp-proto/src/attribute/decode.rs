//! Reading one path attribute off the wire and decoding (or classifying the
//! error in) its value, MP_REACH_NLRI and MP_UNREACH_NLRI included.

use super::*;
use crate::nlri::decode_prefixes;
use crate::notification::{Notification, UpdateSubcode};
use crate::parse::{be_u16, Res};
use crate::types::{AFI_IPV4, AFI_IPV6};

/// The raw pieces of one attribute as read from the wire.
pub(crate) struct RawAttribute<'a> {
    pub flags: u8,
    pub type_code: u8,
    pub value: &'a [u8],
    /// The whole attribute (flags, type, length, value): RFC 4271 §6.3 puts
    /// it in the NOTIFICATION data for most attribute errors.
    pub whole: &'a [u8],
}

/// Reads one attribute header and value. `None` means the header or value
/// runs past the end of the attribute field (RFC 7606 §4).
pub(crate) fn read_raw_attribute(i: &[u8]) -> Option<(&[u8], RawAttribute<'_>)> {
    fn inner(i: &[u8]) -> Res<'_, (u8, u8, usize)> {
        let (i, flags) = be_u8(i)?;
        let (i, type_code) = be_u8(i)?;
        let (i, len) = if flags & FLAG_EXTENDED_LENGTH != 0 {
            let (i, l) = be_u16(i)?;
            (i, usize::from(l))
        } else {
            let (i, l) = be_u8(i)?;
            (i, usize::from(l))
        };
        Ok((i, (flags, type_code, len)))
    }
    let (after_header, (flags, type_code, len)) = inner(i).ok()?;
    let header_len = i.len() - after_header.len();
    let (rest, value) = bytes(len)(after_header).ok()?;
    let whole = i.get(..header_len + len)?;
    Some((
        rest,
        RawAttribute {
            flags,
            type_code,
            value,
            whole,
        },
    ))
}

/// Decodes one attribute's value, or classifies what is wrong with it.
/// `src` is the message body the slices point into, for zero-copy raw parts.
pub(crate) fn decode_attribute(
    raw: &RawAttribute<'_>,
    src: &Bytes,
    params: &SessionParams,
) -> Result<PathAttribute, AttributeError> {
    let ebgp = params.ebgp;
    let t = raw.type_code;
    let v = raw.value;
    let whole = || Bytes::copy_from_slice(raw.whole);
    let fail = |action, sub: UpdateSubcode, data: Bytes| AttributeError {
        type_code: t,
        action,
        notification: Notification::update(sub, data).at(attribute_name(t)),
    };
    let length_error = |action| fail(action, UpdateSubcode::AttributeLengthError, whole());

    // RFC 4271 §6.3: an unrecognized attribute with the Optional bit clear
    // claims to be well-known; we cannot honour it, so the session resets.
    let Some(expected) = expected_flags(t) else {
        if raw.flags & FLAG_OPTIONAL == 0 {
            return Err(fail(
                ErrorAction::SessionReset,
                UpdateSubcode::UnrecognizedWellKnownAttribute,
                whole(),
            ));
        }
        // The Extended Length bit and the four low bits describe the
        // encoding, not the attribute (RFC 4271 §4.3): keep O, T and P only.
        return Ok(PathAttribute::Unknown(UnknownAttribute {
            flags: raw.flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL),
            type_code: t,
            value: src.slice_ref(v),
        }));
    };

    if raw.flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != expected {
        let action = match t {
            // RFC 7606 §3.f: errors in ATOMIC_AGGREGATE or AGGREGATOR only
            // cost the attribute.
            ATTR_ATOMIC_AGGREGATE | ATTR_AGGREGATOR => ErrorAction::AttributeDiscard,
            // RFC 6793 §6: a bad AS4_PATH or AS4_AGGREGATOR is discarded.
            ATTR_AS4_PATH | ATTR_AS4_AGGREGATOR => ErrorAction::AttributeDiscard,
            // RFC 7606 §3.j: the MP attributes carry the NLRI themselves; if
            // they cannot be trusted the prefixes cannot be withdrawn either.
            ATTR_MP_REACH_NLRI | ATTR_MP_UNREACH_NLRI => ErrorAction::SessionReset,
            // RFC 7606 §3.c: an Optional/Transitive conflict makes the
            // attribute malformed -> treat-as-withdraw.
            _ => ErrorAction::TreatAsWithdraw,
        };
        return Err(fail(action, UpdateSubcode::AttributeFlagsError, whole()));
    }

    let ipv4 = |v: &[u8]| -> Ipv4Addr {
        let mut o = [0u8; 4];
        o.copy_from_slice(v);
        Ipv4Addr::from(o)
    };
    let u32_at = |v: &[u8]| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);

    match t {
        ATTR_ORIGIN => {
            // RFC 7606 §7.1: wrong length or undefined value -> withdraw.
            if v.len() != 1 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            match v[0] {
                0 => Ok(PathAttribute::Origin(Origin::Igp)),
                1 => Ok(PathAttribute::Origin(Origin::Egp)),
                2 => Ok(PathAttribute::Origin(Origin::Incomplete)),
                _ => Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::InvalidOriginAttribute,
                    whole(),
                )),
            }
        }
        ATTR_AS_PATH => {
            // RFC 7606 §7.2: a malformed AS_PATH -> treat-as-withdraw.
            let Some(path) = AsPath::decode(v, params.four_octet_as) else {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::MalformedAsPath,
                    Bytes::new(),
                ));
            };
            // RFC 7606 §7.2: confederation segments from an external peer
            // outside our confederation -> treat-as-withdraw.
            if ebgp
                && path
                    .segments
                    .iter()
                    .any(|s| matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet))
            {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::MalformedAsPath,
                    Bytes::new(),
                ));
            }
            Ok(PathAttribute::AsPath(path))
        }
        ATTR_NEXT_HOP => {
            // RFC 7606 §7.3: length other than 4 -> treat-as-withdraw.
            if v.len() != 4 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            let nh = ipv4(v);
            // RFC 4271 §6.3 / RFC 7606 §7.3: a next hop that is not a valid
            // unicast host address -> treat-as-withdraw.
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::InvalidNextHopAttribute,
                    whole(),
                ));
            }
            Ok(PathAttribute::NextHop(nh))
        }
        ATTR_MED => {
            // RFC 7606 §7.4: length other than 4 -> treat-as-withdraw.
            if v.len() != 4 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            Ok(PathAttribute::Med(u32_at(v)))
        }
        ATTR_LOCAL_PREF => {
            // RFC 7606 §7.5: from an external peer it is simply discarded.
            if ebgp {
                return Err(fail(
                    ErrorAction::AttributeDiscard,
                    UpdateSubcode::Unspecific,
                    Bytes::new(),
                ));
            }
            // RFC 7606 §7.5: length other than 4 -> treat-as-withdraw.
            if v.len() != 4 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            Ok(PathAttribute::LocalPref(u32_at(v)))
        }
        ATTR_ATOMIC_AGGREGATE => {
            // RFC 7606 §7.6: length other than 0 -> attribute discard.
            if !v.is_empty() {
                return Err(length_error(ErrorAction::AttributeDiscard));
            }
            Ok(PathAttribute::AtomicAggregate)
        }
        ATTR_AGGREGATOR => {
            // RFC 7606 §7.7: length other than 6 (2-octet AS session) or 8
            // (4-octet AS session) -> attribute discard.
            let asn_size = if params.four_octet_as { 4 } else { 2 };
            if v.len() != asn_size + 4 {
                return Err(length_error(ErrorAction::AttributeDiscard));
            }
            let (asn, addr) = if params.four_octet_as {
                (u32_at(v), ipv4(&v[4..]))
            } else {
                (u32::from(u16::from_be_bytes([v[0], v[1]])), ipv4(&v[2..]))
            };
            Ok(PathAttribute::Aggregator(Aggregator { asn, address: addr }))
        }
        ATTR_COMMUNITIES => {
            // RFC 7606 §7.8: zero length or not a multiple of 4 -> withdraw.
            if v.is_empty() || v.len() % 4 != 0 {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::OptionalAttributeError,
                    whole(),
                ));
            }
            Ok(PathAttribute::Communities(
                v.chunks_exact(4).map(|c| Community(u32_at(c))).collect(),
            ))
        }
        ATTR_ORIGINATOR_ID => {
            // RFC 7606 §7.9: length other than 4 -> treat-as-withdraw.
            if v.len() != 4 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            Ok(PathAttribute::OriginatorId(ipv4(v)))
        }
        ATTR_CLUSTER_LIST => {
            // RFC 7606 §7.10: zero length or not a multiple of 4 -> withdraw.
            if v.is_empty() || v.len() % 4 != 0 {
                return Err(length_error(ErrorAction::TreatAsWithdraw));
            }
            Ok(PathAttribute::ClusterList(
                v.chunks_exact(4).map(ipv4).collect(),
            ))
        }
        ATTR_MP_REACH_NLRI => decode_mp_reach(v, src, params).map(PathAttribute::MpReach),
        ATTR_MP_UNREACH_NLRI => decode_mp_unreach(v, src, params).map(PathAttribute::MpUnreach),
        ATTR_EXTENDED_COMMUNITIES => {
            // RFC 7606 §7.14: zero length or not a multiple of 8 -> withdraw.
            if v.is_empty() || v.len() % 8 != 0 {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::OptionalAttributeError,
                    whole(),
                ));
            }
            Ok(PathAttribute::ExtendedCommunities(
                v.chunks_exact(8)
                    .map(|c| {
                        let mut o = [0u8; 8];
                        o.copy_from_slice(c);
                        ExtendedCommunity(o)
                    })
                    .collect(),
            ))
        }
        ATTR_AS4_PATH => {
            // RFC 6793 §6: a malformed AS4_PATH is discarded, routes kept.
            match AsPath::decode(v, true) {
                Some(p) => Ok(PathAttribute::As4Path(p)),
                None => Err(fail(
                    ErrorAction::AttributeDiscard,
                    UpdateSubcode::OptionalAttributeError,
                    whole(),
                )),
            }
        }
        ATTR_AS4_AGGREGATOR => {
            // RFC 6793 §6: AS4_AGGREGATOR of a length other than 8 -> discard.
            if v.len() != 8 {
                return Err(length_error(ErrorAction::AttributeDiscard));
            }
            Ok(PathAttribute::As4Aggregator(Aggregator {
                asn: u32_at(v),
                address: ipv4(&v[4..]),
            }))
        }
        ATTR_LARGE_COMMUNITIES => {
            // RFC 8092 §6: zero length or not a multiple of 12 -> withdraw.
            if v.is_empty() || v.len() % 12 != 0 {
                return Err(fail(
                    ErrorAction::TreatAsWithdraw,
                    UpdateSubcode::OptionalAttributeError,
                    whole(),
                ));
            }
            Ok(PathAttribute::LargeCommunities(
                v.chunks_exact(12)
                    .map(|c| LargeCommunity {
                        global_admin: u32_at(c),
                        local1: u32_at(&c[4..]),
                        local2: u32_at(&c[8..]),
                    })
                    .collect(),
            ))
        }
        // expected_flags() covers exactly the codes above.
        _ => Ok(PathAttribute::Unknown(UnknownAttribute {
            flags: raw.flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL),
            type_code: t,
            value: src.slice_ref(v),
        })),
    }
}

fn mp_error(family: Option<Family>, sub: UpdateSubcode, t: u8) -> AttributeError {
    // RFC 7606 §7.11/§7.12 and §5.3: an MP attribute whose next hop or NLRI
    // cannot be parsed takes its whole family down (AFI/SAFI disable); when
    // even AFI/SAFI cannot be read, only a session reset is left.
    let action = match family {
        Some(f) => ErrorAction::AfiSafiDisable(f),
        None => ErrorAction::SessionReset,
    };
    AttributeError {
        type_code: t,
        action,
        notification: Notification::update(sub, Bytes::new()).at(attribute_name(t)),
    }
}

fn decode_mp_reach(
    v: &[u8],
    src: &Bytes,
    params: &SessionParams,
) -> Result<MpReach, AttributeError> {
    let t = ATTR_MP_REACH_NLRI;
    let head = |i| -> Res<'_, (u16, u8, &[u8])> {
        let (i, afi) = be_u16(i)?;
        let (i, safi) = be_u8(i)?;
        let (i, nh_len) = be_u8(i)?;
        let (i, nh) = bytes(usize::from(nh_len))(i)?;
        // RFC 4760 §3: the reserved octet is ignored on receipt.
        let (i, _reserved) = be_u8(i)?;
        Ok((i, (afi, safi, nh)))
    };
    let family = (v.len() >= 3).then(|| Family::new(u16::from_be_bytes([v[0], v[1]]), v[2]));
    let Ok((nlri, (afi, safi, nh))) = head(v) else {
        return Err(mp_error(family, UpdateSubcode::OptionalAttributeError, t));
    };
    let family = Family::new(afi, safi);
    let next_hop = if family.is_ip_prefix_family() {
        match (afi, nh.len()) {
            (AFI_IPV4, 4) => NextHop::V4(ipv4_from(nh)),
            // RFC 8950: IPv4 NLRI with an IPv6 next hop; RFC 2545 §3: a
            // global address, optionally followed by a link-local one.
            (AFI_IPV4 | AFI_IPV6, 16) => NextHop::V6 {
                global: ipv6_from(nh),
                link_local: None,
            },
            (AFI_IPV4 | AFI_IPV6, 32) => NextHop::V6 {
                global: ipv6_from(&nh[..16]),
                link_local: Some(ipv6_from(&nh[16..])),
            },
            // RFC 7606 §7.11: a next hop length that does not fit the family.
            _ => {
                return Err(mp_error(
                    Some(family),
                    UpdateSubcode::OptionalAttributeError,
                    t,
                ))
            }
        }
    } else {
        NextHop::Other(src.slice_ref(nh))
    };
    let nlri = decode_mp_nlri(family, nlri, src, params, t)?;
    Ok(MpReach {
        family,
        next_hop,
        nlri,
    })
}

fn decode_mp_unreach(
    v: &[u8],
    src: &Bytes,
    params: &SessionParams,
) -> Result<MpUnreach, AttributeError> {
    let t = ATTR_MP_UNREACH_NLRI;
    if v.len() < 3 {
        return Err(mp_error(None, UpdateSubcode::OptionalAttributeError, t));
    }
    let family = Family::new(u16::from_be_bytes([v[0], v[1]]), v[2]);
    let nlri = decode_mp_nlri(family, &v[3..], src, params, t)?;
    Ok(MpUnreach { family, nlri })
}

fn decode_mp_nlri(
    family: Family,
    nlri: &[u8],
    src: &Bytes,
    params: &SessionParams,
    t: u8,
) -> Result<MpNlri, AttributeError> {
    if !family.is_ip_prefix_family() {
        return Ok(MpNlri::Opaque(src.slice_ref(nlri)));
    }
    decode_prefixes(nlri, family, params.receives_path_id(family))
        .map(MpNlri::Prefixes)
        .map_err(|_| mp_error(Some(family), UpdateSubcode::InvalidNetworkField, t))
}

fn ipv4_from(v: &[u8]) -> Ipv4Addr {
    let mut o = [0u8; 4];
    o.copy_from_slice(&v[..4]);
    Ipv4Addr::from(o)
}

fn ipv6_from(v: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&v[..16]);
    Ipv6Addr::from(o)
}
