//! The tokio side of oxlb's BGP engine: sockets, timers and one task per
//! peer driving the sans-IO state machine of `bgp_proto::fsm`.
//!
//! [`Speaker`] is the library API the load balancer uses: add, update and
//! remove peers, set the routes each peer should carry, subscribe to
//! session events, and read per-peer status for metrics.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bgp_proto::adj_rib_out::{RouteSpec, RouteTable};
use bgp_proto::fsm::SessionState;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};

pub mod md5;
mod peer;
pub mod status;
pub mod transport;

pub use peer::PeerSettings;
pub use status::{GracefulRestartStatus, MessageCounts, PeerStatus};
pub use transport::Endpoint;

use peer::{PeerCmd, PeerTask};

/// Session events for subscribers (logs, metrics, convergence timing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    StateChanged {
        peer: String,
        from: SessionState,
        to: SessionState,
    },
    Established {
        peer: String,
    },
    Down {
        peer: String,
        reason: String,
    },
}

struct PeerEntry {
    settings: PeerSettings,
    cmds: mpsc::Sender<PeerCmd>,
    status: Arc<Mutex<PeerStatus>>,
    /// The routes as given, held weakly (only to recognise the same list
    /// given to another peer without a comparison; the caller may free
    /// it), and the table built from them, shared by every peer given
    /// equal routes.
    routes: Weak<Vec<RouteSpec>>,
    table: Arc<RouteTable>,
}

struct Inner {
    peers: Mutex<HashMap<String, PeerEntry>>,
    events: broadcast::Sender<SessionEvent>,
    listeners: Vec<Arc<TcpListener>>,
    /// New peers' OPENs carry the graceful restart R bit (RFC 4724 §4.1).
    restarting: AtomicBool,
}

/// Why a peer could not be added.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer {name}: another peer ({other}) already uses address {address}")]
    DuplicateAddress {
        name: String,
        other: String,
        address: IpAddr,
    },
    #[error("peer {name}: cannot set the TCP-MD5 key on the listening socket: {source}")]
    Md5 { name: String, source: io::Error },
}

/// First pause after a failed accept (EMFILE, ENFILE, ENOBUFS ...); it
/// doubles up to [`ACCEPT_BACKOFF_MAX`] while accepts keep failing.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(100);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections and hands each to its peer's task without waiting:
/// a peer whose task is busy (its command queue full) gets the connection
/// closed, and the other peers' connections keep flowing. A failing
/// accept (out of file descriptors, say) would fail again at once, so the
/// loop pauses, 100 ms doubling to 1 s, and logs each cause once.
async fn accept_loop(l: Arc<TcpListener>, weak: Weak<Inner>) {
    let listen = l.local_addr().ok();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut last_cause: Option<io::ErrorKind> = None;
    let mut last_refused: Option<IpAddr> = None;
    loop {
        let (stream, remote) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                if weak.strong_count() == 0 {
                    return;
                }
                if last_cause != Some(e.kind()) {
                    tracing::warn!(listener = ?listen, error = %e, "accept failed; pausing the listener");
                    last_cause = Some(e.kind());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if last_cause.take().is_some() {
            tracing::info!(listener = ?listen, "accepting again");
        }
        backoff = ACCEPT_BACKOFF_MIN;
        let Some(inner) = weak.upgrade() else { return };
        let ip = match remote.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let target = lock(&inner.peers)
            .values()
            .find(|p| p.settings.endpoint.address == ip)
            .map(|p| (p.cmds.clone(), p.status.clone(), p.settings.name.clone()));
        match target {
            Some((tx, status, name)) => {
                if let Err(e) = tx.try_send(PeerCmd::Accepted(stream)) {
                    // Dropping the command closes the socket.
                    drop(e);
                    lock(&status).connections_rejected += 1;
                    tracing::debug!(peer = %name, %remote, "peer task busy: connection closed");
                }
            }
            // One line per stranger, not per connection: a flood from one
            // address logs once.
            None if last_refused == Some(ip) => {
                tracing::debug!(%remote, "refused a connection from an unknown peer")
            }
            None => {
                last_refused = Some(ip);
                tracing::info!(%remote, "refused a connection from an unknown peer");
            }
        }
    }
}

/// A BGP speaker: a set of peers and the listeners that accept them.
#[derive(Clone)]
pub struct Speaker {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Speaker {
    /// Starts a speaker listening on `listen` (may be empty: dial only).
    pub async fn bind(listen: &[SocketAddr]) -> io::Result<Speaker> {
        let mut listeners = Vec::new();
        for addr in listen {
            let l = transport::listen(*addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push(Arc::new(l));
        }
        let (events, _) = broadcast::channel(1024);
        let speaker = Speaker {
            inner: Arc::new(Inner {
                peers: Mutex::new(HashMap::new()),
                events,
                listeners,
                restarting: AtomicBool::new(false),
            }),
        };
        for l in &speaker.inner.listeners {
            tokio::spawn(accept_loop(l.clone(), Arc::downgrade(&speaker.inner)));
        }
        Ok(speaker)
    }

    /// The listeners of the same address family as `peer`.
    fn listeners_for(&self, peer: IpAddr) -> impl Iterator<Item = &Arc<TcpListener>> {
        self.inner
            .listeners
            .iter()
            .filter(move |l| l.local_addr().is_ok_and(|a| a.is_ipv6() == peer.is_ipv6()))
    }

    /// The addresses the speaker listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Adds a peer, or replaces it if its settings changed. A peer whose
    /// settings are unchanged is left alone (its session is not reset).
    /// Returns true if a session was (re)started. A replaced peer keeps its
    /// routes; a new one starts without any (see
    /// [`upsert_peer_with_routes`](Self::upsert_peer_with_routes)).
    pub async fn upsert_peer(&self, settings: PeerSettings) -> Result<bool, PeerError> {
        self.upsert_peer_with(settings, None).await
    }

    /// Like [`upsert_peer`](Self::upsert_peer), but a new or replaced peer
    /// starts with `routes`, so its first session sends them as the
    /// initial table, before End-of-RIB. An unchanged peer is only given
    /// the routes (as [`set_routes`](Self::set_routes) would).
    pub async fn upsert_peer_with_routes(
        &self,
        settings: PeerSettings,
        routes: Arc<Vec<RouteSpec>>,
    ) -> Result<bool, PeerError> {
        self.upsert_peer_with(settings, Some(routes)).await
    }

    async fn upsert_peer_with(
        &self,
        settings: PeerSettings,
        given: Option<Arc<Vec<RouteSpec>>>,
    ) -> Result<bool, PeerError> {
        let existing = {
            let peers = lock(&self.inner.peers);
            if let Some(other) = peers.values().find(|p| {
                p.settings.endpoint.address == settings.endpoint.address
                    && p.settings.name != settings.name
            }) {
                return Err(PeerError::DuplicateAddress {
                    name: settings.name.clone(),
                    other: other.settings.name.clone(),
                    address: settings.endpoint.address,
                });
            }
            peers.get(&settings.name).map(|p| p.settings == settings)
        };
        if existing == Some(true) {
            if let Some(r) = given {
                self.set_routes(&settings.name, r).await;
            }
            return Ok(false);
        }
        let kept = if existing == Some(false) {
            let r = lock(&self.inner.peers)
                .get(&settings.name)
                .map(|p| (p.routes.clone(), p.table.clone()));
            self.remove_peer(&settings.name, "peer configuration changed")
                .await;
            r
        } else {
            None
        };
        let (routes, table) = match (given, kept) {
            (Some(r), kept) => {
                let t = self.table_for(&r, kept.as_ref().map(|(_, t)| &**t));
                (Arc::downgrade(&r), t)
            }
            (None, Some(k)) => k,
            (None, None) => (Weak::new(), RouteTable::empty()),
        };
        if let Some(pw) = &settings.endpoint.password {
            // A key is per peer address, and only a listener of the same
            // family can ever see that peer (IPv6 listeners are v6-only).
            for l in self.listeners_for(settings.endpoint.address) {
                md5::set_key(l.as_fd(), settings.endpoint.address, pw.as_bytes()).map_err(
                    |source| PeerError::Md5 {
                        name: settings.name.clone(),
                        source,
                    },
                )?;
            }
        }
        let status = Arc::new(Mutex::new(PeerStatus::new(
            &settings.name,
            settings.endpoint.address.to_string(),
            settings.endpoint.port,
        )));
        let (tx, rx) = mpsc::channel(64);
        let task = PeerTask::new(
            settings.clone(),
            table.clone(),
            status.clone(),
            self.inner.events.clone(),
        )
        .restarting(self.inner.restarting.load(Ordering::Relaxed));
        tokio::spawn(task.run(rx));
        lock(&self.inner.peers).insert(
            settings.name.clone(),
            PeerEntry {
                settings,
                cmds: tx,
                status,
                routes,
                table,
            },
        );
        Ok(true)
    }

    /// Stops a peer with Cease / Peer De-configured semantics (an
    /// administrative shutdown carrying `reason`) and forgets it.
    pub async fn remove_peer(&self, name: &str, reason: &str) {
        self.stop_peer(name, reason, false).await
    }

    /// Stops and forgets a peer; `for_restart`: the helper keeps its routes
    /// as stale (`FsmEvent::StopForRestart`).
    async fn stop_peer(&self, name: &str, reason: &str, for_restart: bool) {
        let entry = lock(&self.inner.peers).remove(name);
        if let Some(e) = entry {
            if e.settings.endpoint.password.is_some() {
                for l in self.listeners_for(e.settings.endpoint.address) {
                    let _ = md5::set_key(l.as_fd(), e.settings.endpoint.address, &[]);
                }
            }
            let (done, wait) = oneshot::channel();
            if e.cmds
                .send(PeerCmd::Stop {
                    reason: reason.to_string(),
                    for_restart,
                    done,
                })
                .await
                .is_ok()
            {
                let _ = wait.await;
            }
        }
    }

    /// Sets the routes a peer should carry; only the difference is sent.
    /// Peers given equal routes share one table.
    pub async fn set_routes(&self, name: &str, routes: Arc<Vec<RouteSpec>>) {
        let (tx, table) = {
            let current = {
                let peers = lock(&self.inner.peers);
                let Some(p) = peers.get(name) else { return };
                if std::ptr::eq(p.routes.as_ptr(), Arc::as_ptr(&routes)) {
                    return;
                }
                p.table.clone()
            };
            let table = self.table_for(&routes, Some(&current));
            let mut peers = lock(&self.inner.peers);
            let Some(p) = peers.get_mut(name) else { return };
            p.routes = Arc::downgrade(&routes);
            p.table = table.clone();
            (p.cmds.clone(), table)
        };
        let _ = tx.send(PeerCmd::SetRoutes(table)).await;
    }

    /// BFD's verdict on the path to a peer (RFC 9384): `false` (Up to
    /// Down) sends Cease / BFD Down and holds the session down; `true`
    /// lets it be dialled again at once.
    pub async fn set_bfd_up(&self, name: &str, up: bool) {
        let tx = {
            let peers = lock(&self.inner.peers);
            let Some(p) = peers.get(name) else { return };
            p.cmds.clone()
        };
        let _ = tx.send(PeerCmd::Bfd { up }).await;
    }

    /// The table of `routes`: another peer's when it was given the same
    /// routes, else a new one built from `parent` (so a peer moving from
    /// `parent` only looks at what changed).
    fn table_for(
        &self,
        routes: &Arc<Vec<RouteSpec>>,
        parent: Option<&RouteTable>,
    ) -> Arc<RouteTable> {
        let same_list = lock(&self.inner.peers)
            .values()
            .find(|p| std::ptr::eq(p.routes.as_ptr(), Arc::as_ptr(routes)))
            .map(|p| p.table.clone());
        if let Some(t) = same_list {
            return t;
        }
        let built = RouteTable::build(routes.iter(), parent);
        let equal = lock(&self.inner.peers)
            .values()
            .find(|p| p.table.same_routes(&built))
            .map(|p| p.table.clone());
        equal.unwrap_or_else(|| Arc::new(built))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// Status of every peer, sorted by name.
    pub fn status(&self) -> Vec<PeerStatus> {
        let now = Instant::now();
        let mut v: Vec<PeerStatus> = lock(&self.inner.peers)
            .values()
            .map(|p| lock(&p.status).snapshot(now))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn peer_names(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner.peers).keys().cloned().collect();
        v.sort();
        v
    }

    /// Sends Cease / Administrative Shutdown with `reason` to every peer
    /// (inside a Hard Reset where both sides set the RFC 8538 N bit, so a
    /// graceful restart helper flushes our routes at once) and waits for
    /// the NOTIFICATIONs to be written.
    pub async fn shutdown(&self, reason: &str) {
        for name in self.peer_names() {
            self.remove_peer(&name, reason).await;
        }
    }

    /// Leaves every peer meaning to come back within the restart time:
    /// where graceful restart was negotiated the router keeps our routes
    /// as stale until the next session's End-of-RIB (or the restart time);
    /// elsewhere this is [`shutdown`](Self::shutdown).
    pub async fn shutdown_for_restart(&self, reason: &str) {
        for name in self.peer_names() {
            self.stop_peer(&name, reason, true).await;
        }
    }

    /// Peers added from now on send the graceful restart R bit in their
    /// OPENs until their first session is up (RFC 4724 §4.1): set it at
    /// start-up when the process restarted with routes it had announced.
    pub fn set_restarting(&self, restarting: bool) {
        self.inner.restarting.store(restarting, Ordering::Relaxed);
    }
}
