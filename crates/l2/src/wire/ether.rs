//! Ethernet II header (IEEE 802.3 clause 3.2.6 with an EtherType) and MAC
//! addresses.

use std::fmt;

use super::{take, WireError};

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The group bit (least significant bit of the first octet): broadcast
    /// and multicast addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// The address as a number, for use as a table key.
    pub fn to_u64(self) -> u64 {
        let [a, b, c, d, e, f] = self.0;
        u64::from_be_bytes([0, 0, a, b, c, d, e, f])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// EtherType values we read.
pub struct EtherType;

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Destination MAC (6 octets)                   |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                     Source MAC (6 octets)                     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           EtherType           |  payload ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// An Ethernet II header. 802.1Q tags are not parsed: AF_PACKET hands the
/// frame with the tag stripped, and a tagged frame is simply not ARP/IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: u16,
}

impl EthernetHeader {
    pub const LEN: usize = 14;

    /// Parses the header and returns it with the payload.
    pub fn parse(frame: &[u8]) -> Result<(EthernetHeader, &[u8]), WireError> {
        let dst = take::<6>(frame, 0, "ether.dst")?;
        let src = take::<6>(frame, 6, "ether.src")?;
        let ethertype = u16::from_be_bytes(take::<2>(frame, 12, "ether.ethertype")?);
        let header = EthernetHeader {
            dst: MacAddr(dst),
            src: MacAddr(src),
            ethertype,
        };
        Ok((header, &frame[Self::LEN..]))
    }

    /// Appends the 14 header octets to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst.0);
        out.extend_from_slice(&self.src.0);
        out.extend_from_slice(&self.ethertype.to_be_bytes());
    }
}
