//! `ArpPort`: one AF_PACKET socket per interface for ARP frames.
//!
//! `socket(AF_PACKET, SOCK_RAW, 0)` receives nothing until it is bound, so
//! binding to (ifindex, ETH_P_ARP) afterwards leaves no window in which
//! frames of other interfaces or ethertypes queue up.
//!
//! Outgoing frames: the kernel copies transmitted frames only to ETH_P_ALL
//! sockets (`dev_queue_xmit_nit` walks `ptype_all`), so a socket bound to
//! ETH_P_ARP never sees outgoing frames, neither its own nor the kernel's
//! own ARP (e2e/tests/32-l2-sockets.sh checks the latter; measured: it holds
//! with and without the option). `PACKET_IGNORE_OUTGOING` (Linux 4.20) is
//! set as well so the property survives a move to an ETH_P_ALL socket.
//!
//! Frames are whole Ethernet frames, header included, in both directions.

use std::io::{self, Read};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::sys;

/// EtherType of ARP (RFC 826 via IEEE 802).
pub const ETH_P_ARP: u16 = 0x0806;

/// Largest frame we read: an ARP frame is 42 bytes (60 padded); anything
/// longer is cut by the kernel and, being no valid ARP, rejected by the
/// codec.
pub const ARP_FRAME_MAX: usize = 1514;

pub struct ArpPort {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

impl ArpPort {
    /// Open the ARP socket of interface `ifindex`. Needs CAP_NET_RAW.
    pub fn open(ifindex: u32) -> Result<Self, io::Error> {
        let named = |step: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("ARP socket on ifindex {ifindex}: {step}: {e}"),
            )
        };
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(|e| named("socket(AF_PACKET, SOCK_RAW)", e))?;
        sys::set_int_option(
            socket.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            1,
        )
        .map_err(|e| named("PACKET_IGNORE_OUTGOING", e))?;
        socket
            .bind(&sys::packet_sockaddr(ifindex, ETH_P_ARP))
            .map_err(|e| named("bind(ETH_P_ARP)", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| named("O_NONBLOCK", e))?;
        let fd = sys::register(socket).map_err(|e| named("register with tokio", e))?;
        Ok(ArpPort { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The next ARP frame that arrived on the interface (whole Ethernet
    /// frame); returns its length in `buf`. While the interface is down
    /// this waits: the kernel's one ENETDOWN on a bound packet socket is
    /// absorbed here, and the socket receives again once the interface is
    /// back up (the [`LinkWatcher`](super::LinkWatcher) reports both).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| {
                let mut socket: &Socket = inner.get_ref();
                socket.read(buf)
            }) {
                Ok(Err(e)) if is_netdown(&e) => continue,
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one whole Ethernet frame out of the interface the port is
    /// bound to (destination MAC is in the frame).
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| inner.get_ref().send(frame)) {
                Ok(Ok(n)) if n == frame.len() => return Ok(()),
                Ok(Ok(n)) => {
                    return Err(io::Error::other(format!(
                        "ARP socket on ifindex {}: sent {n} of {} bytes",
                        self.ifindex,
                        frame.len()
                    )))
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// ENETDOWN, which a bound packet socket reports once when its interface
/// goes down.
pub(super) fn is_netdown(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENETDOWN)
}
