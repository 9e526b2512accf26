//! The fixed IPv6 header (RFC 8200 §3) and the ICMPv6 checksum (RFC 4443
//! §2.3, pseudo-header of RFC 8200 §8.1).

use std::net::Ipv6Addr;

use super::{need, take, WireError};

/// Next Header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Source Address (16 octets)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Destination Address (16 octets)               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Header {
    pub const LEN: usize = 40;

    /// Parses the header and returns it with exactly `payload_len` octets
    /// of payload (link-layer padding after it is dropped).
    pub fn parse(packet: &[u8]) -> Result<(Ipv6Header, &[u8]), WireError> {
        let word = u32::from_be_bytes(take::<4>(packet, 0, "ipv6.version")?);
        let payload_len = u16::from_be_bytes(take::<2>(packet, 4, "ipv6.payload_len")?);
        let [next_header, hop_limit] = take::<2>(packet, 6, "ipv6.next_header")?;
        let src = Ipv6Addr::from(take::<16>(packet, 8, "ipv6.src")?);
        let dst = Ipv6Addr::from(take::<16>(packet, 24, "ipv6.dst")?);
        // RFC 8200 §3: version 6.
        if word >> 28 != 6 {
            return Err(WireError::invalid("ipv6.version", word >> 28, "6"));
        }
        // RFC 8200 §3: Payload Length counts the octets after the header;
        // a packet shorter than it claims is truncated.
        let end = Self::LEN + usize::from(payload_len);
        need(packet, end, "ipv6.payload")?;
        let header = Ipv6Header {
            traffic_class: (word >> 20) as u8,
            flow_label: word & 0x000f_ffff,
            payload_len,
            next_header,
            hop_limit,
            src,
            dst,
        };
        Ok((header, &packet[Self::LEN..end]))
    }

    /// Appends the 40 header octets to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&[self.next_header, self.hop_limit]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
    }
}

/// The ICMPv6 checksum of `message` (its checksum field taken as is: zero
/// it first to compute, leave it to verify, where a correct message sums
/// to zero). RFC 4443 §2.3: the one's complement of the one's complement
/// sum over the RFC 8200 §8.1 pseudo-header (source, destination, upper
/// layer length, next header 58) and the message.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // A message longer than 4 GiB cannot exist here (payload length is 16
    // bits); saturate rather than truncate anyway.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
