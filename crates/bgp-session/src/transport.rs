//! Sockets: dialling a peer and listening for peers, with the source
//! address, TTL and TCP-MD5 key each peer needs.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::md5;

/// How to reach one peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub address: IpAddr,
    pub port: u16,
    pub source: Option<IpAddr>,
    pub password: Option<String>,
    /// TTL 255 (multihop eBGP, and iBGP); else 1 (single-hop eBGP).
    pub ttl: u32,
}

fn set_ttl(sock: &Socket, v6: bool, ttl: u32) -> io::Result<()> {
    if v6 {
        sock.set_unicast_hops_v6(ttl)
    } else {
        sock.set_ttl(ttl)
    }
}

/// Applies the TTL to an accepted connection.
pub fn set_stream_ttl(stream: &TcpStream, ttl: u32) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    let v6 = stream.local_addr()?.is_ipv6();
    set_ttl(&sock, v6, ttl)
}

/// Which step of a dial failed, for logs, `/status` and the
/// `oxlb_bgp_connect_failures_total{reason}` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialStage {
    /// Creating or setting up the socket (TTL, non-blocking).
    Socket,
    /// Binding the configured source address (EADDRNOTAVAIL: not ours).
    SourceAddress,
    /// The kernel refused the TCP-MD5 key (e.g. longer than 80 bytes).
    Md5,
    /// The peer or the network refused the connection.
    Connect,
    /// No answer within the dial timeout.
    Timeout,
}

/// A failed dial: the step and the OS error, with the addresses involved.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct DialError {
    pub stage: DialStage,
    context: String,
    #[source]
    pub source: io::Error,
}

impl DialError {
    fn new(stage: DialStage, context: String, source: io::Error) -> Self {
        DialError {
            stage,
            context,
            source,
        }
    }

    /// A short label for metrics: `source_address`, `md5`, `refused`,
    /// `unreachable`, `timeout`, `socket` or `connect`.
    pub fn reason(&self) -> &'static str {
        match self.stage {
            DialStage::Socket => "socket",
            DialStage::SourceAddress => "source_address",
            DialStage::Md5 => "md5",
            DialStage::Timeout => "timeout",
            DialStage::Connect => match self.source.kind() {
                io::ErrorKind::ConnectionRefused => "refused",
                io::ErrorKind::TimedOut => "timeout",
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => "unreachable",
                _ => "connect",
            },
        }
    }
}

/// Dials the peer from the configured source, with its TTL and MD5 key.
pub async fn connect(ep: &Endpoint, timeout: Duration) -> Result<TcpStream, DialError> {
    let addr = SocketAddr::new(ep.address, ep.port);
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket_err = |e| DialError::new(DialStage::Socket, format!("socket toward {addr}"), e);
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(socket_err)?;
    sock.set_nonblocking(true).map_err(socket_err)?;
    sock.set_nodelay(true).map_err(socket_err)?;
    set_ttl(&sock, addr.is_ipv6(), ep.ttl).map_err(socket_err)?;
    if let Some(src) = ep.source {
        sock.bind(&SocketAddr::new(src, 0).into()).map_err(|e| {
            DialError::new(
                DialStage::SourceAddress,
                format!("cannot bind source address {src} to dial {addr}"),
                e,
            )
        })?;
    }
    if let Some(pw) = &ep.password {
        md5::set_key(sock.as_fd(), ep.address, pw.as_bytes()).map_err(|e| {
            DialError::new(
                DialStage::Md5,
                format!("cannot set the TCP-MD5 key to dial {addr}"),
                e,
            )
        })?;
    }
    let std_stream: std::net::TcpStream = sock.into();
    let tsock = TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(timeout, tsock.connect(addr)).await {
        Ok(r) => r.map_err(|e| DialError::new(DialStage::Connect, format!("connect to {addr}"), e)),
        Err(_) => Err(DialError::new(
            DialStage::Timeout,
            format!("connect to {addr}"),
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} s", timeout.as_secs()),
            ),
        )),
    }
}

/// Opens a listening socket (IPv6 sockets are v6-only, so an IPv4 and an
/// IPv6 listener can share the port).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(128)?;
    TcpListener::from_std(sock.into())
}

/// Our link-local address on the interface that holds `local`, if the
/// peer is on that link (same prefix, or a link-local peer). Read from
/// /proc/net/if_inet6, which is per network namespace.
pub fn link_local_for(local: Ipv6Addr, peer: Ipv6Addr) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    let rows: Vec<(Ipv6Addr, u32, u8)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = f.first()?;
            let v = u128::from_str_radix(hex, 16).ok()?;
            let ifindex = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let plen = u8::from_str_radix(f.get(2)?, 16).ok()?;
            Some((Ipv6Addr::from(v), ifindex, plen))
        })
        .collect();
    let &(_, ifindex, plen) = rows.iter().find(|(a, _, _)| *a == local)?;
    let on_link = peer.is_unicast_link_local()
        || ipnet::Ipv6Net::new(local, plen)
            .map(|n| n.contains(&peer))
            .unwrap_or(false);
    if !on_link {
        return None;
    }
    rows.iter()
        .find(|(a, i, _)| *i == ifindex && a.is_unicast_link_local())
        .map(|(a, _, _)| *a)
}

/// A BGP identifier when none is configured (RFC 6286 §2.1 only asks for a
/// non-zero value unique within the AS): the IPv4 source address the kernel
/// would use toward `peer` (or the configured source), else a CRC-32 of
/// `node_name` as MetalLB does for IPv6-only nodes. Finding the source
/// address sends no packet: connecting a UDP socket only selects a route.
pub fn derive_router_id(
    peer: IpAddr,
    source: Option<IpAddr>,
    node_name: &str,
) -> std::net::Ipv4Addr {
    if let Some(IpAddr::V4(a)) = source {
        if !a.is_unspecified() {
            return a;
        }
    }
    if let IpAddr::V4(p) = peer {
        let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect((p, 179)).map(|_| s))
            .and_then(|s| s.local_addr());
        if let Ok(SocketAddr::V4(a)) = probe {
            if !a.ip().is_unspecified() {
                return *a.ip();
            }
        }
    }
    let id = crc32(node_name.as_bytes());
    std::net::Ipv4Addr::from(if id == 0 { 1 } else { id })
}

/// CRC-32 (IEEE 802.3, as Go's `hash/crc32.ChecksumIEEE`), bit by bit: it
/// runs once per peer.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_configured_ipv4_source_is_the_router_id() {
        let src = IpAddr::from([192, 0, 2, 7]);
        assert_eq!(
            derive_router_id(IpAddr::from([192, 0, 2, 8]), Some(src), "n"),
            std::net::Ipv4Addr::new(192, 0, 2, 7)
        );
    }

    #[test]
    fn an_ipv6_only_peer_gets_the_crc32_of_the_node_name() {
        let peer: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            derive_router_id(peer, None, "123456789"),
            std::net::Ipv4Addr::from(0xCBF4_3926)
        );
    }

    #[test]
    fn an_ipv4_peer_uses_the_kernels_source_address() {
        // Loopback: the kernel picks 127.0.0.1 toward 127.0.0.2.
        let id = derive_router_id(IpAddr::from([127, 0, 0, 2]), None, "n");
        assert!(id.is_loopback(), "{id}");
    }
}
