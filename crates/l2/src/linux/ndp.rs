//! `NdpPort`: one raw ICMPv6 socket per interface for Neighbor
//! Solicitations in and Neighbor Advertisements out.
//!
//! Why a raw ICMPv6 socket and not AF_PACKET/ETH_P_IPV6: joining a group
//! with `IPV6_ADD_MEMBERSHIP` makes the kernel send MLD reports for it (and
//! answer queries), so a bridge or switch with MLD snooping forwards the
//! group's frames to our port; `PACKET_ADD_MEMBERSHIP` only programs the
//! NIC's filter and sends no report, so behind a snooping switch the NS
//! never arrives. The raw socket also gets the kernel's checksum checks on
//! receive and fills the checksum on send, and ICMP6_FILTER keeps every
//! other ICMPv6 type out of our queue.
//!
//! Checksum: on a raw socket of protocol IPPROTO_ICMPV6 Linux always
//! computes the ICMPv6 checksum (offset 2) on send and verifies it on
//! receive (`rawv6_init_sk` forces it; RFC 3542 §3.1). Callers leave bytes
//! 2-3 as zero. `e2e/tests/32-l2-sockets.sh` checks that tcpdump on the peer
//! finds the sum correct and that ndisc6 (whose kernel drops bad sums)
//! accepts the NA.
//!
//! Hop limit: sent as 255 for unicast and multicast, and the received hop
//! limit comes from `IPV6_RECVHOPLIMIT`, so the responder can drop NS whose
//! hop limit is not 255 (RFC 4861 §7.1.1: proof it was not forwarded).

use std::collections::BTreeMap;
use std::io::{self, IoSlice};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::nud::UnicastNsSocket;
use super::sys::{self, Ipv6Ancillary};

/// ICMPv6 type of a Neighbor Solicitation (RFC 4861 §4.3).
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1):
/// ff02::1:ff00:0/104 followed by the low 24 bits of the address.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from(o[14]) << 8 | u16::from(o[15]),
    )
}

/// Reference counts of solicited-node groups: two VIPs that share their
/// low 24 bits share one group and one kernel membership. Pure: says when
/// the driver must really join or leave.
#[derive(Debug, Default)]
pub struct GroupCounts {
    vips: BTreeMap<Ipv6Addr, Ipv6Addr>,
    groups: BTreeMap<Ipv6Addr, usize>,
}

impl GroupCounts {
    /// Record `vip`; returns the group to join when it is the group's
    /// first VIP. Adding a VIP twice counts it once.
    pub fn add(&mut self, vip: Ipv6Addr) -> Option<Ipv6Addr> {
        if self.vips.contains_key(&vip) {
            return None;
        }
        let group = solicited_node(vip);
        self.vips.insert(vip, group);
        let n = self.groups.entry(group).or_insert(0);
        *n += 1;
        (*n == 1).then_some(group)
    }

    /// Forget `vip`; returns the group to leave when it was the group's
    /// last VIP. Removing an unknown VIP does nothing.
    pub fn remove(&mut self, vip: Ipv6Addr) -> Option<Ipv6Addr> {
        let group = self.vips.remove(&vip)?;
        let n = self.groups.get_mut(&group)?;
        *n -= 1;
        if *n == 0 {
            self.groups.remove(&group);
            return Some(group);
        }
        None
    }

    /// Undo `add` after the kernel refused the join.
    fn forget(&mut self, vip: Ipv6Addr) {
        self.remove(vip);
    }

    pub fn groups(&self) -> impl Iterator<Item = &Ipv6Addr> {
        self.groups.keys()
    }
}

/// One received ICMPv6 message (its bytes are in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpRecv {
    /// Length of the ICMPv6 message (from its type byte; no IPv6 header).
    pub len: usize,
    /// IPv6 source; `scope_id` is the ifindex for a link-local source.
    pub src: SocketAddrV6,
    /// IPv6 destination (`IPV6_PKTINFO`): the solicited-node group or our
    /// unicast address; `None` only if the kernel sent no pktinfo.
    pub dst: Option<Ipv6Addr>,
    /// Hop limit of the IPv6 header (`IPV6_HOPLIMIT`).
    pub hop_limit: Option<u8>,
    /// The message did not fit the buffer (it is cut: reject it).
    pub truncated: bool,
}

pub struct NdpPort {
    fd: AsyncFd<Socket>,
    unicast: UnicastNsSocket,
    ifindex: u32,
    name: String,
    groups: GroupCounts,
}

impl NdpPort {
    /// Open the ICMPv6 socket of interface `name` (ifindex `ifindex`, MAC
    /// `mac`) and the packet socket for unicast NS (see `nud.rs`). Needs
    /// CAP_NET_RAW.
    pub fn open(ifindex: u32, name: &str, mac: [u8; 6]) -> io::Result<Self> {
        let named = |step: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("NDP socket on {name}: {step}: {e}"))
        };
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(|e| named("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)", e))?;
        // Filter first, so nothing but NS is ever queued.
        sys::set_icmp6_filter(
            socket.as_fd(),
            &sys::icmp6_filter_passing(&[ND_NEIGHBOR_SOLICIT]),
        )
        .map_err(|e| named("ICMP6_FILTER", e))?;
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(|e| named("SO_BINDTODEVICE", e))?;
        socket
            .set_recv_hoplimit_v6(true)
            .map_err(|e| named("IPV6_RECVHOPLIMIT", e))?;
        sys::set_int_option(
            socket.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            1,
        )
        .map_err(|e| named("IPV6_RECVPKTINFO", e))?;
        // RFC 4861 §7.1.2: an NA is sent with hop limit 255.
        socket
            .set_unicast_hops_v6(255)
            .map_err(|e| named("IPV6_UNICAST_HOPS", e))?;
        socket
            .set_multicast_hops_v6(255)
            .map_err(|e| named("IPV6_MULTICAST_HOPS", e))?;
        socket
            .set_multicast_if_v6(ifindex)
            .map_err(|e| named("IPV6_MULTICAST_IF", e))?;
        // Lets `send_from` use a VIP, which is not assigned to the
        // interface, as the source.
        socket
            .set_freebind_v6(true)
            .map_err(|e| named("IPV6_FREEBIND", e))?;
        socket
            .set_multicast_loop_v6(false)
            .map_err(|e| named("IPV6_MULTICAST_LOOP", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| named("O_NONBLOCK", e))?;
        let fd = sys::register(socket).map_err(|e| named("register with tokio", e))?;
        let unicast = UnicastNsSocket::open(ifindex, name, mac)?;
        Ok(NdpPort {
            fd,
            unicast,
            ifindex,
            name: name.to_string(),
            groups: GroupCounts::default(),
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Join the solicited-node group of `vip` (the kernel sends the MLD
    /// report) unless another VIP already holds it.
    pub fn join(&mut self, vip: Ipv6Addr) -> io::Result<()> {
        let Some(group) = self.groups.add(vip) else {
            return Ok(());
        };
        if let Err(e) = self.fd.get_ref().join_multicast_v6(&group, self.ifindex) {
            self.groups.forget(vip);
            // ENOMEM here is the per-socket option memory
            // (net.core.optmem_max) running out: measured 2,340 distinct
            // groups on one socket at the default 131072 (Linux 6.18);
            // VIPs that share their low 24 bits share one group.
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "NDP socket on {}: join {group} for VIP {vip}: {e}",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Leave the group of `vip` when no other VIP needs it.
    pub fn leave(&mut self, vip: Ipv6Addr) -> io::Result<()> {
        let Some(group) = self.groups.remove(vip) else {
            return Ok(());
        };
        self.fd
            .get_ref()
            .leave_multicast_v6(&group, self.ifindex)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "NDP socket on {}: leave {group} for VIP {vip}: {e}",
                        self.name
                    ),
                )
            })
    }

    /// The groups currently joined.
    pub fn groups(&self) -> impl Iterator<Item = &Ipv6Addr> {
        self.groups.groups()
    }

    /// The next Neighbor Solicitation (ICMPv6 bytes from the type field)
    /// into `buf`: multicast ones from the raw socket, unicast ones (NUD
    /// probes for a VIP) from the packet socket, so each NS arrives once.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<NdpRecv> {
        let mut control = [0u8; 128];
        loop {
            tokio::select! {
                ready = self.fd.readable() => {
                    let mut guard = ready?;
                    let got = guard.try_io(|inner| {
                        sys::recvmsg_v6(inner.get_ref().as_fd(), buf, &mut control)
                    });
                    let Ok(got) = got else { continue };
                    let r = match got {
                        Err(e) if super::arp::is_netdown(&e) => continue,
                        other => other?,
                    };
                    let Ipv6Ancillary { dst, hop_limit, .. } =
                        sys::parse_ipv6_ancillary(&control[..r.control_len]);
                    // A unicast NS reaches the raw socket only when its
                    // destination is local; the packet socket has it too.
                    if dst.is_some_and(|d| !d.is_multicast()) {
                        continue;
                    }
                    return Ok(NdpRecv {
                        len: r.len.min(buf.len()),
                        src: r.src,
                        dst,
                        hop_limit,
                        truncated: r.truncated,
                    });
                }
                ready = self.unicast.fd.readable() => {
                    let mut guard = ready?;
                    let got = guard.try_io(|inner| self.unicast.read_one(inner.get_ref(), buf));
                    let Ok(got) = got else { continue };
                    let Some((ns, len)) = got? else { continue };
                    return Ok(NdpRecv {
                        len,
                        src: SocketAddrV6::new(ns.src, 0, 0, self.ifindex),
                        dst: Some(ns.dst),
                        hop_limit: Some(ns.hop_limit),
                        truncated: len < ns.icmp_len,
                    });
                }
            }
        }
    }

    /// Send one ICMPv6 message to `dst` out of this interface; the kernel
    /// picks the source address (the link-local one for a link-local or
    /// multicast destination) and fills the checksum (leave bytes 2-3
    /// zero).
    pub async fn send(&self, dst: Ipv6Addr, icmpv6: &[u8]) -> io::Result<()> {
        self.send_from(None, dst, icmpv6).await
    }

    /// As [`send`](Self::send), from source address `src` when given
    /// (`IPV6_PKTINFO`; `IPV6_FREEBIND` allows an address not assigned to
    /// the interface, such as the VIP). Linux answers an NS for its own
    /// address from that address, and some tools accept only such an NA:
    /// ndisc6 1.0.5 ignores a solicited NA for a global target that comes
    /// from a link-local source (seen in e2e/tests/32-l2-sockets.sh).
    pub async fn send_from(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        icmpv6: &[u8],
    ) -> io::Result<()> {
        // A link-local or multicast destination needs the interface as
        // scope; for a global one the device binding decides.
        let to = socket2::SockAddr::from(SocketAddrV6::new(dst, 0, 0, self.ifindex));
        let control = src
            .map(|s| sys::ipv6_pktinfo_cmsg(s, self.ifindex))
            .unwrap_or_default();
        let bufs = [IoSlice::new(icmpv6)];
        let failed = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("NDP socket on {}: send to {dst}: {e}", self.name),
            )
        };
        loop {
            let mut guard = self.fd.writable().await.map_err(failed)?;
            let sent = guard.try_io(|inner| {
                let mut msg = socket2::MsgHdr::new().with_addr(&to).with_buffers(&bufs);
                if !control.is_empty() {
                    msg = msg.with_control(&control);
                }
                inner.get_ref().sendmsg(&msg, 0)
            });
            match sent {
                Ok(Ok(n)) if n == icmpv6.len() => return Ok(()),
                Ok(Ok(n)) => {
                    return Err(io::Error::other(format!(
                        "NDP socket on {}: sent {n} of {} bytes to {dst}",
                        self.name,
                        icmpv6.len()
                    )))
                }
                Ok(Err(e)) => return Err(failed(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_solicited_node_group_keeps_the_low_24_bits() {
        assert_eq!(
            solicited_node(v6("2001:db8::1:2345:6789")),
            v6("ff02::1:ff45:6789")
        );
        assert_eq!(solicited_node(v6("fe80::100")), v6("ff02::1:ff00:100"));
    }

    #[test]
    fn two_vips_sharing_the_low_24_bits_share_one_join() {
        let mut g = GroupCounts::default();
        let (a, b) = (v6("2001:db8:1::ab:cdef"), v6("2001:db8:2::ab:cdef"));
        assert_eq!(g.add(a), Some(v6("ff02::1:ffab:cdef")));
        assert_eq!(g.add(b), None, "second VIP of the group joins nothing");
        assert_eq!(g.remove(a), None, "the group is still needed by b");
        assert_eq!(g.remove(b), Some(v6("ff02::1:ffab:cdef")));
        assert_eq!(g.groups().count(), 0);
    }

    #[test]
    fn adding_a_vip_twice_needs_one_removal() {
        let mut g = GroupCounts::default();
        let a = v6("2001:db8::100");
        assert!(g.add(a).is_some());
        assert_eq!(g.add(a), None);
        assert_eq!(g.remove(a), Some(solicited_node(a)));
        assert_eq!(g.remove(a), None, "unknown VIP: nothing to leave");
    }
}
