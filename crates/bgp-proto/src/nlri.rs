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

    pub(crate) fn encode(&self, with_path_id: bool, out: &mut BytesMut) {
        // Assemble the prefix on the stack and copy it once: this runs for
        // every prefix of every UPDATE we send.
        let mut buf = [0u8; 4 + 1 + 16];
        let mut at = 0;
        if with_path_id {
            buf[..4].copy_from_slice(&self.path_id.unwrap_or(0).to_be_bytes());
            at = 4;
        }
        let len = self.prefix.prefix_len();
        buf[at] = len;
        at += 1;
        let n = usize::from(len).div_ceil(8);
        match self.prefix {
            IpNet::V4(p) => buf[at..at + n].copy_from_slice(&p.network().octets()[..n]),
            IpNet::V6(p) => buf[at..at + n].copy_from_slice(&p.network().octets()[..n]),
        }
        out.extend_from_slice(&buf[..at + n]);
    }
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
        let mut o = [0u8; 16];
        o[..raw.len()].copy_from_slice(raw);
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(o), len).trunc())
    } else {
        let mut o = [0u8; 4];
        o[..raw.len()].copy_from_slice(raw);
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(o), len).trunc())
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
