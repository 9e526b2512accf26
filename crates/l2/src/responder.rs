//! The responder decision: given a frame received on an interface, answer
//! it (with these bytes) or drop it (for a counted reason). Pure: the
//! caller owns the sockets and passes `now`.
//!
//! MetalLB's rules (reference §4.2): answer ARP requests whose Ethernet
//! destination is broadcast or our MAC and NS that carry a source
//! link-layer address option, only for addresses this node announces on
//! the receiving interface, from that interface's MAC. Added: never answer
//! a frame we sent, and a per-source token bucket (plus one for the whole
//! responder) so a flood costs bounded CPU and memory.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use crate::wire::ndp::{is_solicited_node, solicited_node};
use crate::wire::{
    ArpOp, ArpPacket, EtherType, EthernetHeader, MacAddr, NdpMessage, NdpPacket, WireError,
};

mod limit;
pub use limit::{RateLimit, RateLimiter};

/// What to do with a received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send `frame` on the interface it came from; `ip` is the VIP it
    /// answers for (already counted in `responses_sent`).
    Answer { ip: IpAddr, frame: Vec<u8> },
    /// Send this ICMPv6 message to `dst` on the raw ICMPv6 socket (the
    /// answer to [`Responder::handle_icmpv6`]).
    AnswerIcmpv6 {
        ip: IpAddr,
        dst: Ipv6Addr,
        icmp: Vec<u8>,
    },
    /// Nothing to send; the reason is counted in [`Responder::drops`].
    Drop {
        reason: DropReason,
        error: Option<WireError>,
    },
}

/// Why a frame got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No MAC was set for the receiving interface.
    UnknownInterface,
    /// The frame does not parse or fails RFC 826 / RFC 4861 §7.1
    /// validation; the error names the field.
    Malformed,
    /// Neither ARP nor IPv6, or IPv6 that is not an NS/NA.
    OtherProtocol,
    /// An ARP reply, an ARP announcement (gratuitous request) or a
    /// Neighbor Advertisement: nothing to answer.
    NotRequest,
    /// Ethernet destination neither broadcast nor our MAC (ARP), or an NS
    /// to an address that is neither the target nor its solicited-node
    /// group.
    NotForUs,
    /// Sent by this interface (our MAC as Ethernet source, ARP sender or
    /// NS source link-layer address).
    OwnFrame,
    /// An NS without a source link-layer address option (MetalLB answers
    /// only those: it has nowhere to send the reply otherwise).
    NoSourceLinkLayer,
    /// A multicast or broadcast Ethernet source, ARP sender hardware
    /// address or NS source link-layer address.
    BadSender,
    /// The requested address is not announced by this node on this
    /// interface.
    NotAnnounced,
    /// The source (or the whole responder) is over its rate.
    RateLimited,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::UnknownInterface,
        DropReason::Malformed,
        DropReason::OtherProtocol,
        DropReason::NotRequest,
        DropReason::NotForUs,
        DropReason::OwnFrame,
        DropReason::NoSourceLinkLayer,
        DropReason::BadSender,
        DropReason::NotAnnounced,
        DropReason::RateLimited,
    ];

    /// A label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnknownInterface => "unknown_interface",
            DropReason::Malformed => "malformed",
            DropReason::OtherProtocol => "other_protocol",
            DropReason::NotRequest => "not_request",
            DropReason::NotForUs => "not_for_us",
            DropReason::OwnFrame => "own_frame",
            DropReason::NoSourceLinkLayer => "no_source_lla",
            DropReason::BadSender => "bad_sender",
            DropReason::NotAnnounced => "not_announced",
            DropReason::RateLimited => "rate_limited",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// [`Responder::set_announced`] on an interface that has no MAC set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownInterface {
    pub ifindex: u32,
}

impl std::fmt::Display for UnknownInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "responder: interface {} (ifindex) has no MAC set; set_interface first",
            self.ifindex
        )
    }
}

impl std::error::Error for UnknownInterface {}

/// Per-VIP counters, MetalLB's `metallb_layer2_requests_received` and
/// `metallb_layer2_responses_sent` (label `ip`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VipCounters {
    pub requests_received: u64,
    pub responses_sent: u64,
}

#[derive(Debug)]
struct Interface {
    mac: MacAddr,
    announced: HashSet<IpAddr>,
}

/// The responder state: per interface its MAC and announced addresses,
/// the rate limiter, the counters.
#[derive(Debug)]
pub struct Responder {
    interfaces: HashMap<u32, Interface>,
    limiter: RateLimiter,
    counters: HashMap<IpAddr, VipCounters>,
    drops: [u64; DropReason::ALL.len()],
}

fn drop(reason: DropReason) -> Decision {
    Decision::Drop {
        reason,
        error: None,
    }
}

fn malformed(error: WireError) -> Decision {
    Decision::Drop {
        reason: DropReason::Malformed,
        error: Some(error),
    }
}

impl Responder {
    pub fn new(limit: RateLimit) -> Self {
        Responder {
            interfaces: HashMap::new(),
            limiter: RateLimiter::new(limit),
            counters: HashMap::new(),
            drops: [0; DropReason::ALL.len()],
        }
    }

    /// Sets (or changes) the MAC of interface `ifindex`; its announced
    /// addresses are kept.
    pub fn set_interface(&mut self, ifindex: u32, mac: MacAddr) {
        self.interfaces
            .entry(ifindex)
            .and_modify(|i| i.mac = mac)
            .or_insert_with(|| Interface {
                mac,
                announced: HashSet::new(),
            });
    }

    /// Forgets interface `ifindex` (it disappeared): nothing more is
    /// answered on it.
    pub fn remove_interface(&mut self, ifindex: u32) {
        self.interfaces.remove(&ifindex);
    }

    /// Replaces the addresses this node announces on `ifindex`. The
    /// interface needs a MAC first ([`Responder::set_interface`]); without
    /// one nothing could be answered, so that is an error.
    pub fn set_announced(
        &mut self,
        ifindex: u32,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), UnknownInterface> {
        let i = self
            .interfaces
            .get_mut(&ifindex)
            .ok_or(UnknownInterface { ifindex })?;
        i.announced = ips.into_iter().collect();
        Ok(())
    }

    /// The addresses announced on `ifindex`.
    pub fn announced(&self, ifindex: u32) -> impl Iterator<Item = &IpAddr> {
        self.interfaces
            .get(&ifindex)
            .into_iter()
            .flat_map(|i| i.announced.iter())
    }

    /// Counters of every VIP that ever got a request.
    pub fn counters(&self) -> impl Iterator<Item = (&IpAddr, &VipCounters)> {
        self.counters.iter()
    }

    pub fn counters_for(&self, ip: IpAddr) -> VipCounters {
        self.counters.get(&ip).copied().unwrap_or_default()
    }

    /// How many frames were dropped for each reason.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.drops[r.index()]))
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// Sources the rate limiter tracks now (bounded by its table size).
    pub fn tracked_sources(&self) -> usize {
        self.limiter.len()
    }

    /// Decides about one Ethernet frame received on `ifindex` (AF_PACKET).
    pub fn handle(&mut self, now: Instant, ifindex: u32, frame: &[u8]) -> Decision {
        let d = self.decide_frame(now, ifindex, frame);
        self.count(&d);
        d
    }

    /// Decides about one ICMPv6 message from the raw ICMPv6 socket of
    /// `ifindex`: `src`, `dst` and `hop_limit` come from the socket's
    /// address and control messages; the kernel verified the checksum.
    pub fn handle_icmpv6(
        &mut self,
        now: Instant,
        ifindex: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        icmp: &[u8],
    ) -> Decision {
        let d = match self.interfaces.get(&ifindex) {
            None => drop(DropReason::UnknownInterface),
            Some(_) => match NdpPacket::parse_icmp(src, dst, hop_limit, icmp) {
                Err(e) => malformed(e),
                Ok(None) => drop(DropReason::OtherProtocol),
                Ok(Some(p)) => match self.decide_ns(now, ifindex, None, &p) {
                    Ok((ip, na)) => Decision::AnswerIcmpv6 {
                        ip,
                        dst: na.dst,
                        icmp: na.icmp(),
                    },
                    Err(d) => d,
                },
            },
        };
        self.count(&d);
        d
    }

    fn count(&mut self, d: &Decision) {
        match d {
            Decision::Answer { ip, .. } | Decision::AnswerIcmpv6 { ip, .. } => {
                self.counters.entry(*ip).or_default().responses_sent += 1;
            }
            Decision::Drop { reason, .. } => self.drops[reason.index()] += 1,
        }
    }

    fn decide_frame(&mut self, now: Instant, ifindex: u32, frame: &[u8]) -> Decision {
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return drop(DropReason::UnknownInterface);
        };
        let our_mac = iface.mac;
        let eth = match EthernetHeader::parse(frame) {
            Ok((eth, _)) => eth,
            Err(e) => return malformed(e),
        };
        // Never answer ourselves: a frame we sent that loops back (or a
        // host spoofing our MAC) gets nothing.
        if eth.src == our_mac {
            return drop(DropReason::OwnFrame);
        }
        // IEEE 802.3: a group address is never a source.
        if eth.src.is_multicast() {
            return drop(DropReason::BadSender);
        }
        match eth.ethertype {
            EtherType::ARP => self.decide_arp(now, ifindex, our_mac, frame),
            EtherType::IPV6 => match NdpPacket::parse_frame(frame) {
                Err(e) => malformed(e),
                Ok(None) => drop(DropReason::OtherProtocol),
                Ok(Some((eth, _, p))) => match self.decide_ns(now, ifindex, Some(eth), &p) {
                    // RFC 4861 §7.2.4: unicast to the solicitor's
                    // link-layer address (decide_ns required the option).
                    Ok((ip, na)) => {
                        let dst = match p.message {
                            NdpMessage::Solicit(ns) => ns.source_lla.unwrap_or(eth.src),
                            NdpMessage::Advert(_) => eth.src,
                        };
                        Decision::Answer {
                            ip,
                            frame: na.frame(our_mac, dst),
                        }
                    }
                    Err(d) => d,
                },
            },
            _ => drop(DropReason::OtherProtocol),
        }
    }

    fn decide_arp(
        &mut self,
        now: Instant,
        ifindex: u32,
        our_mac: MacAddr,
        frame: &[u8],
    ) -> Decision {
        let (eth, arp) = match ArpPacket::parse_frame(frame) {
            Ok(p) => p,
            Err(e) => return malformed(e),
        };
        // RFC 5227 §2.3: a request whose sender and target address are
        // equal is an announcement (another node's GARP), not a question.
        if arp.op != ArpOp::Request || arp.sender_ip == arp.target_ip {
            return drop(DropReason::NotRequest);
        }
        // MetalLB (reference §4.2): only requests broadcast or sent to our
        // MAC.
        if !eth.dst.is_broadcast() && eth.dst != our_mac {
            return drop(DropReason::NotForUs);
        }
        if arp.sender_mac == our_mac {
            return drop(DropReason::OwnFrame);
        }
        // RFC 826 sender hardware address is a station; a group address
        // there would make our reply a broadcast.
        if arp.sender_mac.is_multicast() {
            return drop(DropReason::BadSender);
        }
        let ip = IpAddr::V4(arp.target_ip);
        if !self.is_announced(ifindex, &ip) {
            return drop(DropReason::NotAnnounced);
        }
        self.counters.entry(ip).or_default().requests_received += 1;
        if !self.limiter.allow(now, eth.src.to_u64()) {
            return drop(DropReason::RateLimited);
        }
        Decision::Answer {
            ip,
            frame: ArpPacket::reply_to(&arp, our_mac),
        }
    }

    /// The NA answering `p`, or the drop decision. `eth` is the Ethernet
    /// header when the NS came as a whole frame.
    fn decide_ns(
        &mut self,
        now: Instant,
        ifindex: u32,
        eth: Option<EthernetHeader>,
        p: &NdpPacket,
    ) -> Result<(IpAddr, NdpPacket), Decision> {
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return Err(drop(DropReason::UnknownInterface));
        };
        let our_mac = iface.mac;
        let NdpMessage::Solicit(ns) = p.message else {
            return Err(drop(DropReason::NotRequest));
        };
        // RFC 4861 §7.2.3 processes NS sent to the target itself (NUD) or
        // to its solicited-node group; others are not for this target.
        if p.dst != ns.target && p.dst != solicited_node(ns.target) {
            return Err(drop(DropReason::NotForUs));
        }
        if let Some(eth) = eth {
            let group = crate::wire::ndp::multicast_mac(p.dst);
            if eth.dst != our_mac && !(is_solicited_node(&p.dst) && eth.dst == group) {
                return Err(drop(DropReason::NotForUs));
            }
        }
        // MetalLB answers only NS that say where to send the answer; this
        // also excludes DAD probes (source ::, which carry no option).
        let Some(slla) = ns.source_lla else {
            return Err(drop(DropReason::NoSourceLinkLayer));
        };
        if slla == our_mac {
            return Err(drop(DropReason::OwnFrame));
        }
        if slla.is_multicast() {
            return Err(drop(DropReason::BadSender));
        }
        let ip = IpAddr::V6(ns.target);
        if !self.is_announced(ifindex, &ip) {
            return Err(drop(DropReason::NotAnnounced));
        }
        self.counters.entry(ip).or_default().requests_received += 1;
        let key = eth.map_or(slla, |e| e.src).to_u64();
        if !self.limiter.allow(now, key) {
            return Err(drop(DropReason::RateLimited));
        }
        Ok((
            ip,
            NdpPacket::solicited_advert(our_mac, ns.target, p.src, false),
        ))
    }

    fn is_announced(&self, ifindex: u32, ip: &IpAddr) -> bool {
        self.interfaces
            .get(&ifindex)
            .is_some_and(|i| i.announced.contains(ip))
    }
}
