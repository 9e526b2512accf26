//! The UDP sockets: one receive socket per (family, port) and one send
//! socket per session.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::sys;

/// RFC 5881 §4: single-hop Control packets go to UDP 3784.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: multihop Control packets go to UDP 4784.
pub const MULTIHOP_PORT: u16 = 4784;
/// RFC 5881 §4: the source port is taken from 49152-65535.
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// DSCP CS6 (network control) in the TOS / traffic class octet.
const TOS_CS6: u32 = 0xc0;

/// A receive socket bound to the wildcard address of one family and port.
/// Single hop: the kernel drops anything that arrived with TTL / hop
/// limit below 255 (RFC 5881 §5, GTSM); multihop: TTL is checked per
/// session against its minimum.
pub(super) fn receive_socket(v6: bool, port: u16) -> io::Result<AsyncFd<Socket>> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    let fd = s.as_fd();
    let addr: SocketAddr = if v6 {
        s.set_only_v6(true)?;
        sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        if port == SINGLE_HOP_PORT {
            sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, 255)?;
        }
        (Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
        if port == SINGLE_HOP_PORT {
            sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_MINTTL, 255)?;
        }
        (Ipv4Addr::UNSPECIFIED, port).into()
    };
    s.bind(&addr.into())?;
    sys::register(s)
}

/// A send socket for one session: TTL / hop limit 255 (RFC 5881 §5; RFC
/// 5883 §5 lets multihop use any, 255 passes every minimum), TOS CS6,
/// bound to `local` (or the wildcard) and a source port in 49152-65535
/// that stays the session's for its life. `hint` spreads the first port
/// tried so sessions rarely probe the same ones.
pub(super) fn send_socket(peer: IpAddr, local: Option<IpAddr>, hint: u32) -> io::Result<Socket> {
    let v6 = peer.is_ipv6();
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    let ip = local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    if v6 {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(255)?;
        s.set_tclass_v6(TOS_CS6)?;
    } else {
        s.set_ttl_v4(255)?;
        s.set_tos_v4(TOS_CS6)?;
    }
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let mut last = None;
    for i in 0..span {
        let port = SOURCE_PORTS.start() + ((hint.wrapping_add(i)) % span) as u16;
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free source port in 49152-65535")))
}
