//! IP prefixes as NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3).

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::parse::{be_u32, be_u8, take, Res};
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

    /// Appends the wire form to a Vec (cheap pushes into reserved space).
    fn encode_into(&self, with_path_id: bool, buf: &mut Vec<u8>) {
        if with_path_id {
            buf.extend_from_slice(&self.path_id.unwrap_or(0).to_be_bytes());
        }
        let len = self.prefix.prefix_len();
        buf.push(len);
        let n = usize::from(len).div_ceil(8);
        match self.prefix {
            IpNet::V4(p) => p
                .network()
                .octets()
                .iter()
                .take(n)
                .for_each(|b| buf.push(*b)),
            IpNet::V6(p) => p
                .network()
                .octets()
                .iter()
                .take(n)
                .for_each(|b| buf.push(*b)),
        }
    }
}

/// Writes a run of prefixes. They are assembled in one reserved buffer and
/// copied once: this runs for every prefix of every UPDATE we send.
pub(crate) fn encode_all(prefixes: &[Nlri], with_path_id: bool, out: &mut BytesMut) {
    let total: usize = prefixes.iter().map(|n| n.encoded_len(with_path_id)).sum();
    let mut buf = Vec::with_capacity(total);
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

fn one_prefix(i: &[u8], family_afi: u16, with_path_id: bool) -> Res<'_, Result<Nlri, NlriError>> {
    let (i, path_id) = if with_path_id {
        let (i, id) = be_u32(i)?;
        (i, Some(id))
    } else {
        (i, None)
    };
    let (i, len) = be_u8(i)?;
    let max = if family_afi == AFI_IPV6 { 128 } else { 32 };
    if len > max {
        return Ok((i, Err(NlriError::PrefixTooLong)));
    }
    let (i, raw) = take(usize::from(len).div_ceil(8))(i)?;
    // Bits past the prefix length are irrelevant (RFC 4271 §4.3); we clear
    // them so equal prefixes compare equal.
    let prefix = if family_afi == AFI_IPV6 {
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
    };
    Ok((i, Ok(Nlri { prefix, path_id })))
}

/// Decodes a whole NLRI field (or Withdrawn Routes field, or the NLRI part
/// of MP_REACH/MP_UNREACH) for an IP prefix family.
pub fn decode_prefixes(
    mut i: &[u8],
    family: Family,
    with_path_id: bool,
) -> Result<Vec<Nlri>, NlriError> {
    // A /32 is 5 bytes; this bound keeps the allocation proportional to input.
    let mut out = Vec::with_capacity(i.len() / 5 + 1);
    while !i.is_empty() {
        match one_prefix(i, family.afi, with_path_id) {
            Ok((rest, Ok(n))) => {
                out.push(n);
                i = rest;
            }
            Ok((_, Err(e))) => return Err(e),
            Err(_) => return Err(NlriError::Truncated),
        }
    }
    Ok(out)
}
