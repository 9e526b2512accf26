//! The tokio driver: one task runs every [`BfdSession`] (its timers, its
//! send socket); one reader task per receive socket (IPv4/IPv6 × single
//! hop 3784 / multihop 4784, opened when the first session needs it)
//! hands datagrams over. Demultiplexing (RFC 5880 §6.8.6): by Your
//! Discriminator, or, when that is 0, by (peer address, local address,
//! single hop or multihop).
//!
//! Receive-side checks: single hop needs TTL 255 (`IP_MINTTL` /
//! `IPV6_MINHOPCOUNT` on the socket, RFC 5881 §5); multihop needs the
//! session's `minimum_ttl` (RFC 5883 §5). The peer's source port is not
//! checked (BIRD sends from the kernel's ephemeral range).

mod socket;
mod sys;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use socket2::Socket;
use tokio::sync::{broadcast, mpsc};

use crate::packet::{ControlPacket, Diag, State};
use crate::session::{Action, BfdConfig, BfdSession, BfdStatus, Event, Timer};

pub use socket::{MULTIHOP_PORT, SINGLE_HOP_PORT};

/// Which session: the peer, our address (if fixed), and the hop mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    pub peer: IpAddr,
    pub local: Option<IpAddr>,
    pub multihop: bool,
}

/// What to run a session with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub key: PeerKey,
    pub config: BfdConfig,
    /// Multihop only: the lowest TTL accepted (MetalLB's default 254).
    pub minimum_ttl: u8,
}

/// A session changed state (what the BGP side listens to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdEvent {
    pub key: PeerKey,
    pub from: State,
    pub to: State,
    pub diag: Diag,
    /// The peer's state as its last packet said: AdminDown means the peer
    /// took BFD out of service, which is not a path failure (RFC 5882
    /// §3.2).
    pub remote: State,
}

enum Command {
    Upsert(SessionSpec),
    Remove(PeerKey),
}

/// Handle to the driver task; cloning shares it. The task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Bfd {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<BfdEvent>,
    status: Arc<Mutex<HashMap<PeerKey, BfdStatus>>>,
    errors: Errors,
}

/// Sessions that could not start (their socket setup failed), and a
/// count of such failures since the start.
#[derive(Clone, Default)]
struct Errors {
    last: Arc<Mutex<HashMap<PeerKey, String>>>,
    total: Arc<AtomicU64>,
}

impl Errors {
    fn set(&self, key: PeerKey, error: String) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, error);
    }

    fn clear(&self, key: &PeerKey) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

impl Bfd {
    /// Starts the driver task on the current tokio runtime.
    pub fn spawn() -> Bfd {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let status = Arc::new(Mutex::new(HashMap::new()));
        let errors = Errors::default();
        let (rx_tx, rx_rx) = mpsc::channel(1024);
        let task = Driver {
            sessions: HashMap::new(),
            by_discr: HashMap::new(),
            readers: HashMap::new(),
            next_discr: 1 + (std::process::id() << 12),
            events: events.clone(),
            status: status.clone(),
            errors: errors.clone(),
            datagrams: rx_tx,
        };
        tokio::spawn(task.run(rx, rx_rx));
        Bfd {
            commands: tx,
            events,
            status,
            errors,
        }
    }

    /// Adds a session, or applies a new config to the existing one (a
    /// poll sequence, no flap).
    pub fn upsert(&self, spec: SessionSpec) {
        let _ = self.commands.send(Command::Upsert(spec));
    }

    /// Takes the session AdminDown and drops it once the peer has had a
    /// detection time to hear that (RFC 5880 §6.8.16); it leaves
    /// [`Bfd::status`] at once. An upsert of the same key meanwhile keeps
    /// it.
    pub fn remove(&self, key: PeerKey) {
        let _ = self.commands.send(Command::Remove(key));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BfdEvent> {
        self.events.subscribe()
    }

    /// Every session's status, sorted by key.
    pub fn status(&self) -> Vec<(PeerKey, BfdStatus)> {
        let map = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, s)| (*k, *s)).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Why a wanted session is not running: its last socket setup error
    /// (each upsert retries; a success clears it).
    pub fn error(&self, key: &PeerKey) -> Option<String> {
        let map = self.errors.last.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    /// Session setups that failed since the start.
    pub fn setup_failures(&self) -> u64 {
        self.errors.total.load(Ordering::Relaxed)
    }
}

struct Entry {
    session: BfdSession,
    spec: SessionSpec,
    socket: Socket,
    timers: HashMap<Timer, Instant>,
    /// Removed: sending its last AdminDown packets, not in `status`.
    retiring: bool,
}

struct Datagram {
    multihop: bool,
    src: SocketAddr,
    dst: Option<IpAddr>,
    ttl: Option<u8>,
    data: Vec<u8>,
}

struct Driver {
    sessions: HashMap<PeerKey, Entry>,
    by_discr: HashMap<u32, PeerKey>,
    /// (IPv6, port) -> reader task.
    readers: HashMap<(bool, u16), tokio::task::JoinHandle<()>>,
    next_discr: u32,
    events: broadcast::Sender<BfdEvent>,
    status: Arc<Mutex<HashMap<PeerKey, BfdStatus>>>,
    errors: Errors,
    datagrams: mpsc::Sender<Datagram>,
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut datagrams: mpsc::Receiver<Datagram>,
    ) {
        loop {
            let next = self
                .sessions
                .values()
                .flat_map(|e| e.timers.values().copied())
                .min();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = commands.recv() => match c {
                    Some(Command::Upsert(spec)) => self.upsert(spec),
                    Some(Command::Remove(key)) => self.remove(key),
                    None => break,
                },
                Some(d) = datagrams.recv() => self.receive(d),
                () = sleep => self.fire_timers(),
            }
        }
        for (_, r) in self.readers.drain() {
            r.abort();
        }
    }

    fn ensure_reader(&mut self, v6: bool, multihop: bool) -> io::Result<()> {
        let port = if multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        if self.readers.contains_key(&(v6, port)) {
            return Ok(());
        }
        let fd = socket::receive_socket(v6, port)?;
        let out = self.datagrams.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok(mut guard) = fd.readable().await else {
                    return;
                };
                match sys::recvmsg(fd.get_ref().as_fd(), &mut buf) {
                    Ok(r) => {
                        let d = Datagram {
                            multihop,
                            src: r.src,
                            dst: r.dst,
                            ttl: r.ttl,
                            data: buf[..r.len].to_vec(),
                        };
                        if out.send(d).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                    Err(e) => tracing::warn!(port, error = %e, "bfd: recvmsg failed"),
                }
            }
        });
        self.readers.insert((v6, port), task);
        Ok(())
    }

    fn upsert(&mut self, spec: SessionSpec) {
        let now = Instant::now();
        if let Some(e) = self.sessions.get_mut(&spec.key) {
            if e.retiring {
                // Wanted again before its AdminDown period ended.
                e.retiring = false;
                let actions = e.session.handle(now, Event::AdminUp);
                self.apply(spec.key, actions);
            }
            let Some(e) = self.sessions.get_mut(&spec.key) else {
                return;
            };
            e.spec.minimum_ttl = spec.minimum_ttl;
            if e.spec.config != spec.config {
                e.spec.config = spec.config;
                let actions = e.session.handle(now, Event::Reconfigure(spec.config));
                self.apply(spec.key, actions);
            }
            return;
        }
        let key = spec.key;
        if let Err(e) = self.ensure_reader(key.peer.is_ipv6(), key.multihop) {
            let port = if key.multihop {
                MULTIHOP_PORT
            } else {
                SINGLE_HOP_PORT
            };
            tracing::warn!(peer = %key.peer, port, error = %e, "bfd: receive socket failed");
            self.errors
                .set(key, format!("receive socket on UDP port {port}: {e}"));
            return;
        }
        let discr = self.allocate_discr();
        let sock = match socket::send_socket(key.peer, key.local, discr.wrapping_mul(2_654_435_761))
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(peer = %key.peer, error = %e, "bfd: send socket failed");
                self.errors
                    .set(key, format!("send socket to {}: {e}", key.peer));
                self.close_unused_reader(key);
                return;
            }
        };
        self.errors.clear(&key);
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = u64::from(discr) ^ clock ^ 0x9e37_79b9_7f4a_7c15;
        let mut session = BfdSession::new(spec.config, discr, seed);
        let actions = session.handle(now, Event::Start);
        self.by_discr.insert(discr, key);
        self.sessions.insert(
            key,
            Entry {
                session,
                spec,
                socket: sock,
                timers: HashMap::new(),
                retiring: false,
            },
        );
        self.apply(key, actions);
    }

    fn allocate_discr(&mut self) -> u32 {
        loop {
            let d = self.next_discr;
            self.next_discr = self.next_discr.wrapping_add(1).max(1);
            if d != 0 && !self.by_discr.contains_key(&d) {
                return d;
            }
        }
    }

    fn remove(&mut self, key: PeerKey) {
        let now = Instant::now();
        self.errors.clear(&key);
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let Some(e) = self.sessions.get_mut(&key) else {
            return;
        };
        if e.retiring {
            return;
        }
        e.retiring = true;
        let actions = e.session.handle(now, Event::Retire);
        self.apply(key, actions);
    }

    /// A retired session's AdminDown period ended: forget it, and close
    /// a receive socket no session uses any more.
    fn drop_session(&mut self, key: PeerKey) {
        if let Some(e) = self.sessions.remove(&key) {
            self.by_discr.remove(&e.session.local_discriminator());
        }
        self.close_unused_reader(key);
    }

    /// Closes the receive socket of `key`'s family and hop mode when no
    /// session uses it.
    fn close_unused_reader(&mut self, key: PeerKey) {
        let (v6, multihop) = (key.peer.is_ipv6(), key.multihop);
        let in_use = self
            .sessions
            .keys()
            .any(|k| k.peer.is_ipv6() == v6 && k.multihop == multihop);
        if !in_use {
            let port = if multihop {
                MULTIHOP_PORT
            } else {
                SINGLE_HOP_PORT
            };
            if let Some(r) = self.readers.remove(&(v6, port)) {
                // Aborting the reader drops its socket.
                r.abort();
            }
        }
    }

    fn find(&self, d: &Datagram, p: &ControlPacket) -> Option<PeerKey> {
        if p.your_discriminator != 0 {
            return self.by_discr.get(&p.your_discriminator).copied();
        }
        let peer = d.src.ip();
        self.sessions
            .keys()
            .find(|k| {
                k.peer == peer
                    && k.multihop == d.multihop
                    && (k.local.is_none() || d.dst.is_none() || k.local == d.dst)
            })
            .copied()
    }

    fn receive(&mut self, d: Datagram) {
        let p = match ControlPacket::decode(&d.data) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(src = %d.src, error = %e, "bfd: packet discarded");
                return;
            }
        };
        let Some(key) = self.find(&d, &p) else {
            tracing::debug!(src = %d.src, discr = p.your_discriminator, "bfd: no session");
            return;
        };
        let Some(e) = self.sessions.get_mut(&key) else {
            return;
        };
        // The session found by discriminator must be the sender's.
        if e.spec.key.peer != d.src.ip() || e.spec.key.multihop != d.multihop {
            return;
        }
        if d.multihop && !multihop_ttl_ok(d.ttl, e.spec.minimum_ttl) {
            tracing::debug!(src = %d.src, ttl = ?d.ttl, "bfd: multihop TTL below the minimum or not reported");
            return;
        }
        let actions = e.session.handle(Instant::now(), Event::Received(p));
        self.apply(key, actions);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<(PeerKey, Timer)> = self
            .sessions
            .iter()
            .flat_map(|(k, e)| {
                e.timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(move |(t, _)| (*k, *t))
            })
            .collect();
        for (key, t) in due {
            let Some(e) = self.sessions.get_mut(&key) else {
                continue;
            };
            e.timers.remove(&t);
            let actions = e.session.handle(now, Event::TimerExpired(t));
            self.apply(key, actions);
        }
    }

    fn apply(&mut self, key: PeerKey, actions: Vec<Action>) {
        let Some(e) = self.sessions.get_mut(&key) else {
            return;
        };
        let port = if key.multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let dst = SocketAddr::new(key.peer, port);
        let mut retired = false;
        for a in actions {
            match a {
                Action::Send(p) => {
                    // A full socket buffer loses this packet; BFD tolerates
                    // loss up to the multiplier.
                    if let Err(err) = e.socket.send_to(&p.encode(), &dst.into()) {
                        tracing::debug!(peer = %key.peer, error = %err, "bfd: send failed");
                    }
                }
                Action::ArmTimer(t, at) => {
                    e.timers.insert(t, at);
                }
                Action::StopTimer(t) => {
                    e.timers.remove(&t);
                }
                Action::StateChanged { from, to, diag } => {
                    tracing::info!(peer = %key.peer, from = from.name(), to = to.name(), diag = diag.name(), "bfd: session state");
                    let _ = self.events.send(BfdEvent {
                        key,
                        from,
                        to,
                        diag,
                        remote: e.session.status().remote_state,
                    });
                }
                Action::Retired => retired = true,
            }
        }
        if !e.retiring {
            self.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, e.session.status());
        }
        if retired && e.retiring {
            self.drop_session(key);
        }
    }
}

/// RFC 5883 §5 (GTSM for multihop): a packet below the session's minimum
/// TTL is dropped, and so is one whose TTL the kernel did not report: it
/// cannot be shown to meet the minimum (fail closed). Single hop needs no
/// check here: the socket's `IP_MINTTL` / `IPV6_MINHOPCOUNT` of 255 did
/// it.
fn multihop_ttl_ok(ttl: Option<u8>, minimum: u8) -> bool {
    ttl.is_some_and(|t| t >= minimum)
}

#[cfg(test)]
mod tests;
