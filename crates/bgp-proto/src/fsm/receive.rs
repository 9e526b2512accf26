//! Messages on a connection: the OPEN handshake with its checks,
//! negotiation and collision detection (RFC 4271 §6.2, §6.8, §8.2.2), and
//! what an established session receives.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Action, ConnId, ConnState, Direction, Loss, Negotiated, RemoteAs, SessionFsm, Timer};
use crate::capability::Capability;
use crate::message::Message;
use crate::notification::{CeaseSubcode, FsmSubcode, Notification, OpenSubcode};
use crate::open::{negotiate, Open};
use crate::route_refresh::{RefreshSubtype, RouteRefresh};
use crate::types::Family;

impl SessionFsm {
    pub(super) fn receive(
        &mut self,
        now: Instant,
        id: ConnId,
        msg: Message,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conn_mut(id) else { return };
        c.last_rx = now;
        let state = c.state;
        match (state, msg) {
            (_, Message::Notification(n)) => {
                // RFC 4271 §8.2.2: a NOTIFICATION in any state closes the
                // connection; nothing is sent back.
                self.lose(now, id, Loss::Received(n), out);
            }
            (ConnState::OpenSent, Message::Open(open)) => self.receive_open(now, id, open, out),
            (ConnState::OpenConfirm, Message::Keepalive) => {
                // RFC 4271 §6.8: only one connection may be established;
                // a second one reaching this point loses.
                if self.established().is_some() {
                    let n = Notification::cease(CeaseSubcode::ConnectionCollisionResolution);
                    self.fail(now, id, n, out);
                    return;
                }
                let Some(c) = self.conn_mut(id) else { return };
                c.state = ConnState::Established;
                c.up_since = Some(now);
                let negotiated = c.negotiated.clone();
                self.retries = 0;
                // RFC 4724 §4.1: the R bit belongs to the OPENs right after
                // the restart; later sessions are ordinary ones.
                self.restarting = false;
                // The other connection, if any, was never going to win.
                let others: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|c| c.id != id)
                    .map(|c| c.id)
                    .collect();
                for other in others {
                    out.push(Action::Send(
                        other,
                        Message::Notification(Notification::cease(
                            CeaseSubcode::ConnectionCollisionResolution,
                        )),
                    ));
                    self.drop_conn(other, out);
                }
                if let Some(n) = negotiated {
                    out.push(Action::Established {
                        conn: id,
                        negotiated: Box::new(n),
                    });
                }
            }
            (ConnState::Established, Message::Keepalive) => {}
            (ConnState::Established, Message::Update(u)) => {
                out.push(Action::UpdateReceived(Box::new(u)));
            }
            (ConnState::Established, Message::RouteRefresh(r)) => self.receive_refresh(id, r, out),
            // RFC 6608 §4: anything else is an FSM error naming the state.
            (ConnState::OpenSent, _) => self.fail(
                now,
                id,
                Notification::fsm(FsmSubcode::UnexpectedInOpenSent),
                out,
            ),
            (ConnState::OpenConfirm, _) => self.fail(
                now,
                id,
                Notification::fsm(FsmSubcode::UnexpectedInOpenConfirm),
                out,
            ),
            (ConnState::Established, Message::Open(_)) => self.fail(
                now,
                id,
                Notification::fsm(FsmSubcode::UnexpectedInEstablished),
                out,
            ),
        }
    }

    fn receive_refresh(&mut self, id: ConnId, r: RouteRefresh, out: &mut Vec<Action>) {
        let Some(n) = self.conn(id).and_then(|c| c.negotiated.as_ref()) else {
            return;
        };
        // RFC 7313 §4: a BoRR/EoRR from the peer concerns its own routes,
        // which we do not keep; an unknown subtype is ignored (§5).
        if r.subtype != RefreshSubtype::Request {
            return;
        }
        // RFC 2918 §4: a refresh for a family not negotiated is ignored.
        if !n.route_refresh || !n.families.contains(&r.family) {
            return;
        }
        out.push(Action::ResendRoutes {
            family: r.family,
            enhanced: n.enhanced_route_refresh,
        });
    }

    fn check_open(&self, open: &Open) -> Result<(), Notification> {
        open.validate()?;
        let asn = open.asn();
        // RFC 4271 §6.2: Bad Peer AS.
        let ok = match self.config.remote_as {
            RemoteAs::Fixed(a) => a == asn,
            RemoteAs::Internal => asn == self.config.local_as,
            RemoteAs::External => asn != self.config.local_as,
        };
        if !ok {
            return Err(Notification::open(OpenSubcode::BadPeerAs, Bytes::new()).at("OPEN my AS"));
        }
        // RFC 6286 §2.2: inside one AS the identifiers must differ.
        if asn == self.config.local_as && open.bgp_id == self.config.router_id {
            return Err(
                Notification::open(OpenSubcode::BadBgpIdentifier, Bytes::new())
                    .at("OPEN BGP identifier"),
            );
        }
        // RFC 6793 §4.1: a speaker without the 4-octet capability cannot
        // peer with a 4-octet AS of ours... it sees AS_TRANS, which is fine;
        // but its own AS_TRANS with no capability is bogus.
        if open.four_octet_as().is_none() && open.my_as == crate::types::AS_TRANS {
            return Err(Notification::open(OpenSubcode::BadPeerAs, Bytes::new()).at("OPEN my AS"));
        }
        Ok(())
    }

    fn receive_open(&mut self, now: Instant, id: ConnId, open: Open, out: &mut Vec<Action>) {
        if let Err(n) = self.check_open(&open) {
            self.fail(now, id, n, out);
            return;
        }
        let ours = self.config.open();
        let ebgp = open.asn() != self.config.local_as;
        let params = negotiate(&ours, &open, ebgp);
        let hold_time = self.config.hold_time.min(open.hold_time);
        let keepalive = if hold_time == 0 {
            0
        } else {
            self.config
                .keepalive
                .map(|k| k.min(hold_time / 3).max(1))
                .unwrap_or(hold_time / 3)
                .max(1)
        };
        let theirs: Vec<Family> = open
            .capabilities()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        let mut families: Vec<Family> = if theirs.is_empty() {
            // RFC 4760 §1: no MP capability means IPv4 unicast only.
            self.config
                .families
                .iter()
                .copied()
                .filter(|f| *f == Family::IPV4_UNICAST)
                .collect()
        } else {
            self.config
                .families
                .iter()
                .copied()
                .filter(|f| theirs.contains(f))
                .collect()
        };
        // The End-of-RIB markers and the export families come from this
        // list (RFC 4724 §2: one marker per family the session carries), so
        // a family listed twice in our config must not appear twice.
        let mut seen = Vec::with_capacity(families.len());
        families.retain(|f| {
            let first = !seen.contains(f);
            seen.push(*f);
            first
        });
        let has = |code| open.has_capability(code);
        let peer_graceful_restart = open.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        });
        let negotiated = Negotiated {
            params: params.clone(),
            remote_as: open.asn(),
            remote_id: open.bgp_id,
            hold_time,
            keepalive,
            families,
            route_refresh: has(crate::capability::CAP_ROUTE_REFRESH),
            enhanced_route_refresh: has(crate::capability::CAP_ENHANCED_ROUTE_REFRESH),
            extended_next_hop: self.config.extended_next_hop && open.capabilities().any(|c| {
                matches!(c, Capability::ExtendedNextHop(v) if v.iter().any(|e| {
                    e.nlri_afi == crate::types::AFI_IPV4 && e.next_hop_afi == crate::types::AFI_IPV6
                }))
            }),
            peer_graceful_restart,
            remote_open: open,
        };

        // RFC 4271 §6.8: connection collision. When an OPEN arrives, the
        // other connection takes part only if its own OPEN has arrived too
        // (OpenConfirm, or Established): a connection still in OpenSent may
        // belong to someone else entirely, and is judged when its OPEN
        // comes (then this one is in OpenConfirm).
        let remote_id = u32::from(negotiated.remote_id);
        let local_id = u32::from(self.config.router_id);
        let remote_as = negotiated.remote_as;
        let this_dir = self.conn(id).map(|c| c.dir);
        let other = self
            .conns
            .iter()
            .find(|c| c.id != id && c.state != ConnState::OpenSent)
            .map(|c| (c.id, c.dir, c.state));
        if let (Some(this_dir), Some((other_id, other_dir, other_state))) = (this_dir, other) {
            if other_state == ConnState::Established {
                self.fail(
                    now,
                    id,
                    Notification::cease(CeaseSubcode::ConnectionCollisionResolution),
                    out,
                );
                return;
            }
            if other_dir != this_dir {
                // RFC 4271 §6.8: the side with the higher BGP Identifier
                // keeps the connection it initiated. RFC 6286 §2.3: with
                // equal identifiers (possible only between ASes, §2.2), the
                // side with the larger AS number keeps the connection it
                // initiated.
                let keep_ours = if local_id != remote_id {
                    local_id > remote_id
                } else {
                    self.config.local_as > remote_as
                };
                let close_this = (this_dir == Direction::Outgoing) != keep_ours;
                let loser = if close_this { id } else { other_id };
                self.fail(
                    now,
                    loser,
                    Notification::cease(CeaseSubcode::ConnectionCollisionResolution),
                    out,
                );
                if close_this {
                    return;
                }
            }
        }

        let Some(c) = self.conn_mut(id) else { return };
        c.state = ConnState::OpenConfirm;
        c.hold = Duration::from_secs(u64::from(hold_time));
        c.negotiated = Some(negotiated);
        out.push(Action::SetCodec(id, params));
        out.push(Action::Send(id, Message::Keepalive));
        if hold_time == 0 {
            out.push(Action::CancelTimer(Timer::Hold(id)));
        } else {
            out.push(Action::ArmTimer(
                Timer::Hold(id),
                Duration::from_secs(u64::from(hold_time)),
            ));
            out.push(Action::ArmTimer(
                Timer::Keepalive(id),
                Duration::from_secs(u64::from(keepalive)),
            ));
        }
    }
}
