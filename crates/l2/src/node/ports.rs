//! One small task per open socket of an interface: it owns the port,
//! forwards what it receives to the node task over one shared bounded
//! channel, and carries out the node task's sends and NDP joins from its
//! own bounded command queue. The node task never awaits a frame socket:
//! a full queue drops the frame and is counted.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::linux::{ArpPort, NdpPort, ARP_FRAME_MAX};

/// Frames dropped because the node task's queue was full (shared).
pub type Dropped = Arc<AtomicU64>;

/// Commands queued per port.
const COMMAND_QUEUE: usize = 256;

/// What a port task hands the node task.
#[derive(Debug)]
pub enum Inbound {
    /// A whole ARP Ethernet frame from interface `ifindex`.
    Arp { ifindex: u32, frame: Vec<u8> },
    /// A Neighbor Solicitation (ICMPv6 bytes) from interface `ifindex`.
    Ndp {
        ifindex: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        icmp: Vec<u8>,
    },
    /// A socket operation failed; the text names the socket and interface.
    Failed { ifindex: u32, error: String },
    /// The first announcement of a takeover left the socket, `seconds`
    /// after the winner change was seen (a failover sample).
    Announced { seconds: f64 },
}

/// The takeover a send completes: when the winner change was seen.
pub type Takeover = Option<Instant>;

fn announced(inbound: &mpsc::Sender<Inbound>, takeover: Takeover) {
    if let Some(since) = takeover {
        let seconds = Instant::now()
            .saturating_duration_since(since)
            .as_secs_f64();
        // Full queue: one sample less.
        let _ = inbound.try_send(Inbound::Announced { seconds });
    }
}

#[derive(Debug)]
pub enum ArpCommand {
    Send(Vec<u8>, Takeover),
}

#[derive(Debug)]
pub enum NdpCommand {
    Send {
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        icmp: Vec<u8>,
        takeover: Takeover,
    },
    Join(Ipv6Addr),
    Leave(Ipv6Addr),
}

/// The node task's end of one port task. Dropping it stops the task.
pub struct PortHandle<C> {
    commands: mpsc::Sender<C>,
    task: JoinHandle<()>,
}

impl<C> Drop for PortHandle<C> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<C> PortHandle<C> {
    /// Queue a command; false when the queue is full or the task ended.
    fn queue(&self, c: C) -> bool {
        self.commands.try_send(c).is_ok()
    }
}

pub type ArpHandle = PortHandle<ArpCommand>;
pub type NdpHandle = PortHandle<NdpCommand>;

impl ArpHandle {
    pub fn send(&self, frame: Vec<u8>, takeover: Takeover) -> bool {
        self.queue(ArpCommand::Send(frame, takeover))
    }
}

impl NdpHandle {
    /// Queue an ICMPv6 message; the kernel fills the checksum (bytes 2-3
    /// are zeroed here, as `NdpPort::send_from` expects).
    pub fn send(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        mut icmp: Vec<u8>,
        takeover: Takeover,
    ) -> bool {
        if let Some(sum) = icmp.get_mut(2..4) {
            sum.fill(0);
        }
        self.queue(NdpCommand::Send {
            src,
            dst,
            icmp,
            takeover,
        })
    }

    pub fn join(&self, vip: Ipv6Addr) -> bool {
        self.queue(NdpCommand::Join(vip))
    }

    pub fn leave(&self, vip: Ipv6Addr) -> bool {
        self.queue(NdpCommand::Leave(vip))
    }
}

fn failed(inbound: &mpsc::Sender<Inbound>, ifindex: u32, error: std::io::Error) {
    // Full queue: the report is lost, the socket's next error reports again.
    let _ = inbound.try_send(Inbound::Failed {
        ifindex,
        error: error.to_string(),
    });
}

/// Starts the task of an open ARP port.
pub fn run_arp(port: ArpPort, inbound: mpsc::Sender<Inbound>, dropped: Dropped) -> ArpHandle {
    let (commands, mut rx) = mpsc::channel(COMMAND_QUEUE);
    let ifindex = port.ifindex();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; ARP_FRAME_MAX];
        loop {
            tokio::select! {
                got = port.recv(&mut buf) => match got {
                    Ok(n) => {
                        let frame = buf[..n.min(buf.len())].to_vec();
                        // Full: dropped and counted; the responder would
                        // rate-limit a flood anyway.
                        if inbound.try_send(Inbound::Arp { ifindex, frame }).is_err() {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        failed(&inbound, ifindex, e);
                        return;
                    }
                },
                cmd = rx.recv() => match cmd {
                    Some(ArpCommand::Send(frame, takeover)) => match port.send(&frame).await {
                        Ok(()) => announced(&inbound, takeover),
                        Err(e) => failed(&inbound, ifindex, e),
                    },
                    None => return,
                },
            }
        }
    });
    PortHandle { commands, task }
}

/// Starts the task of an open NDP port.
pub fn run_ndp(mut port: NdpPort, inbound: mpsc::Sender<Inbound>, dropped: Dropped) -> NdpHandle {
    let (commands, mut rx) = mpsc::channel(COMMAND_QUEUE);
    let ifindex = port.ifindex();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let cmd = tokio::select! {
                got = port.recv(&mut buf) => {
                    match got {
                        Ok(r) => {
                            // RFC 4861 §7.1.1: the hop limit must be 255 and
                            // the message whole; the responder checks the
                            // hop limit, a cut or unlabelled one goes nowhere.
                            if let (false, Some(dst), Some(hop_limit)) =
                                (r.truncated, r.dst, r.hop_limit)
                            {
                                let icmp = buf[..r.len.min(buf.len())].to_vec();
                                let msg = Inbound::Ndp {
                                    ifindex,
                                    src: *r.src.ip(),
                                    dst,
                                    hop_limit,
                                    icmp,
                                };
                                if inbound.try_send(msg).is_err() {
                                    dropped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Err(e) => {
                            failed(&inbound, ifindex, e);
                            return;
                        }
                    }
                    continue;
                }
                cmd = rx.recv() => cmd,
            };
            let result = match cmd {
                Some(NdpCommand::Send {
                    src,
                    dst,
                    icmp,
                    takeover,
                }) => {
                    let sent = port.send_from(src, dst, &icmp).await;
                    if sent.is_ok() {
                        announced(&inbound, takeover);
                    }
                    sent
                }
                Some(NdpCommand::Join(vip)) => port.join(vip),
                Some(NdpCommand::Leave(vip)) => port.leave(vip),
                None => return,
            };
            if let Err(e) = result {
                failed(&inbound, ifindex, e);
            }
        }
    });
    PortHandle { commands, task }
}
