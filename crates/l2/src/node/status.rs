//! The status snapshot the node task publishes (a `watch` of an `Arc`, so
//! `NodeHandle::status` costs one clone and never waits for the task).

use crate::membership::FenceState;

use super::state::Node;
use super::types::{NodeStatus, VipStatus};

impl Node {
    pub fn snapshot(&self) -> NodeStatus {
        let alive = self.membership.alive();
        let vips = self
            .plan
            .vips
            .iter()
            .map(|v| {
                let c = self.responder.counters_for(v.ip);
                VipStatus {
                    ip: v.ip,
                    winner: v.election.winner().map(str::to_owned),
                    candidates: v.election.candidates().to_vec(),
                    reason: match &v.election {
                        crate::election::Election::NoCandidate(why) => Some(why.to_string()),
                        crate::election::Election::Winner { .. } => None,
                    },
                    announcing_on: self
                        .answering
                        .get(&v.ip)
                        .into_iter()
                        .flatten()
                        .filter_map(|i| self.links.get(i).map(|l| l.state.name.clone()))
                        .collect(),
                    requests_received: c.requests_received,
                    responses_sent: c.responses_sent,
                    gratuitous_sent: self.gratuitous.get(&v.ip).copied().unwrap_or(0),
                }
            })
            .collect();
        let fenced = match self.membership.fence() {
            None => Some("membership has not started".to_string()),
            Some(FenceState::Clear { .. }) => None,
            Some(state) => Some(state.to_string()),
        };
        let mut drops: Vec<(&'static str, u64)> = self
            .responder
            .drops()
            .map(|(reason, n)| (reason.name(), n))
            .collect();
        let c = self.counters;
        drops.extend([
            ("port_queue_full", c.port_queue_full),
            ("socket_error", c.socket_errors),
            ("port_open_failed", c.port_open_failed),
            ("membership_rejected", c.membership_rejected),
            ("membership_send_failed", c.membership_send_failed),
            (
                "inbound_queue_full",
                self.inbound_dropped
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        ]);
        NodeStatus {
            vips,
            members: self
                .members
                .iter()
                .map(|m| (m.clone(), alive.contains(m)))
                .collect(),
            fenced,
            interfaces: self.links.values().map(|l| l.state.name.clone()).collect(),
            drops,
            failover_seconds: self.failover.iter().copied().collect(),
        }
    }
}
