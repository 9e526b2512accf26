//! BFD's verdict on the path to the peer (RFC 9384 §2, RFC 5882 §4.3): a
//! BFD session that goes from Up to Down takes the BGP session down at
//! once with NOTIFICATION Cease / "BFD Down", and the peer is not dialled
//! (nor accepted) again until BFD reports Up.

use std::time::Instant;

use super::{Action, ConnId, Loss, SessionFsm, SessionState, Timer};
use crate::notification::{CeaseSubcode, Notification};

impl SessionFsm {
    /// True while BFD holds the session down.
    pub fn bfd_held(&self) -> bool {
        self.bfd_down
    }

    pub(super) fn on_bfd_down(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.bfd_down {
            return;
        }
        self.bfd_down = true;
        // RFC 9384 §2: every connection gets Cease subcode 10 and closes.
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            self.lose(
                now,
                id,
                Loss::Sent(Notification::cease(CeaseSubcode::BfdDown)),
                out,
            );
        }
        // RFC 5882 §4.3: no new session over a path BFD calls down.
        out.push(Action::CancelTimer(Timer::ConnectRetry));
        self.dialing = false;
        self.base = SessionState::Idle;
    }

    pub(super) fn on_bfd_up(&mut self, out: &mut Vec<Action>) {
        if !self.bfd_down {
            return;
        }
        self.bfd_down = false;
        if self.started && self.conns.is_empty() && !self.dialing {
            self.retries = 0;
            self.begin(out);
        }
    }
}
