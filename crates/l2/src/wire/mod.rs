//! Packet codecs for the L2 announcer: Ethernet II, ARP for Ethernet/IPv4
//! (RFC 826), the IPv6 header and ICMPv6 Neighbor Solicitation /
//! Advertisement (RFC 4861 §4.3, §4.4) with their link-layer address
//! options, and the frames MetalLB sends (replies, gratuitous ARP,
//! unsolicited NA).
//!
//! Hand-rolled rather than etherparse: every layout here is fixed-size
//! (ARP 28 octets, NS/NA 24 octets plus 8-octet options), the checks we
//! need are RFC 4861 §7.1 validation rules that etherparse does not make
//! (hop limit 255, option length 0, solicited-node destination, Solicited
//! flag on multicast), and the parsers must return errors that name the
//! field. A parser of a few hundred lines with slice patterns, no
//! allocation and no dependency is smaller than the glue around a general
//! library would be, and is fuzzed (`fuzz/`) and checked against frames
//! captured from arping, ndisc6 and the Linux kernel (`tests/golden/`).
//!
//! Every parser accepts trailing bytes (Ethernet pads short frames to 60
//! octets) and rejects anything shorter than its layout.

pub mod arp;
pub mod ether;
pub mod ipv6;
pub mod ndp;

pub use arp::{ArpOp, ArpPacket};
pub use ether::{EtherType, EthernetHeader, MacAddr};
pub use ipv6::Ipv6Header;
pub use ndp::{NdpMessage, NdpPacket, NeighborAdvert, NeighborSolicit};

use std::fmt;

/// Why a frame was rejected, naming the field (as `bgp-proto`'s
/// `Notification::at`). Field names are dotted paths, e.g.
/// `"ndp.ipv6.hop_limit"`, `"arp.hlen"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside `field`: `need` octets were required from
    /// the start of the layer, `have` were there.
    Truncated {
        field: &'static str,
        need: usize,
        have: usize,
    },
    /// `field` holds `got`, which the rule `want` forbids.
    Invalid {
        field: &'static str,
        got: u64,
        want: &'static str,
    },
    /// The ICMPv6 checksum over the pseudo-header and message is wrong.
    Checksum { got: u16, want: u16 },
}

impl WireError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            WireError::Truncated { field, .. } | WireError::Invalid { field, .. } => field,
            WireError::Checksum { .. } => "ndp.icmp.checksum",
        }
    }

    pub(crate) fn invalid(field: &'static str, got: impl Into<u64>, want: &'static str) -> Self {
        WireError::Invalid {
            field,
            got: got.into(),
            want,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { field, need, have } => {
                write!(f, "{field}: truncated, need {need} octets, have {have}")
            }
            WireError::Invalid { field, got, want } => write!(f, "{field}: {got} ({want})"),
            WireError::Checksum { got, want } => {
                write!(f, "ndp.icmp.checksum: {got:#06x}, computed {want:#06x}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// `buf[at..at + N]` or a `Truncated` error for `field`.
pub(crate) fn take<const N: usize>(
    buf: &[u8],
    at: usize,
    field: &'static str,
) -> Result<[u8; N], WireError> {
    buf.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(WireError::Truncated {
            field,
            need: at + N,
            have: buf.len(),
        })
}

/// Requires `buf` to hold at least `need` octets.
pub(crate) fn need(buf: &[u8], need: usize, field: &'static str) -> Result<(), WireError> {
    if buf.len() < need {
        return Err(WireError::Truncated {
            field,
            need,
            have: buf.len(),
        });
    }
    Ok(())
}
