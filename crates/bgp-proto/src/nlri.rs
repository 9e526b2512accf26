//! IP prefixes as NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3).

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::types::{Family, AFI_IPV6};

//  +---------------------------+
//  |   Path Identifier (4)     |  only when ADD-PATH is negotiated
//  +---------------------------+
//  |   Length (1 octet, bits)  |
//  +---------------------------+
//  |   Prefix (variable)       |  ceil(Length / 8) octets
//  +---------------------------+
/// One prefix, with the RFC 7911 path identifier when ADD-PATH is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nlri {
    pub prefix: IpNet,
    pub path_id: Option<u32>,
}

impl Nlri {
    pub fn new(prefix: IpNet) -> Self {
        Nlri {
            prefix,
            path_id: None,
        }
    }

    /// Encoded size of this prefix with or without a path identifier.
    pub fn encoded_len(&self, with_path_id: bool) -> usize {
        prefix_encoded_len(self.prefix.prefix_len(), with_path_id)
    }

    /// Appends the wire form to a Vec. The address is copied whole (a
    /// fixed-size copy compiles to one or two stores) and the unused tail
    /// cut off again, which is cheaper than copying a variable length.
    fn encode_into(&self, with_path_id: bool, buf: &mut Vec<u8>) {
        if with_path_id {
            buf.extend_from_slice(&self.path_id.unwrap_or(0).to_be_bytes());
        }
        match self.prefix {
            IpNet::V4(p) => {
                let len = p.prefix_len();
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                buf.push(len);
                buf.extend_from_slice(&(u32::from(p.addr()) & mask).to_be_bytes());
                buf.truncate(buf.len() - (4 - usize::from(len).div_ceil(8)));
            }
            IpNet::V6(p) => {
                let len = p.prefix_len();
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                buf.push(len);
                buf.extend_from_slice(&(u128::from(p.addr()) & mask).to_be_bytes());
                buf.truncate(buf.len() - (16 - usize::from(len).div_ceil(8)));
            }
        }
    }
}

/// Writes a run of prefixes. They are assembled in one buffer sized for the
/// worst case (no per-prefix length pass) and copied once: this runs for
/// every prefix of every UPDATE we send.
pub(crate) fn encode_all(prefixes: &[Nlri], with_path_id: bool, out: &mut BytesMut) {
    let mut buf = Vec::with_capacity(prefixes.len() * (4 + 1 + 16));
    for n in prefixes {
        n.encode_into(with_path_id, &mut buf);
    }
    out.extend_from_slice(&buf);
}

impl From<IpNet> for Nlri {
    fn from(prefix: IpNet) -> Self {
        Nlri::new(prefix)
    }
}

/// Encoded size of a prefix of `len` bits.
pub fn prefix_encoded_len(len: u8, with_path_id: bool) -> usize {
    1 + usize::from(len).div_ceil(8) + if with_path_id { 4 } else { 0 }
}

/// Why a run of NLRI did not parse (RFC 7606 §5.3: all of these make the
/// whole field unusable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlriError {
    /// The prefix length exceeds the address size.
    PrefixTooLong,
    /// The field ends in the middle of a prefix.
    Truncated,
}

/// Builds a prefix from its length and significant octets, clearing the
/// bits past the length (RFC 4271 §4.3 says they are irrelevant; clearing
/// them makes equal prefixes compare equal).
fn make_prefix(afi: u16, len: u8, raw: &[u8]) -> IpNet {
    if afi == AFI_IPV6 {
        let mut v = 0u128;
        for (k, b) in raw.iter().enumerate() {
            v |= u128::from(*b) << (120 - 8 * k);
        }
        let v = if len == 0 {
            0
        } else {
            v & (u128::MAX << (128 - u32::from(len)))
        };
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(v), len))
    } else {
        let v = match *raw {
            [] => 0,
            [a] => u32::from(a) << 24,
            [a, b] => u32::from_be_bytes([a, b, 0, 0]),
            [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
            [a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
        };
        let v = if len == 0 {
            0
        } else {
            v & (u32::MAX << (32 - u32::from(len)))
        };
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(v), len))
    }
}

/// Decodes a whole NLRI field (or Withdrawn Routes field, or the NLRI part
/// of MP_REACH/MP_UNREACH) for an IP prefix family.
pub fn decode_prefixes(
    mut i: &[u8],
    family: Family,
    with_path_id: bool,
) -> Result<Vec<Nlri>, NlriError> {
    // This loop is the one place inside a frame that does not use nom: it
    // runs for every prefix received, and slice patterns let the compiler
    // keep it to a few instructions per prefix (nom's per-call plumbing
    // cost about four times as much here). Every read is bounds-checked.
    let max = family.max_prefix_len();
    // A /32 is 5 bytes; this bound keeps the allocation proportional to input.
    let mut out = Vec::with_capacity(i.len() / 5 + 1);
    while !i.is_empty() {
        let path_id = if with_path_id {
            let Some((id, rest)) = i.split_first_chunk::<4>() else {
                return Err(NlriError::Truncated);
            };
            i = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let Some((&len, rest)) = i.split_first() else {
            return Err(NlriError::Truncated);
        };
        if len > max {
            return Err(NlriError::PrefixTooLong);
        }
        let Some((raw, rest)) = rest.split_at_checked(usize::from(len).div_ceil(8)) else {
            return Err(NlriError::Truncated);
        };
        out.push(Nlri {
            prefix: make_prefix(family.afi, len, raw),
            path_id,
        });
        i = rest;
    }
    Ok(out)
}
