//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! Each attribute decoder returns either the attribute or an
//! [`AttributeError`] that says what to do about it (an [`ErrorAction`]) and
//! carries the NOTIFICATION RFC 4271 §6.3 would have sent, for the cases where
//! the action is a session reset.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::nlri::{decode_prefixes, Nlri};
use crate::notification::{Notification, UpdateSubcode};
use crate::parse::{be_u16, be_u8, bytes, Res};
use crate::types::{Family, SessionParams, AFI_IPV4, AFI_IPV6, AS_TRANS};

pub const ATTR_ORIGIN: u8 = 1;
pub const ATTR_AS_PATH: u8 = 2;
pub const ATTR_NEXT_HOP: u8 = 3;
pub const ATTR_MED: u8 = 4;
pub const ATTR_LOCAL_PREF: u8 = 5;
pub const ATTR_ATOMIC_AGGREGATE: u8 = 6;
pub const ATTR_AGGREGATOR: u8 = 7;
pub const ATTR_COMMUNITIES: u8 = 8;
pub const ATTR_ORIGINATOR_ID: u8 = 9;
pub const ATTR_CLUSTER_LIST: u8 = 10;
pub const ATTR_MP_REACH_NLRI: u8 = 14;
pub const ATTR_MP_UNREACH_NLRI: u8 = 15;
pub const ATTR_EXTENDED_COMMUNITIES: u8 = 16;
pub const ATTR_AS4_PATH: u8 = 17;
pub const ATTR_AS4_AGGREGATOR: u8 = 18;
pub const ATTR_LARGE_COMMUNITIES: u8 = 32;

/// Attribute flag bits (RFC 4271 §4.3).
pub const FLAG_OPTIONAL: u8 = 0x80;
pub const FLAG_TRANSITIVE: u8 = 0x40;
pub const FLAG_PARTIAL: u8 = 0x20;
pub const FLAG_EXTENDED_LENGTH: u8 = 0x10;

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3 for the confederation
/// types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }
}

//  +-----------------+-----------------+-------------------------------+
//  | Segment type (1)| Segment len (1) | AS numbers (len x 2 or 4)     |
//  +-----------------+-----------------+-------------------------------+
/// One AS_PATH or AS4_PATH segment. AS numbers are always held as 4 octets;
/// the session decides how many octets they take on the wire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// AS_PATH or AS4_PATH contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An AS_SEQUENCE of the given AS numbers (empty path if none).
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Every AS number in path order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// True if any AS number needs four octets (so a 2-octet session must
    /// send AS_TRANS plus AS4_PATH, RFC 6793 §4.2.2).
    pub fn needs_four_octets(&self) -> bool {
        self.asns().any(|a| a > u32::from(u16::MAX))
    }

    fn value_len(&self, asn_size: usize) -> usize {
        self.segments
            .iter()
            .map(|s| {
                // A segment holds at most 255 AS numbers; longer ones are
                // written as several segments of the same type.
                let chunks = s.asns.len().div_ceil(255).max(1);
                chunks * 2 + s.asns.len() * asn_size
            })
            .sum()
    }

    fn encode(&self, four_octet: bool, out: &mut BytesMut) {
        for s in &self.segments {
            if s.asns.is_empty() {
                out.put_u8(s.kind as u8);
                out.put_u8(0);
                continue;
            }
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind as u8);
                out.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.put_u32(asn);
                    } else {
                        out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// RFC 7606 §7.2 (and RFC 6793 §6 for AS4_PATH): a path is malformed on
    /// an unknown segment type, a zero segment length, a segment that runs
    /// past the attribute, or a lone trailing octet.
    fn decode(mut i: &[u8], four_octet: bool) -> Option<AsPath> {
        let mut segments = Vec::new();
        while !i.is_empty() {
            let (r, kind) = be_u8::<_, ()>(i).ok()?;
            let (r, count) = be_u8::<_, ()>(r).ok()?;
            let kind = SegmentType::from_u8(kind)?;
            if count == 0 {
                return None;
            }
            let size = if four_octet { 4 } else { 2 };
            let (r, raw) = bytes(usize::from(count) * size)(r).ok()?;
            let asns = raw
                .chunks_exact(size)
                .map(|c| match *c {
                    [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                    [a, b] => u32::from(u16::from_be_bytes([a, b])),
                    _ => 0,
                })
                .collect();
            segments.push(AsSegment { kind, asns });
            i = r;
        }
        Some(AsPath { segments })
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, s) in self.segments.iter().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            let list = s
                .asns
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            match s.kind {
                SegmentType::Sequence => f.write_str(&list)?,
                SegmentType::Set => write!(f, "{{{list}}}")?,
                SegmentType::ConfedSequence => write!(f, "({list})")?,
                SegmentType::ConfedSet => write!(f, "[{list}]")?,
            }
        }
        Ok(())
    }
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997), shown as `AA:NN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 8326.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    pub fn new(asn: u16, value: u16) -> Self {
        Community((u32::from(asn) << 16) | u32::from(value))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// An extended community (RFC 4360): 8 octets, type first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// A large community (RFC 8092): global administrator and two local data
/// parts, shown as `A:B:C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local1: u32,
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global_admin, self.local1, self.local2)
    }
}

/// The next hop of an MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    V4(Ipv4Addr),
    /// A global address, and a link-local one when the peer is on-link
    /// (RFC 2545 §3: 32 octets).
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
    /// Any other next hop (VPN families, and so on), kept raw.
    Other(Bytes),
}

impl NextHop {
    pub fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 {
                link_local: None, ..
            } => 16,
            NextHop::V6 {
                link_local: Some(_),
                ..
            } => 32,
            NextHop::Other(b) => b.len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            NextHop::V4(a) => out.put_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.put_slice(&ll.octets());
                }
            }
            NextHop::Other(b) => out.put_slice(b),
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::V4(a) => write!(f, "{a}"),
            NextHop::V6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            NextHop::V6 {
                global,
                link_local: Some(ll),
            } => write!(f, "{global} ({ll})"),
            NextHop::Other(b) => write!(f, "[{}]", crate::types::hex_preview(b)),
        }
    }
}

/// NLRI of an MP attribute: prefixes for IP families, raw bytes otherwise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MpNlri {
    Prefixes(Vec<Nlri>),
    Opaque(Bytes),
}

impl MpNlri {
    fn encoded_len(&self, with_path_id: bool) -> usize {
        match self {
            MpNlri::Prefixes(p) => p.iter().map(|n| n.encoded_len(with_path_id)).sum(),
            MpNlri::Opaque(b) => b.len(),
        }
    }

    fn encode(&self, with_path_id: bool, out: &mut BytesMut) {
        match self {
            MpNlri::Prefixes(p) => crate::nlri::encode_all(p, with_path_id, out),
            MpNlri::Opaque(b) => out.put_slice(b),
        }
    }

    /// The prefixes, or nothing for a family we carry opaquely.
    pub fn prefixes(&self) -> &[Nlri] {
        match self {
            MpNlri::Prefixes(p) => p,
            MpNlri::Opaque(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Prefixes(p) => p.is_empty(),
            MpNlri::Opaque(b) => b.is_empty(),
        }
    }
}

//  +---------------------------------------------------------+
//  | AFI (2) | SAFI (1) | NH length (1) | Next hop (variable) |
//  +---------------------------------------------------------+
//  | Reserved (1) | NLRI (variable)                          |
//  +---------------------------------------------------------+
/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: MpNlri,
}

//  +-------------------------------------------+
//  | AFI (2) | SAFI (1) | Withdrawn (variable) |
//  +-------------------------------------------+
/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MpUnreach {
    pub family: Family,
    pub nlri: MpNlri,
}

/// An attribute we do not interpret, kept byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnknownAttribute {
    /// Flags as received (the Extended Length bit is recomputed on send).
    pub flags: u8,
    pub type_code: u8,
    pub value: Bytes,
}

impl UnknownAttribute {
    /// RFC 4271 §5: an unrecognized optional transitive attribute passed on
    /// to other peers gets the Partial bit set; a non-transitive one is not
    /// passed on at all.
    pub fn for_propagation(&self) -> Option<UnknownAttribute> {
        if self.flags & FLAG_TRANSITIVE == 0 {
            return None;
        }
        Some(UnknownAttribute {
            flags: self.flags | FLAG_PARTIAL,
            ..self.clone()
        })
    }
}

//  +---------------------------+---------------------------+
//  | Attr. Flags (1) | Type (1)| Length (1, or 2 if Ext.)  |
//  +---------------------------+---------------------------+
//  | Attribute value (variable)                            |
//  +-------------------------------------------------------+
/// A path attribute.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathAttribute {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    Med(u32),
    LocalPref(u32),
    AtomicAggregate,
    Aggregator(Aggregator),
    Communities(Vec<Community>),
    OriginatorId(Ipv4Addr),
    ClusterList(Vec<Ipv4Addr>),
    MpReach(MpReach),
    MpUnreach(MpUnreach),
    ExtendedCommunities(Vec<ExtendedCommunity>),
    As4Path(AsPath),
    As4Aggregator(Aggregator),
    LargeCommunities(Vec<LargeCommunity>),
    Unknown(UnknownAttribute),
}

/// The Optional and Transitive bits each known attribute must carry.
fn expected_flags(type_code: u8) -> Option<u8> {
    Some(match type_code {
        ATTR_ORIGIN | ATTR_AS_PATH | ATTR_NEXT_HOP | ATTR_LOCAL_PREF | ATTR_ATOMIC_AGGREGATE => {
            FLAG_TRANSITIVE
        }
        ATTR_MED | ATTR_ORIGINATOR_ID | ATTR_CLUSTER_LIST | ATTR_MP_REACH_NLRI
        | ATTR_MP_UNREACH_NLRI => FLAG_OPTIONAL,
        ATTR_AGGREGATOR
        | ATTR_COMMUNITIES
        | ATTR_EXTENDED_COMMUNITIES
        | ATTR_AS4_PATH
        | ATTR_AS4_AGGREGATOR
        | ATTR_LARGE_COMMUNITIES => FLAG_OPTIONAL | FLAG_TRANSITIVE,
        _ => return None,
    })
}

fn attribute_name(type_code: u8) -> &'static str {
    match type_code {
        ATTR_ORIGIN => "ORIGIN",
        ATTR_AS_PATH => "AS_PATH",
        ATTR_NEXT_HOP => "NEXT_HOP",
        ATTR_MED => "MULTI_EXIT_DISC",
        ATTR_LOCAL_PREF => "LOCAL_PREF",
        ATTR_ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        ATTR_AGGREGATOR => "AGGREGATOR",
        ATTR_COMMUNITIES => "COMMUNITIES",
        ATTR_ORIGINATOR_ID => "ORIGINATOR_ID",
        ATTR_CLUSTER_LIST => "CLUSTER_LIST",
        ATTR_MP_REACH_NLRI => "MP_REACH_NLRI",
        ATTR_MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        ATTR_EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
        ATTR_AS4_PATH => "AS4_PATH",
        ATTR_AS4_AGGREGATOR => "AS4_AGGREGATOR",
        ATTR_LARGE_COMMUNITIES => "LARGE_COMMUNITY",
        _ => "unknown attribute",
    }
}

impl PathAttribute {
    pub fn type_code(&self) -> u8 {
        match self {
            PathAttribute::Origin(_) => ATTR_ORIGIN,
            PathAttribute::AsPath(_) => ATTR_AS_PATH,
            PathAttribute::NextHop(_) => ATTR_NEXT_HOP,
            PathAttribute::Med(_) => ATTR_MED,
            PathAttribute::LocalPref(_) => ATTR_LOCAL_PREF,
            PathAttribute::AtomicAggregate => ATTR_ATOMIC_AGGREGATE,
            PathAttribute::Aggregator(_) => ATTR_AGGREGATOR,
            PathAttribute::Communities(_) => ATTR_COMMUNITIES,
            PathAttribute::OriginatorId(_) => ATTR_ORIGINATOR_ID,
            PathAttribute::ClusterList(_) => ATTR_CLUSTER_LIST,
            PathAttribute::MpReach(_) => ATTR_MP_REACH_NLRI,
            PathAttribute::MpUnreach(_) => ATTR_MP_UNREACH_NLRI,
            PathAttribute::ExtendedCommunities(_) => ATTR_EXTENDED_COMMUNITIES,
            PathAttribute::As4Path(_) => ATTR_AS4_PATH,
            PathAttribute::As4Aggregator(_) => ATTR_AS4_AGGREGATOR,
            PathAttribute::LargeCommunities(_) => ATTR_LARGE_COMMUNITIES,
            PathAttribute::Unknown(u) => u.type_code,
        }
    }

    pub fn name(&self) -> &'static str {
        attribute_name(self.type_code())
    }

    /// Length of the attribute value as it will be written.
    pub fn value_len(&self, params: &SessionParams) -> usize {
        let asn_size = if params.four_octet_as { 4 } else { 2 };
        match self {
            PathAttribute::Origin(_) => 1,
            PathAttribute::AsPath(p) => p.value_len(asn_size),
            PathAttribute::NextHop(_)
            | PathAttribute::Med(_)
            | PathAttribute::LocalPref(_)
            | PathAttribute::OriginatorId(_) => 4,
            PathAttribute::AtomicAggregate => 0,
            PathAttribute::Aggregator(_) => 4 + asn_size,
            PathAttribute::Communities(c) => 4 * c.len(),
            PathAttribute::ClusterList(c) => 4 * c.len(),
            PathAttribute::MpReach(m) => {
                5 + m.next_hop.encoded_len()
                    + m.nlri
                        .encoded_len(params.sends_path_id(m.family) && mp_is_ip(m.family))
            }
            PathAttribute::MpUnreach(m) => {
                3 + m
                    .nlri
                    .encoded_len(params.sends_path_id(m.family) && mp_is_ip(m.family))
            }
            PathAttribute::ExtendedCommunities(c) => 8 * c.len(),
            PathAttribute::As4Path(p) => p.value_len(4),
            PathAttribute::As4Aggregator(_) => 8,
            PathAttribute::LargeCommunities(c) => 12 * c.len(),
            PathAttribute::Unknown(u) => u.value.len(),
        }
    }

    /// Total encoded length: header plus value.
    pub fn encoded_len(&self, params: &SessionParams) -> usize {
        let v = self.value_len(params);
        v + if v > 255 { 4 } else { 3 }
    }

    fn flags(&self) -> u8 {
        match self {
            PathAttribute::Unknown(u) => u.flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL),
            other => expected_flags(other.type_code()).unwrap_or(FLAG_OPTIONAL),
        }
    }

    /// Writes the attribute. The value must fit in 65535 bytes; the UPDATE
    /// encoder checks the whole message size before calling this.
    pub fn encode(&self, params: &SessionParams, out: &mut BytesMut) {
        let len = self.value_len(params);
        let mut flags = self.flags();
        if len > 255 {
            flags |= FLAG_EXTENDED_LENGTH;
        }
        out.put_u8(flags);
        out.put_u8(self.type_code());
        if len > 255 {
            out.put_u16(len as u16);
        } else {
            out.put_u8(len as u8);
        }
        match self {
            PathAttribute::Origin(o) => out.put_u8(*o as u8),
            PathAttribute::AsPath(p) => p.encode(params.four_octet_as, out),
            PathAttribute::NextHop(a) | PathAttribute::OriginatorId(a) => {
                out.put_slice(&a.octets())
            }
            PathAttribute::Med(v) | PathAttribute::LocalPref(v) => out.put_u32(*v),
            PathAttribute::AtomicAggregate => {}
            PathAttribute::Aggregator(a) => {
                if params.four_octet_as {
                    out.put_u32(a.asn);
                } else {
                    out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS));
                }
                out.put_slice(&a.address.octets());
            }
            PathAttribute::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
            PathAttribute::ClusterList(c) => c.iter().for_each(|a| out.put_slice(&a.octets())),
            PathAttribute::MpReach(m) => {
                out.put_u16(m.family.afi);
                out.put_u8(m.family.safi);
                out.put_u8(m.next_hop.encoded_len() as u8);
                m.next_hop.encode(out);
                out.put_u8(0);
                m.nlri
                    .encode(params.sends_path_id(m.family) && mp_is_ip(m.family), out);
            }
            PathAttribute::MpUnreach(m) => {
                out.put_u16(m.family.afi);
                out.put_u8(m.family.safi);
                m.nlri
                    .encode(params.sends_path_id(m.family) && mp_is_ip(m.family), out);
            }
            PathAttribute::ExtendedCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.0)),
            PathAttribute::As4Path(p) => p.encode(true, out),
            PathAttribute::As4Aggregator(a) => {
                out.put_u32(a.asn);
                out.put_slice(&a.address.octets());
            }
            PathAttribute::LargeCommunities(c) => c.iter().for_each(|c| {
                out.put_u32(c.global_admin);
                out.put_u32(c.local1);
                out.put_u32(c.local2);
            }),
            PathAttribute::Unknown(u) => out.put_slice(&u.value),
        }
    }
}

fn mp_is_ip(f: Family) -> bool {
    f.is_ip_prefix_family()
}

/// What to do about a malformed attribute (RFC 7606 §2). Ordered from the
/// mildest to the strongest: when an UPDATE has several errors, the
/// strongest one wins (RFC 7606 §3.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// Drop the attribute, keep the routes.
    AttributeDiscard,
    /// Handle the UPDATE's announced routes as withdrawn.
    TreatAsWithdraw,
    /// Stop using this family on the session (RFC 4760 §7).
    AfiSafiDisable(Family),
    /// Send the NOTIFICATION and close the session.
    SessionReset,
}

/// One attribute problem found while decoding an UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeError {
    pub type_code: u8,
    pub action: ErrorAction,
    /// What RFC 4271 §6.3 would send; sent only for a session reset.
    pub notification: Notification,
}

impl AttributeError {
    pub fn attribute_name(&self) -> &'static str {
        attribute_name(self.type_code)
    }
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            ErrorAction::AttributeDiscard => "attribute discarded".to_string(),
            ErrorAction::TreatAsWithdraw => "routes treated as withdrawn".to_string(),
            ErrorAction::AfiSafiDisable(fam) => format!("family {fam} disabled"),
            ErrorAction::SessionReset => "session reset".to_string(),
        };
        write!(
            f,
            "{} (type {}): {}; {action}",
            self.attribute_name(),
            self.type_code,
            self.notification
        )
    }
}

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
