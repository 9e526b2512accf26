//! Graceful restart with oxlb as the restarting speaker (RFC 4724, RFC
//! 8538): the capability we offer, and which NOTIFICATION ends a session
//! so that the helper (the router) keeps or flushes our routes.
//!
//! oxlb forwards no traffic itself: the VIPs' packets are handled by the
//! node's data plane, which lives on while the speaker restarts. So the
//! forwarding state is preserved by construction and the F bit is set for
//! every family when the operator enables graceful restart.

use super::{
    Action, ConnId, ConnState, DownReason, Negotiated, SessionConfig, SessionFsm, SessionState,
    Timer,
};
use crate::capability::{Capability, GracefulRestart, GracefulRestartFamily};
use crate::message::Message;
use crate::notification::{CeaseSubcode, ErrorCode, Notification};

/// FRR's default restart time, which MetalLB's FRR mode inherits.
pub const DEFAULT_RESTART_TIME: u16 = 120;

/// RFC 4724 §3: the restart time field has 12 bits.
pub const MAX_RESTART_TIME: u16 = 0x0fff;

/// What we offer when graceful restart is enabled for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartConfig {
    /// Seconds the helper should keep our routes after the session is lost
    /// (RFC 4724 §3 Restart Time); values above 4095 are sent as 4095.
    pub restart_time: u16,
    /// The F bit of every family we offer.
    pub forwarding_preserved: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: DEFAULT_RESTART_TIME,
            forwarding_preserved: true,
        }
    }
}

/// The capability for our OPEN; `restarting` is true until the first
/// session after a restart with announced routes is up.
pub(super) fn capability(config: &SessionConfig, restarting: bool) -> Option<Capability> {
    let gr = config.graceful_restart?;
    Some(Capability::GracefulRestart(GracefulRestart {
        // RFC 4724 §4.1: the restarting speaker sets the Restart State bit
        // in the OPEN it sends after the restart.
        restarting,
        // RFC 8538 §2: we support NOTIFICATION-based graceful restart, so
        // the N bit is always set with the capability.
        notification: true,
        other_flags: 0,
        restart_time: gr.restart_time.min(MAX_RESTART_TIME),
        // RFC 4724 §3: one entry per family we can restart gracefully,
        // each with its Forwarding State bit.
        families: config
            .families
            .iter()
            .map(|f| GracefulRestartFamily {
                family: *f,
                forwarding_preserved: gr.forwarding_preserved,
                other_flags: 0,
            })
            .collect(),
    }))
}

/// True when both OPENs carried the graceful restart capability.
pub(super) fn negotiated(config: &SessionConfig, n: &Negotiated) -> bool {
    config.graceful_restart.is_some() && n.peer_graceful_restart.is_some()
}

/// True when both OPENs set the N bit (RFC 8538 §2): then every
/// NOTIFICATION but a Hard Reset keeps the graceful restart semantics.
pub(super) fn notification_negotiated(config: &SessionConfig, n: &Negotiated) -> bool {
    negotiated(config, n)
        && n.peer_graceful_restart
            .as_ref()
            .is_some_and(|g| g.notification)
}

/// The NOTIFICATION to put on the wire for `n` on a connection that
/// negotiated `negotiated` (None: its OPEN has not arrived).
pub(super) fn outgoing(
    config: &SessionConfig,
    negotiated: Option<&Negotiated>,
    n: Notification,
) -> Notification {
    let Some(neg) = negotiated else { return n };
    if !notification_negotiated(config, neg) {
        return n;
    }
    match n.code {
        // RFC 8538 §5: with the N bit exchanged, these Cease subcodes mean
        // the session is meant to be gone, so they are sent inside a Hard
        // Reset and the helper flushes our routes at once. (Administrative
        // Reset is left to the sender's choice; we use it, unwrapped, for a
        // restart: see [`restart_notification`].)
        ErrorCode::Cease(
            CeaseSubcode::MaximumPrefixesReached
            | CeaseSubcode::AdministrativeShutdown
            | CeaseSubcode::PeerDeconfigured,
        ) => Notification::hard_reset(&n),
        // RFC 8538 §3 lets the sender wrap any NOTIFICATION in a Hard
        // Reset. BFD Down is sent because the path failed: kept as stale,
        // our routes would draw traffic for the restart time, which is
        // what BFD is there to stop. So it goes inside a Hard Reset too.
        ErrorCode::Cease(CeaseSubcode::BfdDown) => Notification::hard_reset(&n),
        // RFC 8538 §4: any other NOTIFICATION keeps the graceful restart
        // semantics; the helper retains our routes as stale.
        _ => n,
    }
}

/// What a stop with restart intent sends on an established connection:
/// `Some` NOTIFICATION, or `None` for closing TCP without one.
pub(super) fn restart_notification(
    config: &SessionConfig,
    n: &Negotiated,
    reason: &str,
) -> Option<Notification> {
    if notification_negotiated(config, n) {
        // RFC 8538 §4: with the N bit on both sides a NOTIFICATION other
        // than Hard Reset starts the helper's graceful restart procedure,
        // so we can say why we leave. Administrative Reset is the Cease
        // RFC 8538 §5 leaves to the sender.
        Some(Notification::admin_reset(reason))
    } else if negotiated(config, n) {
        // RFC 4724 §4.2: without the N bit the helper starts its procedure
        // only when the TCP session ends without a NOTIFICATION.
        None
    } else {
        // No graceful restart on this session: the routes go either way,
        // so the peer is told plainly.
        Some(Notification::admin_shutdown(reason))
    }
}

impl SessionFsm {
    /// Marks this peer's next OPENs as sent by a restarting speaker (RFC
    /// 4724 §4.1 R bit), until a session is established.
    pub fn set_restarting(&mut self, restarting: bool) {
        self.restarting = restarting;
    }

    /// True while our OPENs carry the R bit.
    pub fn restarting(&self) -> bool {
        self.restarting
    }

    /// Ends every connection and goes Idle until the next Start. Each
    /// connection is told why (an Administrative Shutdown, inside a Hard
    /// Reset where RFC 8538 asks for one) unless `for_restart` and the
    /// session negotiated graceful restart ([`restart_notification`]).
    pub(super) fn stop(&mut self, reason: &str, for_restart: bool, out: &mut Vec<Action>) {
        self.started = false;
        let was_up = self.established().is_some();
        let plan: Vec<(ConnId, Option<Notification>)> = self
            .conns
            .iter()
            .map(|c| {
                let n = match (&c.negotiated, c.state) {
                    (Some(neg), ConnState::Established) if for_restart => {
                        restart_notification(&self.config, neg, reason)
                    }
                    (neg, _) => Some(outgoing(
                        &self.config,
                        neg.as_ref(),
                        Notification::admin_shutdown(reason),
                    )),
                };
                (c.id, n)
            })
            .collect();
        for (id, n) in plan {
            if let Some(n) = n {
                out.push(Action::Send(id, Message::Notification(n)));
            }
            self.drop_conn(id, out);
        }
        if was_up {
            out.push(Action::Down(DownReason::Stopped));
        }
        out.push(Action::CancelTimer(Timer::ConnectRetry));
        self.dialing = false;
        self.base = SessionState::Idle;
    }
}
