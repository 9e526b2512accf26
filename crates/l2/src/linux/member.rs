//! `MemberSocket`: the membership protocol's UDP socket (port 7946 by
//! default, MetalLB's memberlist port). Datagrams in, datagrams out; what
//! they mean is the membership core's business.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// MetalLB's memberlist port (TCP and UDP).
pub const MEMBER_PORT: u16 = 7946;

pub struct MemberSocket {
    socket: UdpSocket,
}

impl MemberSocket {
    /// Bind UDP on `addr` with `SO_REUSEADDR` (a restarted speaker binds
    /// again at once). Needs a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let named = |step: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("membership socket {addr}: {step}: {e}"))
        };
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| named("socket", e))?;
        socket
            .set_reuse_address(true)
            .map_err(|e| named("SO_REUSEADDR", e))?;
        if addr.is_ipv6() {
            socket
                .set_only_v6(true)
                .map_err(|e| named("IPV6_V6ONLY", e))?;
        }
        socket.bind(&addr.into()).map_err(|e| named("bind", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| named("O_NONBLOCK", e))?;
        let socket = UdpSocket::from_std(socket.into()).map_err(|e| named("tokio", e))?;
        Ok(MemberSocket { socket })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub async fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
        let n = self.socket.send_to(datagram, to).await?;
        if n != datagram.len() {
            return Err(io::Error::other(format!(
                "membership socket: sent {n} of {} bytes to {to}",
                datagram.len()
            )));
        }
        Ok(())
    }

    /// The next datagram: its length in `buf` and its sender. A datagram
    /// longer than `buf` is cut (UDP semantics); size `buf` for the
    /// protocol's maximum.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn datagrams_go_both_ways_between_two_member_sockets() {
        let a = MemberSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = MemberSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        a.send_to(b"ping", b_addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
        b.send_to(b"ack", from).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ack"[..], b_addr));
    }

    #[tokio::test]
    async fn a_second_socket_binds_the_port_of_a_live_one_with_reuseaddr() {
        // Without SO_REUSEADDR on both, the second bind fails with EADDRINUSE.
        let first = MemberSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let again = MemberSocket::bind(addr).unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
    }
}
