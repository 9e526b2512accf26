//! The BGP session state machine (RFC 4271 §8), sans I/O.
//!
//! [`SessionFsm::handle`] takes one [`FsmEvent`] and the current time and returns the
//! [`Action`]s the driver must carry out: send a message, open or close a
//! connection, arm or cancel a timer. Nothing here sleeps, reads a socket or
//! spawns a task, so every transition can be driven from a unit test.
//!
//! A peer may have two TCP connections at once, one we dialled and one we
//! accepted; [`SessionFsm`] holds both and resolves the collision as RFC 4271 §6.8
//! says once a BGP identifier is known.
//!
//! The receive hold timer is enforced lazily: each message only records the
//! time it arrived, and when the driver's single hold timer fires the FSM
//! checks the real age of the last message and re-arms for the remainder.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::capability::GracefulRestart;
use crate::message::Message;
use crate::notification::{CeaseSubcode, Notification};
use crate::open::Open;
use crate::types::{Family, SessionParams};
use crate::update::Update;

mod bfd;
mod config;
pub mod graceful;
mod receive;
pub mod redial;

pub use config::SessionConfig;
pub use graceful::GracefulRestartConfig;

/// RFC 4271 §8.2.2: the hold time used while waiting for the peer's OPEN.
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// RFC 9687 §4: the send hold timer is at least eight minutes.
pub const MIN_SEND_HOLD_TIME: Duration = Duration::from_secs(480);

/// The six RFC 4271 §8.2.2 states, for the peer as a whole: the most
/// advanced of its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionState::Idle => "Idle",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
        })
    }
}

/// Which side opened a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled the peer.
    Outgoing,
    /// The peer dialled us.
    Incoming,
}

/// Identifies one TCP connection of a peer. The driver picks the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The remote AS a peer must have (BGPPeer `peerASN` or `dynamicASN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemoteAs {
    Fixed(u32),
    /// `dynamicASN: internal`: whatever AS equals ours.
    Internal,
    /// `dynamicASN: external`: any AS other than ours.
    External,
}

/// What the two OPENs agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub params: SessionParams,
    pub remote_as: u32,
    pub remote_id: Ipv4Addr,
    /// 0 means no hold timer and no keepalives.
    pub hold_time: u16,
    pub keepalive: u16,
    /// Families both sides offered (IPv4 unicast alone if the peer sent no
    /// multiprotocol capability, RFC 4760 §1).
    pub families: Vec<Family>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// IPv4 unicast NLRI may use an IPv6 next hop (RFC 8950).
    pub extended_next_hop: bool,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<GracefulRestart>,
    pub remote_open: Open,
}

/// Timers the driver keeps. Connection timers name their connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Peer-wide: next dial attempt (also the idle hold after an error).
    ConnectRetry,
    Hold(ConnId),
    Keepalive(ConnId),
    SendHold(ConnId),
}

/// Inputs to the state machine.
#[derive(Clone, Debug, PartialEq)]
pub enum FsmEvent {
    /// Start the peer (dial, or wait if passive).
    Start,
    /// Stop the peer: Cease / Administrative Shutdown with this reason on
    /// every open connection, then Idle until the next [`FsmEvent::Start`].
    Stop {
        reason: String,
    },
    /// Stop the peer meaning to come back within the restart time: the
    /// helper keeps our routes as stale (see [`graceful`]). Without
    /// graceful restart negotiated it is the same as [`FsmEvent::Stop`].
    StopForRestart {
        reason: String,
    },
    TimerExpired(Timer),
    /// Our dial succeeded.
    Connected(ConnId),
    /// Our dial failed.
    ConnectFailed,
    /// The peer dialled us.
    Accepted(ConnId),
    /// A connection closed (reset, EOF or error).
    Closed(ConnId),
    Received(ConnId, Message),
    /// The framer or a decoder rejected what the peer sent.
    DecodeError(ConnId, Notification),
    /// Writing to the connection is blocked (the socket buffer is full).
    SendBlocked(ConnId),
    /// A blocked write made progress.
    SendProgress(ConnId),
    /// The peer's BFD session went from Up to Down (`fsm/bfd`).
    BfdDown,
    /// The peer's BFD session is Up (again).
    BfdUp,
}

/// Why a session ended, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    Sent(Notification),
    /// The peer sent this NOTIFICATION.
    Received(Notification),
    /// The TCP connection closed without a NOTIFICATION.
    ConnectionClosed,
    /// [`FsmEvent::Stop`].
    Stopped,
}

/// Outputs of the state machine, to carry out in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Dial the peer; answer with [`FsmEvent::Connected`] or
    /// [`FsmEvent::ConnectFailed`].
    Connect,
    Send(ConnId, Message),
    /// Close the connection (after flushing what was queued for it).
    Close(ConnId),
    ArmTimer(Timer, Duration),
    CancelTimer(Timer),
    /// The peer-wide state changed.
    StateChanged {
        from: SessionState,
        to: SessionState,
    },
    /// The session is up on this connection: start sending routes.
    Established {
        conn: ConnId,
        negotiated: Box<Negotiated>,
    },
    /// The established session ended.
    Down(DownReason),
    /// Give the frame decoder these parameters for this connection (sent as
    /// soon as the peer's OPEN is accepted, before anything else is read).
    SetCodec(ConnId, SessionParams),
    /// The peer asked for our routes again (RFC 2918), with BoRR/EoRR
    /// demarcation if enhanced route refresh was negotiated (RFC 7313).
    ResendRoutes {
        family: Family,
        enhanced: bool,
    },
    /// An UPDATE arrived on the established session (counted, never
    /// installed).
    UpdateReceived(Box<Update>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Clone, Debug)]
struct Conn {
    id: ConnId,
    dir: Direction,
    state: ConnState,
    negotiated: Option<Negotiated>,
    last_rx: Instant,
    hold: Duration,
    blocked_since: Option<Instant>,
    /// When this connection reached Established.
    up_since: Option<Instant>,
}

/// How a connection ended: decides the next state (RFC 4271 §8.2.2) and
/// the redial delay ([`redial`]).
enum Loss {
    /// The TCP connection closed or failed, no NOTIFICATION.
    Tcp,
    /// We send this NOTIFICATION, then close.
    Sent(Notification),
    /// The peer sent this NOTIFICATION.
    Received(Notification),
}

/// One configured peer: its state, its connections and its backoff.
#[derive(Clone, Debug)]
pub struct SessionFsm {
    config: SessionConfig,
    started: bool,
    /// Idle, Connect or Active when no connection is open.
    base: SessionState,
    conns: Vec<Conn>,
    dialing: bool,
    retries: u32,
    rng: u64,
    /// Consecutive sessions that ended within [`redial::STABLE_SESSION`].
    flaps: u32,
    /// The least delay before our next dial (Cease hold-down or flap
    /// damping), used up by the next retry.
    hold_down: Duration,
    /// Connections closed on arrival (a second inbound connection, or any
    /// connection while established).
    rejected: u64,
    /// The R bit of our next OPENs (RFC 4724 §4.1): set by the driver when
    /// the process restarted with routes it had announced, cleared when a
    /// session is established.
    restarting: bool,
    /// BFD holds the session down (`fsm/bfd`).
    bfd_down: bool,
}

fn state_of(c: ConnState) -> SessionState {
    match c {
        ConnState::OpenSent => SessionState::OpenSent,
        ConnState::OpenConfirm => SessionState::OpenConfirm,
        ConnState::Established => SessionState::Established,
    }
}

impl SessionFsm {
    pub fn new(config: SessionConfig) -> Self {
        let rng = config.jitter_seed | 1;
        SessionFsm {
            config,
            started: false,
            base: SessionState::Idle,
            conns: Vec::new(),
            dialing: false,
            retries: 0,
            rng,
            flaps: 0,
            hold_down: Duration::ZERO,
            rejected: 0,
            restarting: false,
            bfd_down: false,
        }
    }

    /// Connections closed on arrival because the peer already had one in
    /// that direction, or an established session.
    pub fn rejected_connections(&self) -> u64 {
        self.rejected
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The peer-wide state: the most advanced connection, else Idle,
    /// Connect (dialling) or Active (waiting).
    pub fn state(&self) -> SessionState {
        self.conns
            .iter()
            .map(|c| state_of(c.state))
            .max()
            .unwrap_or(self.base)
    }

    /// The established connection and what it negotiated, if any.
    pub fn established(&self) -> Option<(ConnId, &Negotiated)> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .and_then(|c| c.negotiated.as_ref().map(|n| (c.id, n)))
    }

    /// Handles one event at time `now`.
    pub fn handle(&mut self, now: Instant, event: FsmEvent) -> Vec<Action> {
        let before = self.state();
        let mut out = Vec::new();
        self.dispatch(now, event, &mut out);
        let after = self.state();
        if before != after {
            out.push(Action::StateChanged {
                from: before,
                to: after,
            });
        }
        out
    }

    fn dispatch(&mut self, now: Instant, event: FsmEvent, out: &mut Vec<Action>) {
        match event {
            FsmEvent::Start => {
                if self.started {
                    return;
                }
                self.started = true;
                self.retries = 0;
                self.flaps = 0;
                self.hold_down = Duration::ZERO;
                if !self.bfd_down {
                    self.begin(out);
                }
            }
            FsmEvent::Stop { reason } => self.stop(&reason, false, out),
            FsmEvent::StopForRestart { reason } => self.stop(&reason, true, out),
            FsmEvent::TimerExpired(t) => self.timer(now, t, out),
            FsmEvent::Connected(id) => {
                self.dialing = false;
                let have_outgoing = self.conns.iter().any(|c| c.dir == Direction::Outgoing);
                if !self.started || self.bfd_down || self.established().is_some() || have_outgoing {
                    // RFC 4271 §6.8: a new connection while one is
                    // established is closed, and a peer has at most one
                    // connection we dialled.
                    out.push(Action::Close(id));
                    return;
                }
                self.open_conn(now, id, Direction::Outgoing, out);
            }
            FsmEvent::ConnectFailed => {
                self.dialing = false;
                if self.started && self.conns.is_empty() {
                    // RFC 4271 §8.2.2 (Connect state, TCP fails): go to
                    // Active and wait for the retry timer.
                    self.base = SessionState::Active;
                    self.schedule_retry(out);
                }
            }
            FsmEvent::Accepted(id) => {
                let have_incoming = self.conns.iter().any(|c| c.dir == Direction::Incoming);
                // RFC 4271 §6.8: at most one connection per direction (the
                // collision has two, one each way), and none beside an
                // established session. Anything more is closed at once, so
                // a connection flood costs one socket for a moment each.
                if !self.started || self.bfd_down || self.established().is_some() || have_incoming {
                    self.rejected += 1;
                    if self.started {
                        out.push(Action::Send(
                            id,
                            Message::Notification(Notification::cease(
                                CeaseSubcode::ConnectionRejected,
                            )),
                        ));
                    }
                    out.push(Action::Close(id));
                    return;
                }
                self.open_conn(now, id, Direction::Incoming, out);
            }
            FsmEvent::Closed(id) => self.lose(now, id, Loss::Tcp, out),
            FsmEvent::Received(id, msg) => self.receive(now, id, msg, out),
            FsmEvent::DecodeError(id, n) => self.fail(now, id, n, out),
            FsmEvent::SendBlocked(id) => {
                let hold = self.send_hold_time(id);
                if let Some(c) = self.conn_mut(id) {
                    if c.blocked_since.is_none() {
                        c.blocked_since = Some(now);
                        if let Some(h) = hold {
                            out.push(Action::ArmTimer(Timer::SendHold(id), h));
                        }
                    }
                }
            }
            FsmEvent::BfdDown => self.on_bfd_down(now, out),
            FsmEvent::BfdUp => self.on_bfd_up(out),
            FsmEvent::SendProgress(id) => {
                if let Some(c) = self.conn_mut(id) {
                    if c.blocked_since.take().is_some() {
                        out.push(Action::CancelTimer(Timer::SendHold(id)));
                    }
                }
            }
        }
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    /// Leaves Idle: dial (Connect) or wait (Active).
    fn begin(&mut self, out: &mut Vec<Action>) {
        if self.config.passive {
            self.base = SessionState::Active;
        } else {
            self.base = SessionState::Connect;
            self.dialing = true;
            out.push(Action::Connect);
        }
    }

    /// Jittered exponential backoff: about 1 s, 2 s, 4 s ... capped at the
    /// configured connect time; each delay is 75-100 % of its nominal value
    /// (RFC 4271 §10 jitter).
    pub fn backoff(&mut self) -> Duration {
        let cap = self.config.connect_retry_max.max(Duration::from_secs(1));
        let nominal = Duration::from_secs(1u64 << self.retries.min(16)).min(cap);
        self.retries = self.retries.saturating_add(1);
        // xorshift64: deterministic per seed, no I/O.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = 0.75 + (self.rng % 1000) as f64 / 4000.0;
        nominal.mul_f64(frac)
    }

    /// Arms the next dial: the backoff, or the hold-down if longer, never
    /// beyond the configured connect time.
    fn schedule_retry(&mut self, out: &mut Vec<Action>) {
        let cap = self.config.connect_retry_max.max(Duration::from_secs(1));
        let hold_down = std::mem::take(&mut self.hold_down).min(cap);
        let d = self.backoff().max(hold_down);
        out.push(Action::ArmTimer(Timer::ConnectRetry, d));
    }

    /// Closes connection `id` (sending the NOTIFICATION of `loss`, if
    /// ours), reports a lost session, and if no connection is left picks
    /// the next state and arms the redial.
    fn lose(&mut self, now: Instant, id: ConnId, loss: Loss, out: &mut Vec<Action>) {
        let Some(c) = self.conn(id) else { return };
        let (state, up_since) = (c.state, c.up_since);
        let loss = match loss {
            Loss::Sent(n) => Loss::Sent(graceful::outgoing(&self.config, c.negotiated.as_ref(), n)),
            other => other,
        };
        if let Loss::Sent(n) = &loss {
            out.push(Action::Send(id, Message::Notification(n.clone())));
        }
        self.drop_conn(id, out);
        let notification = match &loss {
            Loss::Sent(n) | Loss::Received(n) => Some(n.clone()),
            Loss::Tcp => None,
        };
        if let Some(n) = &notification {
            self.hold_down = self.hold_down.max(redial::hold_down_after(n));
        }
        if let Some(since) = up_since {
            // RFC 4271 §8.1.1 (DampPeerOscillations, our policy): a
            // session that did not stay up doubles the redial delay.
            if now.saturating_duration_since(since) >= redial::STABLE_SESSION {
                self.flaps = 0;
            }
            self.flaps = self.flaps.saturating_add(1);
            self.hold_down = self.hold_down.max(redial::flap_delay(self.flaps));
            // Dials that fail after the damped one keep growing from there.
            self.retries = self.retries.max(self.flaps.saturating_sub(1));
            out.push(Action::Down(match loss {
                Loss::Tcp => DownReason::ConnectionClosed,
                Loss::Sent(n) => DownReason::Sent(n),
                Loss::Received(n) => DownReason::Received(n),
            }));
        }
        if !self.started || !self.conns.is_empty() {
            return;
        }
        self.base =
            if self.config.passive || (state == ConnState::OpenSent && notification.is_none()) {
                // RFC 4271 §8.2.2: a TCP failure in OpenSent goes back to
                // Active (retry timer armed, still listening); a passive peer
                // only ever listens, which is Active too.
                SessionState::Active
            } else {
                // RFC 4271 §8.2.2: errors in OpenSent, and any loss in
                // OpenConfirm or Established, go to Idle; the retry timer then
                // plays the idle hold timer before the automatic restart. The
                // peer may still connect to us meanwhile.
                SessionState::Idle
            };
        if !self.config.passive {
            self.schedule_retry(out);
        }
    }

    fn open_conn(&mut self, now: Instant, id: ConnId, dir: Direction, out: &mut Vec<Action>) {
        out.push(Action::Send(
            id,
            Message::Open(self.config.open_with(self.restarting)),
        ));
        // RFC 4271 §8.2.2: a large hold time until the peer's OPEN arrives.
        out.push(Action::ArmTimer(Timer::Hold(id), OPEN_HOLD_TIME));
        self.conns.push(Conn {
            id,
            dir,
            state: ConnState::OpenSent,
            negotiated: None,
            last_rx: now,
            hold: OPEN_HOLD_TIME,
            blocked_since: None,
            up_since: None,
        });
        out.push(Action::CancelTimer(Timer::ConnectRetry));
    }

    fn drop_conn(&mut self, id: ConnId, out: &mut Vec<Action>) {
        self.conns.retain(|c| c.id != id);
        out.push(Action::Close(id));
        out.push(Action::CancelTimer(Timer::Hold(id)));
        out.push(Action::CancelTimer(Timer::Keepalive(id)));
        out.push(Action::CancelTimer(Timer::SendHold(id)));
    }

    /// Sends a NOTIFICATION, closes the connection, and handles the loss.
    fn fail(&mut self, now: Instant, id: ConnId, n: Notification, out: &mut Vec<Action>) {
        self.lose(now, id, Loss::Sent(n), out);
    }

    fn send_hold_time(&self, id: ConnId) -> Option<Duration> {
        let c = self.conn(id)?;
        let hold = c.negotiated.as_ref().map(|n| n.hold_time)?;
        if hold == 0 && self.config.send_hold_time.is_none() {
            return None;
        }
        Some(
            self.config.send_hold_time.unwrap_or_else(|| {
                MIN_SEND_HOLD_TIME.max(Duration::from_secs(2 * u64::from(hold)))
            }),
        )
    }

    fn timer(&mut self, now: Instant, t: Timer, out: &mut Vec<Action>) {
        match t {
            Timer::ConnectRetry => {
                if self.started
                    && !self.bfd_down
                    && self.conns.is_empty()
                    && !self.config.passive
                    && !self.dialing
                {
                    self.base = SessionState::Connect;
                    self.dialing = true;
                    out.push(Action::Connect);
                }
            }
            Timer::Hold(id) => {
                let Some(c) = self.conn(id) else { return };
                if c.hold.is_zero() {
                    return;
                }
                let age = now.saturating_duration_since(c.last_rx);
                if age < c.hold {
                    out.push(Action::ArmTimer(Timer::Hold(id), c.hold - age));
                    return;
                }
                // RFC 4271 §8.2.2: hold timer expired -> NOTIFICATION 4/0.
                self.fail(now, id, Notification::hold_timer_expired(), out);
            }
            Timer::Keepalive(id) => {
                let Some(c) = self.conn(id) else { return };
                if !matches!(c.state, ConnState::OpenConfirm | ConnState::Established) {
                    return;
                }
                let Some(n) = &c.negotiated else { return };
                if n.keepalive == 0 {
                    return;
                }
                let every = Duration::from_secs(u64::from(n.keepalive));
                out.push(Action::Send(id, Message::Keepalive));
                out.push(Action::ArmTimer(Timer::Keepalive(id), every));
            }
            Timer::SendHold(id) => {
                let Some(c) = self.conn(id) else { return };
                if c.blocked_since.is_none() {
                    return;
                }
                // RFC 9687 §3: the peer has not read from us for the send
                // hold time -> NOTIFICATION 8 and close.
                self.fail(now, id, Notification::send_hold_timer_expired(), out);
            }
        }
    }
}
