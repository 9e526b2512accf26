//! Graceful restart (RFC 4724 §4.1) as the restarting speaker: after a
//! restart with a state file, the routes of the persisted allocations go
//! out first, then End-of-RIB, and only then anything allocated since. The
//! helper (the router) kept those routes as stale while we were away and
//! flushes what End-of-RIB did not refresh, so a VIP deleted while the
//! speaker was down is gone then, and a VIP kept never disappears.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Runner;

/// The allocations of the state file the process started with, whose
/// routes alone go out until every session has sent its End-of-RIB.
pub(super) struct RestartHold {
    /// (Service, address) pairs: an address the file gave to a Service that
    /// is gone now and that another Service took is a new allocation too.
    persisted: BTreeSet<(String, IpAddr)>,
    /// After the restart time the helper has flushed our stale routes
    /// anyway: nothing is gained by holding new ones longer.
    until: Instant,
}

impl Runner {
    /// Starts the restart hold: the state as loaded is what was announced
    /// before the restart.
    pub(super) fn begin_restart(&mut self, restart_time: Duration) {
        let persisted: BTreeSet<(String, IpAddr)> = self
            .previous()
            .services
            .iter()
            .flat_map(|(svc, a)| a.ips.iter().map(move |ip| (svc.clone(), *ip)))
            .collect();
        tracing::info!(
            addresses = persisted.len(),
            restart_time_s = restart_time.as_secs(),
            "graceful restart: re-announcing the persisted allocations first"
        );
        self.restart = Some(RestartHold {
            persisted,
            until: Instant::now() + restart_time,
        });
    }

    /// The addresses whose routes are held back: allocations not yet
    /// persisted, and during a restart hold every allocation the state
    /// file did not hold at start.
    pub(super) fn held(&self) -> BTreeSet<IpAddr> {
        let mut held = self.unpersisted();
        if let Some(r) = &self.restart {
            for (svc, a) in self.live.alloc.iter().flat_map(|a| a.assignments()) {
                let svc = svc.to_string();
                held.extend(
                    a.ips
                        .iter()
                        .map(|x| x.ip)
                        .filter(|ip| !r.persisted.contains(&(svc.clone(), *ip))),
                );
            }
        }
        held
    }

    /// Ends the restart hold once every session has queued its End-of-RIB
    /// (or the restart time is over), and announces what it held.
    pub(super) async fn check_restart(&mut self, now: Instant) {
        let Some(r) = &self.restart else { return };
        let status = self.shared.speaker.status();
        let all_sent = status.iter().all(|p| p.initial_table_ms.is_some());
        let timed_out = now >= r.until;
        if !all_sent && !timed_out {
            return;
        }
        self.restart = None;
        self.shared.speaker.set_restarting(false);
        if all_sent {
            tracing::info!(
                peers = status.len(),
                "graceful restart: End-of-RIB sent to every peer; announcing new allocations"
            );
        } else {
            tracing::warn!(
                waiting = ?status.iter().filter(|p| p.initial_table_ms.is_none()).map(|p| p.name.as_str()).collect::<Vec<_>>(),
                "graceful restart: restart time over before every peer had its End-of-RIB; announcing new allocations"
            );
        }
        self.announce().await;
    }
}
