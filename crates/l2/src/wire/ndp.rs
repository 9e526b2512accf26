//! ICMPv6 Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3,
//! §4.4) with the link-layer address options (§4.6.1), their validation
//! (§7.1.1, §7.1.2), and the advertisements MetalLB sends.

use std::net::Ipv6Addr;

use super::ether::{EtherType, EthernetHeader, MacAddr};
use super::ipv6::{icmpv6_checksum, Ipv6Header, NEXT_HEADER_ICMPV6};
use super::{need, take, WireError};

pub const ICMP_NEIGHBOR_SOLICIT: u8 = 135;
pub const ICMP_NEIGHBOR_ADVERT: u8 = 136;
/// RFC 4861 §4.6.1 option types.
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
/// Hop limit every NDP message is sent with, and the only one accepted
/// (RFC 4861 §7.1.1, §7.1.2: proof that it was not forwarded by a router).
pub const NDP_HOP_LIMIT: u8 = 255;
/// Type, code, checksum, flags/reserved, target: the fixed part of NS and NA.
const FIXED_LEN: usize = 24;
/// An Ethernet link-layer address option: type, length 1, 6-octet MAC.
const LLA_OPT_LEN: usize = 8;

/// The all-nodes multicast address, where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1):
/// ff02::1:ff00:0/104 followed by the low 24 bits of `addr`.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// Whether `addr` is in ff02::1:ff00:0/104.
pub fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// The Ethernet multicast MAC of an IPv6 multicast address (RFC 2464 §7):
/// 33:33 followed by its low 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Type (135)  |     Code 0    |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           Reserved                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Target Address (16 octets)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Options: Type 1 | Length 1 (x8 octets) | Source MAC (6) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-
/// A Neighbor Solicitation. Options other than the source link-layer
/// address are ignored (RFC 4861 §4.3) and not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSolicit {
    pub target: Ipv6Addr,
    pub source_lla: Option<MacAddr>,
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Type (136)  |     Code 0    |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|S|O|                     Reserved                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Target Address (16 octets)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Options: Type 2 | Length 1 (x8 octets) | Target MAC (6) ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-
/// A Neighbor Advertisement. Options other than the target link-layer
/// address are ignored (RFC 4861 §4.4) and not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborAdvert {
    pub router: bool,
    pub solicited: bool,
    pub override_: bool,
    pub target: Ipv6Addr,
    pub target_lla: Option<MacAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpMessage {
    Solicit(NeighborSolicit),
    Advert(NeighborAdvert),
}

/// An NS or NA with the IPv6 fields its validation depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdpPacket {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub message: NdpMessage,
}

/// Reads the option list: each option's length is in 8-octet units and
/// zero is invalid. Returns the first source and target link-layer
/// addresses; other options are skipped.
fn parse_options(mut opts: &[u8]) -> Result<(Option<MacAddr>, Option<MacAddr>), WireError> {
    let (mut source, mut target) = (None, None);
    while !opts.is_empty() {
        let [kind, units] = take::<2>(opts, 0, "ndp.option.length")?;
        // RFC 4861 §4.6, §7.1.1/§7.1.2: a length of zero makes the
        // message invalid (it would also loop forever).
        if units == 0 {
            return Err(WireError::invalid("ndp.option.length", units, "not 0"));
        }
        let len = usize::from(units) * 8;
        need(opts, len, "ndp.option")?;
        if kind == OPT_SOURCE_LLA || kind == OPT_TARGET_LLA {
            // RFC 4861 §4.6.1 with RFC 2464 §6: on Ethernet the option is
            // one unit, a 6-octet address.
            if units != 1 {
                let field = if kind == OPT_SOURCE_LLA {
                    "ndp.option.source_lla.length"
                } else {
                    "ndp.option.target_lla.length"
                };
                return Err(WireError::invalid(field, units, "1 on Ethernet"));
            }
            let mac = MacAddr(take::<6>(opts, 2, "ndp.option.lla")?);
            let slot = if kind == OPT_SOURCE_LLA {
                &mut source
            } else {
                &mut target
            };
            slot.get_or_insert(mac);
        }
        opts = &opts[len..];
    }
    Ok((source, target))
}

impl NdpPacket {
    /// Parses and validates an ICMPv6 message as the raw ICMPv6 socket
    /// hands it (the kernel has verified the checksum; `hop_limit` comes
    /// from the IPV6_HOPLIMIT control message). `Ok(None)` for ICMPv6
    /// types other than NS and NA.
    pub fn parse_icmp(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        icmp: &[u8],
    ) -> Result<Option<NdpPacket>, WireError> {
        let [kind, code] = take::<2>(icmp, 0, "ndp.icmp.type")?;
        if kind != ICMP_NEIGHBOR_SOLICIT && kind != ICMP_NEIGHBOR_ADVERT {
            return Ok(None);
        }
        // RFC 4861 §7.1.1, §7.1.2: hop limit 255, code 0, ICMP length of
        // at least 24 octets.
        if hop_limit != NDP_HOP_LIMIT {
            return Err(WireError::invalid("ndp.ipv6.hop_limit", hop_limit, "255"));
        }
        if code != 0 {
            return Err(WireError::invalid("ndp.icmp.code", code, "0"));
        }
        need(icmp, FIXED_LEN, "ndp.icmp.length")?;
        // RFC 4291 §2.7: a multicast address is never a source. (An NS
        // from one would be answered with a Solicited NA to a group, which
        // §7.1.2 forbids.)
        if src.is_multicast() {
            return Err(WireError::invalid(
                "ndp.ipv6.src",
                u64::from(src.octets()[0]),
                "not multicast (ff00::/8)",
            ));
        }
        let flags = take::<1>(icmp, 4, "ndp.flags")?[0];
        let target = Ipv6Addr::from(take::<16>(icmp, 8, "ndp.target")?);
        // §7.1.1, §7.1.2: the target is never a multicast address.
        if target.is_multicast() {
            return Err(WireError::invalid(
                "ndp.target",
                u64::from(target.octets()[0]),
                "not multicast (ff00::/8)",
            ));
        }
        let (source_lla, target_lla) = parse_options(&icmp[FIXED_LEN..])?;
        let message = if kind == ICMP_NEIGHBOR_SOLICIT {
            // §7.1.1: a solicitation from the unspecified address (DAD)
            // goes to a solicited-node address and carries no source
            // link-layer address option.
            if src.is_unspecified() {
                if !is_solicited_node(&dst) {
                    return Err(WireError::invalid(
                        "ndp.ipv6.dst",
                        u64::from(dst.octets()[0]),
                        "solicited-node multicast when the source is ::",
                    ));
                }
                if source_lla.is_some() {
                    return Err(WireError::invalid(
                        "ndp.option.source_lla",
                        1u8,
                        "absent when the source is ::",
                    ));
                }
            }
            NdpMessage::Solicit(NeighborSolicit { target, source_lla })
        } else {
            let solicited = flags & 0x40 != 0;
            // §7.1.2: an advertisement to a multicast address is never
            // solicited.
            if dst.is_multicast() && solicited {
                return Err(WireError::invalid(
                    "ndp.flags.solicited",
                    1u8,
                    "0 when the destination is multicast",
                ));
            }
            NdpMessage::Advert(NeighborAdvert {
                router: flags & 0x80 != 0,
                solicited,
                override_: flags & 0x20 != 0,
                target,
                target_lla,
            })
        };
        Ok(Some(NdpPacket {
            src,
            dst,
            hop_limit,
            message,
        }))
    }

    /// Parses a whole Ethernet frame: IPv6 without extension headers,
    /// ICMPv6 checksum verified, then [`NdpPacket::parse_icmp`]. `Ok(None)`
    /// for IPv6 frames that are not NS/NA.
    pub fn parse_frame(
        frame: &[u8],
    ) -> Result<Option<(EthernetHeader, Ipv6Header, NdpPacket)>, WireError> {
        let (eth, payload) = EthernetHeader::parse(frame)?;
        if eth.ethertype != EtherType::IPV6 {
            return Err(WireError::invalid(
                "ether.ethertype",
                eth.ethertype,
                "0x86dd (IPv6)",
            ));
        }
        let (ip, icmp) = Ipv6Header::parse(payload)?;
        // NS and NA are sent without extension headers; anything else in
        // Next Header is not one (we do not walk extension chains).
        if ip.next_header != NEXT_HEADER_ICMPV6 {
            return Ok(None);
        }
        let kind = take::<1>(icmp, 0, "ndp.icmp.type")?[0];
        if kind != ICMP_NEIGHBOR_SOLICIT && kind != ICMP_NEIGHBOR_ADVERT {
            return Ok(None);
        }
        // RFC 4861 §7.1.1/§7.1.2 with RFC 4443 §2.3: the checksum must be
        // valid; a correct message sums (with its checksum) to zero.
        if icmpv6_checksum(&ip.src, &ip.dst, icmp) != 0 {
            let got = u16::from_be_bytes(take::<2>(icmp, 2, "ndp.icmp.checksum")?);
            let mut zeroed = icmp.to_vec();
            zeroed[2..4].fill(0);
            let want = icmpv6_checksum(&ip.src, &ip.dst, &zeroed);
            return Err(WireError::Checksum { got, want });
        }
        Ok(NdpPacket::parse_icmp(ip.src, ip.dst, ip.hop_limit, icmp)?.map(|p| (eth, ip, p)))
    }

    /// The ICMPv6 message with its checksum, as a raw ICMPv6 socket sends
    /// it (the kernel would fill the checksum in; we do so anyway).
    pub fn icmp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + LLA_OPT_LEN);
        let (kind, flags, target, opt) = match self.message {
            NdpMessage::Solicit(ns) => (
                ICMP_NEIGHBOR_SOLICIT,
                0u8,
                ns.target,
                ns.source_lla.map(|m| (OPT_SOURCE_LLA, m)),
            ),
            NdpMessage::Advert(na) => (
                ICMP_NEIGHBOR_ADVERT,
                (u8::from(na.router) << 7)
                    | (u8::from(na.solicited) << 6)
                    | (u8::from(na.override_) << 5),
                na.target,
                na.target_lla.map(|m| (OPT_TARGET_LLA, m)),
            ),
        };
        out.extend_from_slice(&[kind, 0, 0, 0, flags, 0, 0, 0]);
        out.extend_from_slice(&target.octets());
        if let Some((t, mac)) = opt {
            out.extend_from_slice(&[t, 1]);
            out.extend_from_slice(&mac.0);
        }
        let sum = icmpv6_checksum(&self.src, &self.dst, &out);
        out[2..4].copy_from_slice(&sum.to_be_bytes());
        out
    }

    /// The whole Ethernet frame (for AF_PACKET and for tests): traffic
    /// class and flow label zero, as the kernel sends NAs.
    pub fn frame(&self, eth_src: MacAddr, eth_dst: MacAddr) -> Vec<u8> {
        let icmp = self.icmp();
        let mut out = Vec::with_capacity(EthernetHeader::LEN + Ipv6Header::LEN + icmp.len());
        EthernetHeader {
            dst: eth_dst,
            src: eth_src,
            ethertype: EtherType::IPV6,
        }
        .write(&mut out);
        Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            // At most 32 octets: always fits.
            payload_len: icmp.len() as u16,
            next_header: NEXT_HEADER_ICMPV6,
            hop_limit: self.hop_limit,
            src: self.src,
            dst: self.dst,
        }
        .write(&mut out);
        out.extend_from_slice(&icmp);
        out
    }

    /// The advertisement answering a solicitation for `target` from
    /// `ns_src`: RFC 4861 §7.2.4, unicast to the soliciting node, from the
    /// target address, Solicited set, target link-layer address option
    /// included. `override_` is false as MetalLB sends it (§4.2 of our
    /// reference); the kernel sets it for its own addresses.
    pub fn solicited_advert(
        our_mac: MacAddr,
        target: Ipv6Addr,
        ns_src: Ipv6Addr,
        override_: bool,
    ) -> NdpPacket {
        NdpPacket {
            src: target,
            dst: ns_src,
            hop_limit: NDP_HOP_LIMIT,
            message: NdpMessage::Advert(NeighborAdvert {
                router: false,
                solicited: true,
                override_,
                target,
                target_lla: Some(our_mac),
            }),
        }
    }

    /// The unsolicited advertisement of `vip` (RFC 4861 §7.2.6) to all
    /// nodes: Override set, Solicited clear, target link-layer address =
    /// `our_mac` (MetalLB's takeover announcement).
    pub fn unsolicited_advert(our_mac: MacAddr, vip: Ipv6Addr) -> NdpPacket {
        NdpPacket {
            src: vip,
            dst: ALL_NODES,
            hop_limit: NDP_HOP_LIMIT,
            message: NdpMessage::Advert(NeighborAdvert {
                router: false,
                solicited: false,
                override_: true,
                target: vip,
                target_lla: Some(our_mac),
            }),
        }
    }

    /// The unsolicited advertisement as a frame to 33:33:00:00:00:01.
    pub fn unsolicited_advert_frame(our_mac: MacAddr, vip: Ipv6Addr) -> Vec<u8> {
        Self::unsolicited_advert(our_mac, vip).frame(our_mac, multicast_mac(ALL_NODES))
    }
}
