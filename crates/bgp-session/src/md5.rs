//! TCP-MD5 signatures (RFC 2385) through Linux's `TCP_MD5SIG` socket option.
//!
//! This is the one place in oxlb that needs `unsafe`: there is no safe
//! wrapper for this option in std, tokio or socket2.

#![allow(unsafe_code)] // TCP_MD5SIG has no safe wrapper; this module is the only unsafe in oxlb.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Linux `TCP_MD5SIG` (include/uapi/linux/tcp.h).
const TCP_MD5SIG: libc::c_int = 14;
/// Longest key Linux accepts.
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from include/uapi/linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: u32,
    key: [u8; MAX_KEY_LEN],
}

/// Sets (or, with an empty key, removes) the MD5 key the socket uses for
/// segments to and from `peer`. On a listening socket this must be done
/// for every peer before it connects.
pub fn set_key(fd: BorrowedFd<'_>, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP-MD5 key is {} bytes; Linux allows at most {MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    let storage = socket2::SockAddr::from(SocketAddr::new(peer, 0)).as_storage();
    let mut sig = TcpMd5Sig {
        addr: storage,
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a fully initialised `struct tcp_md5sig` that lives for
    // the whole call, the length passed is its exact size, and `fd` is a
    // valid open socket borrowed for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_MD5SIG,
            (&sig as *const TcpMd5Sig).cast::<libc::c_void>(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
