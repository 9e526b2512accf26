//! The socket calls that socket2 and tokio do not offer safely, shared by
//! the BFD driver (`crates/bfd`) and the L2 driver (`crates/l2`), each in
//! one small function: with the control-message walks in those crates'
//! `sys.rs`, the only `unsafe` in either.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::Socket;
use tokio::io::unix::AsyncFd;

/// Registers a socket with tokio's reactor. Since tokio 1.54 the
/// constructor is `unsafe`: it cannot check that the descriptor stays the
/// same open file for the `AsyncFd`'s life.
#[allow(unsafe_code)]
pub fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: a socket2 `Socket` owns its descriptor: it is open from
    // creation until the `Socket` is dropped, which happens only when the
    // `AsyncFd` (its sole owner) is dropped, and `as_raw_fd` always returns
    // that one descriptor.
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}

/// `setsockopt(fd, level, name, &int)` for the integer options socket2
/// lacks (`IP_MINTTL`, `IPV6_MINHOPCOUNT`, `IP_PKTINFO`, `IP_RECVTTL`,
/// `IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`, `PACKET_IGNORE_OUTGOING`).
#[allow(unsafe_code)]
pub fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which lives for the
    // whole call; the kernel only reads it. `fd` is a borrowed, open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};
    use std::os::fd::AsFd;

    #[test]
    fn an_integer_option_set_reads_back_and_a_bad_one_names_the_os_error() {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        set_int_option(s.as_fd(), libc::IPPROTO_IP, libc::IP_TTL, 17).unwrap();
        assert_eq!(s.ttl_v4().unwrap(), 17);
        let e = set_int_option(s.as_fd(), libc::IPPROTO_IP, -1, 1).unwrap_err();
        assert!(e.raw_os_error().is_some(), "{e}");
    }
}
