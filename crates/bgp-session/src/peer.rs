//! One task per peer: drives the sans-IO FSM with real sockets and timers.
//!
//! ```text
//!              commands (set routes, accepted socket, stop)
//!                          |
//!                          v
//!   dial task -----> [ peer task: fsm::SessionFsm + AdjRibOut + timers ] ----> status, events
//!                      ^                         |
//!   reader task(s) ----+ (messages, errors,      | ctrl channel (OPEN, KEEPALIVE,
//!   one per connection    closed, stalls)        |  NOTIFICATION: always first)
//!                                                | bulk channel (UPDATEs, bounded)
//!                                                v
//!                                        writer task(s), one per connection
//! ```
//!
//! The writer always drains the control channel before taking the next
//! bulk UPDATE, so a KEEPALIVE never waits behind a table transfer in our
//! queues. The reader pauses after an OPEN until the FSM has accepted it and
//! handed over the negotiated decoding parameters. Both directions are
//! bounded; see [`conn`] for the watermarks.

mod conn;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp_proto::adj_rib_out::{AdjRibOut, ExportContext, RouteTable};
use bgp_proto::fsm::{
    Action, ConnId, DownReason, FsmEvent, Negotiated, SessionConfig, SessionFsm, Timer,
};
use bgp_proto::{ErrorAction, Message, MessageType, Notification, SessionParams};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use conn::{BulkQueue, WriteCmd, HIGH_WATER, INBOUND_DEPTH};

use crate::status::PeerStatus;
use crate::transport::{self, Endpoint};
use crate::SessionEvent;

/// Everything needed to run one peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerSettings {
    pub name: String,
    pub endpoint: Endpoint,
    pub fsm: SessionConfig,
    /// Add our link-local address to IPv6 next hops when the peer is on
    /// the same link (RFC 2545 §3). Some receivers without interface
    /// information (FRR's bgpd without zebra) refuse such next hops.
    pub link_local_next_hop: bool,
}

pub(crate) enum PeerCmd {
    SetRoutes(Arc<RouteTable>),
    Accepted(TcpStream),
    Stop {
        reason: String,
        /// Leave the routes stale at the helper (graceful restart).
        for_restart: bool,
        done: oneshot::Sender<()>,
    },
    /// BFD Up / Down for this peer (`Speaker::set_bfd_up`).
    Bfd {
        up: bool,
    },
}

enum ConnEvent {
    Msg(ConnId, Message),
    DecodeError(ConnId, Notification),
    Closed(ConnId),
    Blocked(ConnId),
    Progress(ConnId),
    /// The writer drained the bulk queue to its low mark.
    Room(ConnId),
    Dialed(Result<TcpStream, transport::DialError>),
}

struct ConnHandle {
    ctrl: mpsc::UnboundedSender<WriteCmd>,
    bulk: Arc<BulkQueue>,
    params: watch::Sender<Option<SessionParams>>,
    send_params: SessionParams,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    local: SocketAddr,
}

/// A write that takes this long counts as blocked (RFC 9687 send hold).
const STALL: Duration = Duration::from_secs(1);
/// Longest wait for one TCP connect attempt.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait at shutdown for a writer to put its Cease on the wire.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) struct PeerTask {
    settings: PeerSettings,
    fsm: SessionFsm,
    rib: AdjRibOut,
    /// The desired routes (shared with every peer carrying the same).
    table: Arc<RouteTable>,
    conns: HashMap<ConnId, ConnHandle>,
    next_conn: u64,
    timers: HashMap<Timer, Instant>,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    events_rx: mpsc::UnboundedReceiver<ConnEvent>,
    /// Decoded messages from the readers (bounded: backpressure).
    inbound_tx: mpsc::Sender<ConnEvent>,
    inbound_rx: mpsc::Receiver<ConnEvent>,
    status: Arc<Mutex<PeerStatus>>,
    broadcast: broadcast::Sender<SessionEvent>,
    /// The established connection and what it negotiated.
    session: Option<(ConnId, Negotiated, ExportContext)>,
    /// When the current session came up, until its End-of-RIBs are out.
    initial_since: Option<Instant>,
    /// Writers told to close that may still be flushing (a Cease).
    closing: Vec<JoinHandle<()>>,
}

impl PeerTask {
    pub(crate) fn new(
        settings: PeerSettings,
        table: Arc<RouteTable>,
        status: Arc<Mutex<PeerStatus>>,
        broadcast: broadcast::Sender<SessionEvent>,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_DEPTH);
        PeerTask {
            fsm: SessionFsm::new(settings.fsm.clone()),
            settings,
            rib: AdjRibOut::new(),
            table,
            conns: HashMap::new(),
            next_conn: 1,
            timers: HashMap::new(),
            events_tx,
            events_rx,
            inbound_tx,
            inbound_rx,
            status,
            broadcast,
            session: None,
            initial_since: None,
            closing: Vec::new(),
        }
    }

    /// Marks the FSM as restarting (the R bit of its first OPENs).
    pub(crate) fn restarting(mut self, restarting: bool) -> Self {
        self.fsm.set_restarting(restarting);
        self
    }

    pub(crate) async fn run(mut self, mut cmds: mpsc::Receiver<PeerCmd>) {
        self.feed(FsmEvent::Start);
        loop {
            let deadline = self.timers.values().min().copied();
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(PeerCmd::SetRoutes(r)) => self.set_routes(r),
                    Some(PeerCmd::Accepted(stream)) => {
                        let id = self.attach(stream);
                        let rejected = self.fsm.rejected_connections();
                        self.feed(FsmEvent::Accepted(id));
                        if self.fsm.rejected_connections() > rejected {
                            self.status().connections_rejected += 1;
                        }
                    }
                    Some(PeerCmd::Bfd { up }) => {
                        self.status().bfd_held = !up;
                        self.feed(if up { FsmEvent::BfdUp } else { FsmEvent::BfdDown });
                    }
                    Some(PeerCmd::Stop { reason, for_restart, done }) => {
                        self.feed(if for_restart {
                            FsmEvent::StopForRestart { reason }
                        } else {
                            FsmEvent::Stop { reason }
                        });
                        self.flush_and_close().await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.feed(FsmEvent::Stop { reason: "peer removed".into() });
                        self.flush_and_close().await;
                        return;
                    }
                },
                Some(ev) = self.events_rx.recv() => self.conn_event(ev),
                Some(ev) = self.inbound_rx.recv() => self.conn_event(ev),
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    let due: Vec<Timer> =
                        self.timers.iter().filter(|(_, d)| **d <= now).map(|(t, _)| *t).collect();
                    for t in due {
                        self.timers.remove(&t);
                        self.feed(FsmEvent::TimerExpired(t));
                    }
                }
            }
        }
    }

    /// Lets each writer put what the control channel holds (the Cease) on
    /// the wire and close, waiting at most CLOSE_TIMEOUT per connection.
    async fn flush_and_close(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        for mut w in std::mem::take(&mut self.closing) {
            if tokio::time::timeout(CLOSE_TIMEOUT, &mut w).await.is_err() {
                tracing::warn!(peer = %self.settings.name, "writer did not finish in time; closing");
                w.abort();
            }
        }
    }

    /// Tells the writer to close after what it holds, stops the reader.
    fn close(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(&id) {
            let _ = c.ctrl.send(WriteCmd::Close);
            c.reader.abort();
            self.closing.retain(|w| !w.is_finished());
            self.closing.push(c.writer);
        }
    }

    fn conn_event(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Msg(id, msg) => {
                if !self.conns.contains_key(&id) {
                    return;
                }
                self.status().messages_in.count(msg.kind());
                if let Message::Notification(n) = &msg {
                    self.status().last_error_received = Some(n.to_string());
                    tracing::warn!(peer = %self.settings.name, notification = %n, "NOTIFICATION received");
                }
                self.feed(FsmEvent::Received(id, msg));
            }
            ConnEvent::DecodeError(id, n) => {
                if self.conns.contains_key(&id) {
                    tracing::warn!(peer = %self.settings.name, error = %n, "peer sent a malformed message");
                    self.feed(FsmEvent::DecodeError(id, n));
                }
            }
            ConnEvent::Closed(id) => {
                if self.conns.contains_key(&id) {
                    self.feed(FsmEvent::Closed(id));
                }
            }
            ConnEvent::Blocked(id) => self.feed(FsmEvent::SendBlocked(id)),
            ConnEvent::Progress(id) => self.feed(FsmEvent::SendProgress(id)),
            ConnEvent::Room(id) => {
                if matches!(&self.session, Some((s, _, _)) if *s == id) {
                    self.pump();
                }
            }
            ConnEvent::Dialed(Ok(stream)) => {
                self.status().last_connect_error = None;
                let id = self.attach(stream);
                self.feed(FsmEvent::Connected(id));
            }
            ConnEvent::Dialed(Err(e)) => {
                let text = e.to_string();
                let repeated = {
                    let mut st = self.status();
                    *st.connect_failures
                        .entry(e.reason().to_string())
                        .or_default() += 1;
                    let same = st.last_connect_error.as_deref() == Some(text.as_str());
                    st.last_connect_error = Some(text);
                    same
                };
                // One warning per distinct cause; the retries that fail the
                // same way are counted in the status and the metric.
                if repeated {
                    tracing::debug!(peer = %self.settings.name, error = %e, "connect failed again");
                } else {
                    tracing::warn!(peer = %self.settings.name, reason = e.reason(), error = %e, "connect failed");
                }
                self.feed(FsmEvent::ConnectFailed);
            }
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, PeerStatus> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; the data is still usable.
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_routes(&mut self, table: Arc<RouteTable>) {
        self.table = table;
        let Some((_, _, ctx)) = &self.session else {
            self.status().prefixes_desired = self.table.len() as u64;
            return;
        };
        let rejected = self.rib.set_table(ctx, self.table.clone());
        self.report_rejected(&rejected);
        self.status().prefixes_desired = self.rib.desired_len() as u64;
        self.pump();
    }

    /// Tops the established connection's bulk queue up to HIGH_WATER with
    /// UPDATEs built now from the Adj-RIB-Out; if more is pending, asks the
    /// writer to say when the queue has drained to its low mark.
    fn pump(&mut self) {
        let Some((id, negotiated, _)) = &self.session else {
            return;
        };
        let (id, params) = (*id, negotiated.params.clone());
        let Some(bulk) = self.conns.get(&id).map(|c| c.bulk.clone()) else {
            return;
        };
        let mut sent = 0u64;
        while self.rib.has_pending() {
            let room = HIGH_WATER.saturating_sub(bulk.len());
            if room == 0 {
                if bulk.want_room() {
                    continue;
                }
                break;
            }
            match self.rib.next_updates(&params, room) {
                Ok(msgs) => {
                    sent += msgs.len() as u64;
                    bulk.push_all(msgs);
                }
                Err(e) => {
                    tracing::error!(peer = %self.settings.name, error = %e, "cannot build UPDATEs");
                    break;
                }
            }
        }
        let initial_done = match self.initial_since {
            Some(t) if !self.rib.owes_end_of_rib() => {
                self.initial_since = None;
                Some(t.elapsed().as_secs_f64() * 1000.0)
            }
            _ => None,
        };
        let mut st = self.status();
        st.messages_out.update += sent;
        st.prefixes_announced = self.rib.advertised_len() as u64;
        if initial_done.is_some() {
            st.initial_table_ms = initial_done;
        }
    }

    /// Splits a socket into reader and writer tasks and returns its id.
    fn attach(&mut self, stream: TcpStream) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0u8; 4]), 0));
        let _ = transport::set_stream_ttl(&stream, self.settings.endpoint.ttl);
        let (rd, wr) = stream.into_split();
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let bulk = Arc::new(BulkQueue::default());
        let (params_tx, params_rx) = watch::channel(None);
        let reader = tokio::spawn(conn::reader(rd, id, self.inbound_tx.clone(), params_rx));
        let writer = tokio::spawn(conn::writer(
            wr,
            id,
            ctrl_rx,
            bulk.clone(),
            self.events_tx.clone(),
        ));
        self.conns.insert(
            id,
            ConnHandle {
                ctrl: ctrl_tx,
                bulk,
                params: params_tx,
                send_params: SessionParams::default(),
                reader,
                writer,
                local,
            },
        );
        id
    }

    fn feed(&mut self, event: FsmEvent) {
        let actions = self.fsm.handle(Instant::now(), event);
        for a in actions {
            self.apply(a);
        }
    }

    fn apply(&mut self, action: Action) {
        let name = self.settings.name.clone();
        match action {
            Action::Connect => {
                let ep = self.settings.endpoint.clone();
                let tx = self.events_tx.clone();
                tokio::spawn(async move {
                    let r = transport::connect(&ep, DIAL_TIMEOUT).await;
                    let _ = tx.send(ConnEvent::Dialed(r));
                });
            }
            Action::Send(id, msg) => {
                let Some(c) = self.conns.get(&id) else { return };
                let bytes = match msg.to_bytes(&c.send_params) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(peer = %name, error = %e, "cannot encode message");
                        return;
                    }
                };
                if let Message::Notification(n) = &msg {
                    tracing::warn!(peer = %name, notification = %n, "sending NOTIFICATION");
                    self.status().last_error_sent = Some(n.to_string());
                }
                let kind = msg.kind();
                let sent = if kind == MessageType::Update {
                    c.bulk.push_all([bytes]);
                    true
                } else {
                    c.ctrl.send(WriteCmd::Data(bytes)).is_ok()
                };
                if sent {
                    self.status().messages_out.count(kind);
                }
            }
            Action::Close(id) => {
                self.close(id);
                self.timers.retain(|t, _| !matches!(t, Timer::Hold(i) | Timer::Keepalive(i) | Timer::SendHold(i) if *i == id));
            }
            Action::ArmTimer(t, d) => {
                self.timers.insert(t, Instant::now() + d);
            }
            Action::CancelTimer(t) => {
                self.timers.remove(&t);
            }
            Action::StateChanged { from, to } => {
                tracing::info!(peer = %name, %from, %to, "session state");
                self.status().state = to;
                let _ = self.broadcast.send(SessionEvent::StateChanged {
                    peer: name,
                    from,
                    to,
                });
            }
            Action::SetCodec(id, params) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.send_params = params.clone();
                    let _ = c.params.send(Some(params));
                }
            }
            Action::Established { conn, negotiated } => self.established(conn, *negotiated),
            Action::Down(reason) => {
                self.session = None;
                self.initial_since = None;
                self.rib.reset();
                {
                    let mut st = self.status();
                    st.established_at = None;
                    st.prefixes_announced = 0;
                    st.hold_time = None;
                    st.keepalive = None;
                    st.graceful_restart = None;
                }
                let text = match &reason {
                    DownReason::Sent(n) => format!("sent {n}"),
                    DownReason::Received(n) => format!("received {n}"),
                    DownReason::ConnectionClosed => "connection closed".to_string(),
                    DownReason::Stopped => "stopped".to_string(),
                };
                tracing::warn!(peer = %name, reason = %text, "session down");
                let _ = self.broadcast.send(SessionEvent::Down {
                    peer: name,
                    reason: text,
                });
            }
            Action::ResendRoutes { family, enhanced } => {
                if self.session.is_none() {
                    return;
                }
                // Marks the family for re-sending; requests that arrive
                // while a pass runs cost one more pass, not one each.
                self.rib.request_refresh(family, enhanced);
                self.pump();
            }
            Action::UpdateReceived(u) => {
                let mut st = self.status();
                st.updates_received += 1;
                st.prefixes_received += u.announced().count() as u64;
                st.withdrawals_received += u.withdrawn_all().count() as u64;
                if let Some(a) = u.error_action() {
                    st.malformed_updates_received += 1;
                    drop(st);
                    tracing::warn!(peer = %name, action = ?a, errors = ?u.errors.iter().map(ToString::to_string).collect::<Vec<_>>(), "malformed UPDATE handled per RFC 7606");
                    if let ErrorAction::AfiSafiDisable(f) = a {
                        // We keep no routes from the peer, so disabling the
                        // family for input costs nothing; our announcements
                        // on it continue.
                        tracing::warn!(peer = %name, family = %f, "ignoring further input for family");
                    }
                }
            }
        }
    }

    /// Routes that can never be sent: one log line each, and a count.
    fn report_rejected(&self, rejected: &[(ipnet::IpNet, String)]) {
        for (prefix, why) in rejected {
            tracing::error!(peer = %self.settings.name, %prefix, reason = %why, "route not announced");
        }
        self.status().prefixes_rejected = rejected.len() as u64;
    }

    fn established(&mut self, conn: ConnId, negotiated: Negotiated) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let local = c.local.ip();
        let (v4, v6) = match local {
            IpAddr::V4(a) => (Some(a), None),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (Some(v4), None),
                None => (None, Some(a)),
            },
        };
        let link_local = match (v6, self.settings.endpoint.address) {
            (Some(l), IpAddr::V6(p)) if self.settings.link_local_next_hop => {
                transport::link_local_for(l, p)
            }
            _ => None,
        };
        let ctx = ExportContext {
            local_as: self.settings.fsm.local_as,
            ebgp: negotiated.params.ebgp,
            next_hop_v4: v4,
            next_hop_v6: v6,
            link_local_v6: link_local,
            families: negotiated.families.clone(),
            extended_next_hop: negotiated.extended_next_hop,
            params: negotiated.params.clone(),
        };
        let started = Instant::now();
        let rejected = self.rib.set_table(&ctx, self.table.clone());
        self.report_rejected(&rejected);
        self.rib.start(&negotiated.families);
        {
            let mut st = self.status();
            st.established_at = Some(started);
            st.established_count += 1;
            st.hold_time = Some(negotiated.hold_time);
            st.graceful_restart = match (
                self.settings.fsm.graceful_restart,
                &negotiated.peer_graceful_restart,
            ) {
                (Some(ours), Some(theirs)) => Some(crate::status::GracefulRestartStatus {
                    restart_time: ours
                        .restart_time
                        .min(bgp_proto::fsm::graceful::MAX_RESTART_TIME),
                    notification: theirs.notification,
                }),
                _ => None,
            };
            st.keepalive = Some(negotiated.keepalive);
            st.local_address = Some(local.to_string());
            st.prefixes_desired = self.rib.desired_len() as u64;
            st.prefixes_announced = self.rib.advertised_len() as u64;
        }
        tracing::info!(
            peer = %self.settings.name,
            remote_as = negotiated.remote_as,
            remote_id = %negotiated.remote_id,
            hold = negotiated.hold_time,
            families = ?negotiated.families.iter().map(ToString::to_string).collect::<Vec<_>>(),
            routes = self.rib.desired_len(),
            "session established"
        );
        let _ = self.broadcast.send(SessionEvent::Established {
            peer: self.settings.name.clone(),
        });
        self.session = Some((conn, negotiated, ctx));
        // The table goes out as the socket takes it; initial_table_ms is
        // set when the last End-of-RIB has been queued.
        self.initial_since = Some(started);
        self.pump();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
