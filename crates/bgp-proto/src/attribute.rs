//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! Each attribute decoder returns either the attribute or an
//! [`AttributeError`] that says what to do about it (an [`ErrorAction`]) and
//! carries the NOTIFICATION RFC 4271 §6.3 would have sent, for the cases where
//! the action is a session reset.
//!
//! This file holds the attribute types and their encoding; `decode` reads
//! them off the wire, `errors` holds the error types.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::nlri::Nlri;
use crate::parse::{be_u8, bytes};
use crate::types::{Family, SessionParams, AS_TRANS};

mod decode;
mod errors;

pub(crate) use decode::{decode_attribute, read_raw_attribute};
pub use errors::{AttributeError, ErrorAction};

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
