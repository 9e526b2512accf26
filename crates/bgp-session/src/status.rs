//! Per-peer state and counters, as plain data for metrics and status pages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bgp_proto::fsm::SessionState;
use bgp_proto::MessageType;
use serde::Serialize;

/// Messages by type, one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl MessageCounts {
    pub fn count(&mut self, kind: MessageType) {
        let c = match kind {
            MessageType::Open => &mut self.open,
            MessageType::Update => &mut self.update,
            MessageType::Notification => &mut self.notification,
            MessageType::Keepalive => &mut self.keepalive,
            MessageType::RouteRefresh => &mut self.route_refresh,
        };
        *c += 1;
    }

    pub fn total(&self) -> u64 {
        self.open + self.update + self.notification + self.keepalive + self.route_refresh
    }
}

/// Everything the metrics layer shows about one peer.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub address: String,
    pub port: u16,
    #[serde(serialize_with = "ser_state")]
    pub state: SessionState,
    /// Seconds since the session was established (0 when not).
    pub uptime_secs: u64,
    #[serde(skip)]
    pub established_at: Option<Instant>,
    /// Times the session reached Established.
    pub established_count: u64,
    pub messages_in: MessageCounts,
    pub messages_out: MessageCounts,
    /// Prefixes the peer currently has from us.
    pub prefixes_announced: u64,
    /// Prefixes we want the peer to have (including ones not sent yet).
    pub prefixes_desired: u64,
    /// Routes left out because they cannot be sent on this session (their
    /// attributes do not fit in one UPDATE).
    pub prefixes_rejected: u64,
    /// UPDATEs and prefixes received (counted, never installed).
    pub updates_received: u64,
    pub prefixes_received: u64,
    /// Prefixes the peer withdrew (counted).
    pub withdrawals_received: u64,
    /// UPDATEs the peer sent that RFC 7606 made us discard or withdraw.
    pub malformed_updates_received: u64,
    pub last_error_sent: Option<String>,
    pub last_error_received: Option<String>,
    /// Negotiated hold time and keepalive (seconds) while up.
    pub hold_time: Option<u16>,
    pub keepalive: Option<u16>,
    pub local_address: Option<String>,
    /// Time from session established to the last route of the initial
    /// table handed to TCP, in milliseconds.
    pub initial_table_ms: Option<f64>,
    /// Why our most recent dial failed (None once a dial succeeds).
    pub last_connect_error: Option<String>,
    /// Failed dials by reason (`DialError::reason`).
    pub connect_failures: BTreeMap<String, u64>,
    /// Connections closed on arrival: a second inbound connection from the
    /// peer, one while established, or one the peer task had no room for.
    pub connections_rejected: u64,
    /// Graceful restart on the established session (RFC 4724): both OPENs
    /// carried the capability. None when down or not negotiated.
    pub graceful_restart: Option<GracefulRestartStatus>,
    /// BFD reported the path down: the session is held down (no dial, no
    /// accept) until BFD is Up again.
    pub bfd_held: bool,
}

/// What the established session negotiated for graceful restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GracefulRestartStatus {
    /// The restart time we offered (seconds): how long the peer keeps our
    /// routes if we go away without withdrawing them.
    pub restart_time: u16,
    /// Both sides set the RFC 8538 N bit: a NOTIFICATION other than Hard
    /// Reset keeps the routes too.
    pub notification: bool,
}

fn ser_state<S: serde::Serializer>(s: &SessionState, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.to_string())
}

impl PeerStatus {
    pub fn new(name: &str, address: String, port: u16) -> Self {
        PeerStatus {
            name: name.to_string(),
            address,
            port,
            state: SessionState::Idle,
            uptime_secs: 0,
            established_at: None,
            established_count: 0,
            messages_in: MessageCounts::default(),
            messages_out: MessageCounts::default(),
            prefixes_announced: 0,
            prefixes_desired: 0,
            prefixes_rejected: 0,
            updates_received: 0,
            prefixes_received: 0,
            withdrawals_received: 0,
            malformed_updates_received: 0,
            last_error_sent: None,
            last_error_received: None,
            hold_time: None,
            keepalive: None,
            local_address: None,
            initial_table_ms: None,
            last_connect_error: None,
            connect_failures: BTreeMap::new(),
            connections_rejected: 0,
            graceful_restart: None,
            bfd_held: false,
        }
    }

    /// A copy with `uptime_secs` filled in for `now`.
    pub fn snapshot(&self, now: Instant) -> PeerStatus {
        let mut s = self.clone();
        s.uptime_secs = self
            .established_at
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or(Duration::ZERO)
            .as_secs();
        s
    }
}
