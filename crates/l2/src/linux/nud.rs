//! Unicast Neighbor Solicitations (NUD probes, RFC 4861 §7.3.3) for a VIP.
//!
//! A client re-checks a neighbour with an NS sent *unicast* to the VIP.
//! The VIP is not assigned to the node, so its kernel does not deliver that
//! packet locally (with forwarding off it is dropped) and the raw ICMPv6
//! socket never sees it (measured: tcpdump on the node shows the NS, the
//! raw socket gets nothing). MetalLB has the same gap (#2920: NUD fails,
//! the client falls back to multicast after its probes time out). So an
//! AF_PACKET socket bound to ETH_P_IPV6 takes a copy of unicast NS frames
//! from the wire; a classic BPF filter keeps every other IPv6 frame in the
//! kernel. Multicast NS still come from the raw socket only (the filter
//! drops multicast destinations), so no NS arrives twice.
//!
//! Frames from this path were not checked by the kernel: the parser here
//! checks the Ethernet destination (ours), next header 58, payload length,
//! and the ICMPv6 checksum over the pseudo-header (RFC 4443 §2.3).

use std::io::{self, Read};
use std::net::Ipv6Addr;

use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::sys;

const ETH_P_IPV6: u16 = 0x86dd;
const ETH_HLEN: usize = 14;
const IPV6_HLEN: usize = 40;

/// The classic BPF program: accept an IPv6 frame whose next header is
/// ICMPv6 (58), whose ICMPv6 type is NS (135) and whose destination is not
/// multicast (first byte not 0xff); drop everything else.
pub(super) fn unicast_ns_filter() -> [SockFilter; 8] {
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    [
        SockFilter::new(LD_B_ABS, 0, 0, 20), // IPv6 next header
        SockFilter::new(JEQ_K, 0, 5, 58),    // else drop
        SockFilter::new(LD_B_ABS, 0, 0, 54), // ICMPv6 type
        SockFilter::new(JEQ_K, 0, 3, 135),   // else drop
        SockFilter::new(LD_B_ABS, 0, 0, 38), // first byte of the destination
        SockFilter::new(JEQ_K, 1, 0, 0xff),  // multicast: drop
        SockFilter::new(RET_K, 0, 0, 0xffff),
        SockFilter::new(RET_K, 0, 0, 0),
    ]
}

/// What the parser found in an accepted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastNs {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// Where the ICMPv6 message lies in the frame.
    pub icmp_start: usize,
    pub icmp_len: usize,
}

/// Check one frame from the packet socket; `None` when it is not a
/// well-formed unicast NS to `mac` with a correct checksum.
pub fn parse_unicast_ns(frame: &[u8], mac: [u8; 6]) -> Option<UnicastNs> {
    let ip = frame.get(ETH_HLEN..ETH_HLEN + IPV6_HLEN)?;
    if frame[..6] != mac || frame[12..14] != ETH_P_IPV6.to_be_bytes() {
        return None;
    }
    // RFC 8200 §3: version 6; next header 58 (no extension headers: an NS
    // carries none in practice, and we do not walk them).
    if ip[0] >> 4 != 6 || ip[6] != 58 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let icmp_start = ETH_HLEN + IPV6_HLEN;
    let icmp = frame.get(icmp_start..icmp_start + payload_len)?;
    let src: [u8; 16] = ip[8..24].try_into().ok()?;
    let dst: [u8; 16] = ip[24..40].try_into().ok()?;
    let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
    if icmp.first() != Some(&135) || dst.is_multicast() {
        return None;
    }
    if icmpv6_checksum(src, dst, icmp) != 0 {
        return None;
    }
    Some(UnicastNs {
        src,
        dst,
        hop_limit: ip[7],
        icmp_start,
        icmp_len: payload_len,
    })
}

/// The ones'-complement sum over the pseudo-header and the message
/// (RFC 4443 §2.3, RFC 8200 §8.1), complemented: 0 for a message whose
/// checksum field is right, the value to put there when the field is 0.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The AF_PACKET side of an `NdpPort`.
pub(super) struct UnicastNsSocket {
    pub(super) fd: AsyncFd<Socket>,
    pub(super) mac: [u8; 6],
}

impl UnicastNsSocket {
    pub(super) fn open(ifindex: u32, name: &str, mac: [u8; 6]) -> io::Result<Self> {
        let named = |step: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("unicast-NS socket on {name}: {step}: {e}"),
            )
        };
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(|e| named("socket(AF_PACKET, SOCK_RAW)", e))?;
        // Filter before bind, so no unfiltered frame is ever queued.
        socket
            .attach_filter(&unicast_ns_filter())
            .map_err(|e| named("SO_ATTACH_FILTER", e))?;
        socket
            .bind(&sys::packet_sockaddr(ifindex, ETH_P_IPV6))
            .map_err(|e| named("bind(ETH_P_IPV6)", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| named("O_NONBLOCK", e))?;
        let fd = sys::register(socket).map_err(|e| named("register with tokio", e))?;
        Ok(UnicastNsSocket { fd, mac })
    }

    /// Read one frame (the socket is readable); `Ok(None)` when the parser
    /// rejects it, else the NS with its ICMPv6 bytes copied into `buf`.
    pub(super) fn read_one(
        &self,
        socket: &Socket,
        buf: &mut [u8],
    ) -> io::Result<Option<(UnicastNs, usize)>> {
        let mut frame = [0u8; 1514];
        let mut reader: &Socket = socket;
        let n = match reader.read(&mut frame) {
            // The interface went down; the socket receives again once it is up.
            Err(e) if super::arp::is_netdown(&e) => return Ok(None),
            other => other?,
        };
        let Some(ns) = parse_unicast_ns(&frame[..n], self.mac) else {
            return Ok(None);
        };
        let icmp = &frame[ns.icmp_start..ns.icmp_start + ns.icmp_len];
        let len = icmp.len().min(buf.len());
        buf[..len].copy_from_slice(&icmp[..len]);
        Ok(Some((ns, len)))
    }
}

#[cfg(test)]
#[path = "nud_tests.rs"]
mod tests;
