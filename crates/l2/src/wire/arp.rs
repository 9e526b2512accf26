//! ARP for Ethernet and IPv4 (RFC 826), and the ARP frames MetalLB sends:
//! the reply to a request and the gratuitous request and reply.

use std::net::Ipv4Addr;

use super::ether::{EtherType, EthernetHeader, MacAddr};
use super::{take, WireError};

/// RFC 826 `ar$hrd` for Ethernet (10 Mb, and every Ethernet since).
const HTYPE_ETHERNET: u16 = 1;
const HLEN_ETHERNET: u8 = 6;
const PLEN_IPV4: u8 = 4;

/// `ar$op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request,
    Reply,
}

impl ArpOp {
    fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |       Hardware type (1)       |     Protocol type (0x0800)    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  HW len (6)   | Proto len (4) |  Operation (1 request, 2 reply)|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Sender hardware address (6)                   |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |  Sender protocol address (4)  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                 Target hardware address (6)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Target protocol address (4)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// The 28-octet ARP body for Ethernet/IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpPacket {
    pub const LEN: usize = 28;
    /// Ethernet header plus ARP body, before padding to 60 octets (the
    /// kernel sends 42 and leaves padding to the driver, as we do).
    pub const FRAME_LEN: usize = EthernetHeader::LEN + Self::LEN;

    /// Parses an ARP body (after the Ethernet header). Octets after the 28
    /// are padding and ignored.
    pub fn parse(body: &[u8]) -> Result<ArpPacket, WireError> {
        let htype = u16::from_be_bytes(take::<2>(body, 0, "arp.htype")?);
        let ptype = u16::from_be_bytes(take::<2>(body, 2, "arp.ptype")?);
        let [hlen, plen] = take::<2>(body, 4, "arp.hlen")?;
        let op = u16::from_be_bytes(take::<2>(body, 6, "arp.op")?);
        let sender_mac = take::<6>(body, 8, "arp.sender_mac")?;
        let sender_ip = take::<4>(body, 14, "arp.sender_ip")?;
        let target_mac = take::<6>(body, 18, "arp.target_mac")?;
        let target_ip = take::<4>(body, 24, "arp.target_ip")?;
        // RFC 826 "Packet Reception": a packet whose hardware type or
        // protocol type we do not speak is discarded; with Ethernet/IPv4
        // the lengths are fixed at 6 and 4, anything else is not a packet
        // we can read.
        if htype != HTYPE_ETHERNET {
            return Err(WireError::invalid("arp.htype", htype, "1 (Ethernet)"));
        }
        if ptype != EtherType::IPV4 {
            return Err(WireError::invalid("arp.ptype", ptype, "0x0800 (IPv4)"));
        }
        if hlen != HLEN_ETHERNET {
            return Err(WireError::invalid("arp.hlen", hlen, "6"));
        }
        if plen != PLEN_IPV4 {
            return Err(WireError::invalid("arp.plen", plen, "4"));
        }
        // RFC 826 defines two opcodes (RARP and InARP use others).
        let op = match op {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            other => return Err(WireError::invalid("arp.op", other, "1 or 2")),
        };
        Ok(ArpPacket {
            op,
            sender_mac: MacAddr(sender_mac),
            sender_ip: Ipv4Addr::from(sender_ip),
            target_mac: MacAddr(target_mac),
            target_ip: Ipv4Addr::from(target_ip),
        })
    }

    /// Parses a whole Ethernet frame carrying ARP.
    pub fn parse_frame(frame: &[u8]) -> Result<(EthernetHeader, ArpPacket), WireError> {
        let (eth, body) = EthernetHeader::parse(frame)?;
        if eth.ethertype != EtherType::ARP {
            return Err(WireError::invalid(
                "ether.ethertype",
                eth.ethertype,
                "0x0806 (ARP)",
            ));
        }
        Ok((eth, ArpPacket::parse(body)?))
    }

    /// Appends the 28 body octets to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        out.extend_from_slice(&EtherType::IPV4.to_be_bytes());
        out.extend_from_slice(&[HLEN_ETHERNET, PLEN_IPV4]);
        out.extend_from_slice(&self.op.code().to_be_bytes());
        out.extend_from_slice(&self.sender_mac.0);
        out.extend_from_slice(&self.sender_ip.octets());
        out.extend_from_slice(&self.target_mac.0);
        out.extend_from_slice(&self.target_ip.octets());
    }

    /// The 42-octet frame carrying this packet from `src` to `dst`.
    pub fn frame(&self, src: MacAddr, dst: MacAddr) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::FRAME_LEN);
        EthernetHeader {
            dst,
            src,
            ethertype: EtherType::ARP,
        }
        .write(&mut out);
        self.write(&mut out);
        out
    }

    /// The reply to `request` saying `our_mac` has the requested address,
    /// unicast to the requester. RFC 826 "Packet Reception": swap sender
    /// and target, put our hardware address in the sender field, set the
    /// opcode to reply and send it to the requester's hardware address.
    pub fn reply_to(request: &ArpPacket, our_mac: MacAddr) -> Vec<u8> {
        ArpPacket {
            op: ArpOp::Reply,
            sender_mac: our_mac,
            sender_ip: request.target_ip,
            target_mac: request.sender_mac,
            target_ip: request.sender_ip,
        }
        .frame(our_mac, request.sender_mac)
    }

    /// Gratuitous ARP for `vip` (MetalLB §4.2, RFC 5227 §3 "ARP
    /// Announcement"): broadcast, sender = target = `vip`, target hardware
    /// address broadcast (as MetalLB and `arping -U` send it). `op` picks
    /// the request or the reply form; MetalLB sends both.
    pub fn gratuitous(op: ArpOp, our_mac: MacAddr, vip: Ipv4Addr) -> Vec<u8> {
        ArpPacket {
            op,
            sender_mac: our_mac,
            sender_ip: vip,
            target_mac: MacAddr::BROADCAST,
            target_ip: vip,
        }
        .frame(our_mac, MacAddr::BROADCAST)
    }
}
