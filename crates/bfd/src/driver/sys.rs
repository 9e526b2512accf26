//! The socket calls socket2 lacks: `recvmsg` with control messages here
//! (the only `unsafe` in crates/bfd), the integer options and the tokio
//! registration from `crates/netsys` (shared with crates/l2). The
//! control-message parser is plain byte parsing and safe.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

pub(super) use netsys::{register, set_int_option};

/// One datagram with what its control messages said.
pub(super) struct Received {
    pub len: usize,
    pub src: SocketAddr,
    pub dst: Option<IpAddr>,
    /// TTL / hop limit in the received IP header.
    pub ttl: Option<u8>,
}

/// `recvmsg` (non-blocking) into initialised buffers.
#[allow(unsafe_code)]
pub(super) fn recvmsg(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = [0u8; 256];
    // SAFETY: every pointer given to the kernel describes a live borrowed
    // buffer with its true length (name: a sockaddr_storage, iov: `buf`,
    // control: `control`); msghdr is zeroed first; the kernel writes at most
    // those lengths and reports what it wrote.
    let (n, name, control_len) = unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        (
            n as usize,
            name,
            (msg.msg_controllen as usize).min(control.len()),
        )
    };
    let src = sockaddr(&name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "recvmsg: unknown family"))?;
    let (dst, ttl) = parse_ancillary(&control[..control_len]);
    Ok(Received {
        len: n.min(buf.len()),
        src,
        dst,
        ttl,
    })
}

/// The sender of a datagram, from the `sockaddr_storage` bytes (safe: the
/// fields are read as the kernel's layout in network order).
fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // Read the storage as bytes: family first (native order), then the
    // family's layout.
    let bytes: &[u8; size_of::<libc::sockaddr_storage>()] = bytemuck_storage(s);
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let port = u16::from_be_bytes([bytes[2], bytes[3]]);
    match i32::from(family) {
        libc::AF_INET => {
            let a = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Some(SocketAddr::new(IpAddr::V4(a), port))
        }
        libc::AF_INET6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes[8..24]);
            let v6 = Ipv6Addr::from(a);
            let ip = match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            };
            Some(SocketAddr::new(ip, port))
        }
        _ => None,
    }
}

#[allow(unsafe_code)]
fn bytemuck_storage(s: &libc::sockaddr_storage) -> &[u8; size_of::<libc::sockaddr_storage>()] {
    // SAFETY: sockaddr_storage is plain old data with no padding the
    // kernel left uninitialised (it was zeroed before recvmsg), and the
    // array has exactly its size; alignment of u8 is 1.
    unsafe { &*(s as *const libc::sockaddr_storage).cast() }
}

/// Walks a control-message buffer (Linux `struct cmsghdr`: a `size_t`
/// length, int level, int type, data aligned to `size_t`) for the
/// destination address and the TTL/hop limit. Unknown messages are
/// skipped; a malformed length ends the walk.
pub fn parse_ancillary(control: &[u8]) -> (Option<IpAddr>, Option<u8>) {
    const ALIGN: usize = size_of::<usize>();
    let align = |n: usize| n.div_ceil(ALIGN) * ALIGN;
    let header = align(size_of::<usize>() + 2 * size_of::<libc::c_int>());
    let (mut dst, mut ttl) = (None, None);
    let mut at = 0;
    while let Some(rest) = control.get(at..) {
        let Some(len) = rest.get(..ALIGN).map(|b| {
            let mut w = [0u8; ALIGN];
            w.copy_from_slice(b);
            usize::from_ne_bytes(w)
        }) else {
            break;
        };
        if len < header || len > rest.len() {
            break;
        }
        let int_at = |o: usize| {
            rest.get(o..o + 4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (Some(level), Some(kind)) = (int_at(ALIGN), int_at(ALIGN + 4)) else {
            break;
        };
        let data = &rest[header..len];
        let int =
            || (data.len() >= 4).then(|| i32::from_ne_bytes([data[0], data[1], data[2], data[3]]));
        match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_TTL) => ttl = int().and_then(|v| u8::try_from(v).ok()),
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                ttl = int().and_then(|v| u8::try_from(v).ok())
            }
            // struct in_pktinfo: ifindex, spec_dst, addr (the header's
            // destination).
            (libc::IPPROTO_IP, libc::IP_PKTINFO) if data.len() >= 12 => {
                dst = Some(IpAddr::V4(Ipv4Addr::new(
                    data[8], data[9], data[10], data[11],
                )));
            }
            // struct in6_pktinfo: addr, ifindex.
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&data[..16]);
                dst = Some(IpAddr::V6(Ipv6Addr::from(a)));
            }
            _ => {}
        }
        at += align(len);
    }
    (dst, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        const ALIGN: usize = size_of::<usize>();
        let header = (size_of::<usize>() + 8).div_ceil(ALIGN) * ALIGN;
        let len = header + data.len();
        let mut v = len.to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(header, 0);
        v.extend_from_slice(data);
        v.resize(len.div_ceil(ALIGN) * ALIGN, 0);
        v
    }

    #[test]
    fn ipv4_ttl_and_destination_are_read_from_control_messages() {
        let mut buf = cmsg(libc::IPPROTO_IP, libc::IP_TTL, &255i32.to_ne_bytes());
        let mut info = vec![0u8; 12];
        info[8..12].copy_from_slice(&[192, 0, 2, 1]);
        buf.extend(cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &info));
        assert_eq!(
            parse_ancillary(&buf),
            (Some("192.0.2.1".parse().unwrap()), Some(255))
        );
    }

    #[test]
    fn ipv6_hop_limit_and_destination_are_read_from_control_messages() {
        let mut info = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        info.extend_from_slice(&3u32.to_ne_bytes());
        let mut buf = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
        buf.extend(cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &254i32.to_ne_bytes(),
        ));
        assert_eq!(
            parse_ancillary(&buf),
            (Some("2001:db8::1".parse().unwrap()), Some(254))
        );
    }

    #[test]
    fn control_message_claiming_more_than_the_buffer_ends_the_walk() {
        let mut buf = cmsg(libc::IPPROTO_IP, libc::IP_TTL, &255i32.to_ne_bytes());
        buf[0] = 200;
        assert_eq!(parse_ancillary(&buf), (None, None));
    }
}
