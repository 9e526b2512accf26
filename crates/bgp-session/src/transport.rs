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

/// Dials the peer from the configured source, with its TTL and MD5 key.
pub async fn connect(ep: &Endpoint, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::new(ep.address, ep.port);
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    set_ttl(&sock, addr.is_ipv6(), ep.ttl)?;
    if let Some(src) = ep.source {
        sock.bind(&SocketAddr::new(src, 0).into())?;
    }
    if let Some(pw) = &ep.password {
        md5::set_key(sock.as_fd(), ep.address, pw.as_bytes())?;
    }
    let std_stream: std::net::TcpStream = sock.into();
    let tsock = TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(timeout, tsock.connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out"),
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
