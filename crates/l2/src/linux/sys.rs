//! The few socket calls that socket2 (or tokio) does not offer safely,
//! each in one small function (the only `unsafe` in crates/l2; the integer
//! options and the tokio registration come from `crates/netsys`, shared
//! with crates/bfd), and the control-message parser, which is plain byte
//! parsing and safe.

use std::io;
use std::mem::size_of;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::{SockAddr, SockAddrStorage};

pub(super) use netsys::{register, set_int_option};

/// `ICMP6_FILTER` (RFC 3542 §3.2): eight 32-bit words, one bit per ICMPv6
/// type; a set bit blocks the type. socket2 has no setter for it.
#[allow(unsafe_code)]
pub(super) fn set_icmp6_filter(fd: BorrowedFd<'_>, filter: &[u32; 8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `filter` (32 bytes, the size
    // of the kernel's `struct icmp6_filter`), borrowed for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            filter.as_ptr().cast(),
            size_of::<[u32; 8]>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ICMP6_FILTER` from linux/icmpv6.h (libc does not export it).
const ICMP6_FILTER: libc::c_int = 1;

/// The filter that passes only the given ICMPv6 types (the
/// `ICMP6_FILTER_SETBLOCKALL` + `ICMP6_FILTER_SETPASS` macros).
pub(super) fn icmp6_filter_passing(types: &[u8]) -> [u32; 8] {
    let mut words = [u32::MAX; 8];
    for &t in types {
        words[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    words
}

/// A `sockaddr_ll` for binding an AF_PACKET socket to one interface and
/// ethertype. socket2 builds no link-layer addresses.
#[allow(unsafe_code)]
pub(super) fn packet_sockaddr(ifindex: u32, ethertype: u16) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's sockaddr types and is
    // smaller than `sockaddr_storage` (view_as asserts it); the storage is
    // zeroed, so the fields we do not set are 0.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = ethertype.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: the storage holds an initialised sockaddr_ll and the length
    // is its size.
    unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) }
}

/// What one `recvmsg` on the ICMPv6 socket returned.
pub(super) struct Received {
    pub len: usize,
    pub control_len: usize,
    pub src: SocketAddrV6,
    pub truncated: bool,
}

/// `recvmsg` into initialised buffers. socket2's `recvmsg` takes
/// `MaybeUninit` buffers, which would need `unsafe` to read back anyway;
/// this is the one call instead.
#[allow(unsafe_code)]
pub(super) fn recvmsg_v6(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<Received> {
    // SAFETY: every pointer handed to the kernel describes a live, borrowed
    // buffer with its true length (`name` a sockaddr_in6, `iov` over `buf`,
    // `control` over `control`); msghdr is zero-initialised first. The
    // kernel writes at most those lengths and reports what it wrote.
    unsafe {
        let mut name: libc::sockaddr_in6 = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let src = SocketAddrV6::new(
            Ipv6Addr::from(name.sin6_addr.s6_addr),
            u16::from_be(name.sin6_port),
            name.sin6_flowinfo,
            name.sin6_scope_id,
        );
        Ok(Received {
            len: n as usize,
            control_len: (msg.msg_controllen as usize).min(control.len()),
            src,
            truncated: msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0,
        })
    }
}

/// What the IPv6 control messages said about a received packet.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Ancillary {
    /// `IPV6_PKTINFO`: the packet's destination address.
    pub dst: Option<Ipv6Addr>,
    /// `IPV6_PKTINFO`: the interface it arrived on.
    pub ifindex: Option<u32>,
    /// `IPV6_HOPLIMIT`: the hop limit in its IPv6 header.
    pub hop_limit: Option<u8>,
}

/// Parse a control-message buffer (Linux `struct cmsghdr` layout: a
/// `size_t` length, an int level, an int type, data aligned to `size_t`).
/// Unknown messages are skipped; a malformed length ends the walk.
pub fn parse_ipv6_ancillary(control: &[u8]) -> Ipv6Ancillary {
    const ALIGN: usize = size_of::<usize>();
    let align = |n: usize| n.div_ceil(ALIGN) * ALIGN;
    let header = align(size_of::<usize>() + 2 * size_of::<libc::c_int>());
    let mut out = Ipv6Ancillary::default();
    let mut at = 0;
    while let Some(rest) = control.get(at..) {
        let Some(len) = rest.get(..ALIGN).map(|b| {
            let mut word = [0u8; ALIGN];
            word.copy_from_slice(b);
            usize::from_ne_bytes(word)
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
        if level == libc::IPPROTO_IPV6 {
            if kind == libc::IPV6_HOPLIMIT && data.len() >= 4 {
                let v = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                out.hop_limit = u8::try_from(v).ok();
            } else if kind == libc::IPV6_PKTINFO && data.len() >= 20 {
                let mut addr = [0u8; 16];
                addr.copy_from_slice(&data[..16]);
                out.dst = Some(Ipv6Addr::from(addr));
                out.ifindex = Some(u32::from_ne_bytes([data[16], data[17], data[18], data[19]]));
            }
        }
        at += align(len);
    }
    out
}

/// An `IPV6_PKTINFO` control message choosing the source address and the
/// outgoing interface of one `sendmsg` (RFC 3542 §6.1), laid out as
/// `parse_ipv6_ancillary` reads it.
pub fn ipv6_pktinfo_cmsg(src: Ipv6Addr, ifindex: u32) -> Vec<u8> {
    const ALIGN: usize = size_of::<usize>();
    let header = (size_of::<usize>() + 2 * size_of::<libc::c_int>()).div_ceil(ALIGN) * ALIGN;
    let len = header + 20;
    let mut out = Vec::with_capacity(len.div_ceil(ALIGN) * ALIGN);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&libc::IPPROTO_IPV6.to_ne_bytes());
    out.extend_from_slice(&libc::IPV6_PKTINFO.to_ne_bytes());
    out.resize(header, 0);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&ifindex.to_ne_bytes());
    out.resize(len.div_ceil(ALIGN) * ALIGN, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pktinfo_message_we_build_reads_back_as_the_same_address() {
        let src: Ipv6Addr = "2001:db8:10::100".parse().unwrap();
        let got = parse_ipv6_ancillary(&ipv6_pktinfo_cmsg(src, 9));
        assert_eq!((got.dst, got.ifindex), (Some(src), Some(9)));
    }

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let header = 16; // 64-bit Linux
        let mut v = Vec::new();
        v.extend_from_slice(&((header + data.len()) as u64).to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn hop_limit_and_destination_are_read_from_control_messages() {
        let dst: Ipv6Addr = "ff02::1:ff00:100".parse().unwrap();
        let mut pktinfo = dst.octets().to_vec();
        pktinfo.extend_from_slice(&7u32.to_ne_bytes());
        let mut buf = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo);
        buf.extend(cmsg(libc::SOL_SOCKET, 99, &[1, 2, 3]));
        buf.extend(cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &255i32.to_ne_bytes(),
        ));
        let got = parse_ipv6_ancillary(&buf);
        assert_eq!(got.dst, Some(dst));
        assert_eq!(got.ifindex, Some(7));
        assert_eq!(got.hop_limit, Some(255));
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_control_message_claiming_more_than_the_buffer_ends_the_walk() {
        let mut buf = cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &64i32.to_ne_bytes(),
        );
        buf[..8].copy_from_slice(&1000u64.to_ne_bytes());
        assert_eq!(parse_ipv6_ancillary(&buf), Ipv6Ancillary::default());
        // Any prefix of a valid buffer is handled without panic.
        let good = cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &64i32.to_ne_bytes(),
        );
        // The message is 20 bytes (16 of header, 4 of data), padded to 24.
        for cut in 0..20 {
            assert_eq!(parse_ipv6_ancillary(&good[..cut]).hop_limit, None);
        }
        assert_eq!(parse_ipv6_ancillary(&good).hop_limit, Some(64));
    }

    #[test]
    fn the_filter_passes_only_the_named_types() {
        let f = icmp6_filter_passing(&[135]);
        let blocked = |t: u8| f[usize::from(t >> 5)] & (1 << (t & 31)) != 0;
        assert!(!blocked(135));
        for t in (0..=255u8).filter(|&t| t != 135) {
            assert!(blocked(t), "type {t} must be blocked");
        }
    }
}
