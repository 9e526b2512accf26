//! A member list replaced while the core runs (`Event::Members`): in
//! Kubernetes mode the speaker Pods come and go, and the node must follow
//! without a restart (which would reset every proof and fence it).

use std::collections::HashMap;

use super::config::{ConfigError, Member};
use super::core::{Membership, Peer};
use super::events::{Action, DownReason};

impl Membership {
    /// Replaces the member list after checking it as `Membership::new`
    /// does (this node still in it, names and addresses unique). A peer
    /// kept under the same name and address keeps its proofs; one whose
    /// address changed starts unproven, as a new one does (its datagrams
    /// come from elsewhere now, so the old proofs say nothing about it).
    /// A removed peer that was alive goes `Down` (`Removed`). The fencing
    /// count follows the new list at the next evaluation.
    pub(super) fn set_members(
        &mut self,
        members: &[Member],
        out: &mut Vec<Action>,
    ) -> Result<(), ConfigError> {
        let mut cfg = self.cfg.clone();
        cfg.members = members.to_vec();
        cfg.validate()?;
        let mut old: HashMap<String, (usize, Peer)> = std::mem::take(&mut self.peers)
            .into_iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), (i, p)))
            .collect();
        // Old peer index -> new index, for the pings still awaiting echoes.
        let mut moved: HashMap<usize, usize> = HashMap::new();
        for m in members.iter().filter(|m| m.name != cfg.me) {
            let kept = old.remove(&m.name).and_then(|(i, p)| {
                if p.addr == m.addr {
                    Some((i, p))
                } else {
                    old.insert(m.name.clone(), (usize::MAX, p));
                    None
                }
            });
            let peer = match kept {
                Some((i, p)) => {
                    moved.insert(i, self.peers.len());
                    p
                }
                None => Peer::new(m.name.clone(), m.addr),
            };
            self.peers.push(peer);
        }
        let mut gone: Vec<Peer> = old.into_values().map(|(_, p)| p).collect();
        gone.sort_by(|a, b| a.name.cmp(&b.name));
        for p in gone.into_iter().filter(|p| p.alive) {
            out.push(Action::Down {
                node: p.name,
                reason: DownReason::Removed,
            });
        }
        self.sent = std::mem::take(&mut self.sent)
            .into_iter()
            .filter_map(|(seq, i, at)| moved.get(&i).map(|&j| (seq, j, at)))
            .collect();
        self.cfg = cfg;
        Ok(())
    }
}
