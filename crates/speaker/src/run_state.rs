//! The runner's view of the allocations: those in force are the live
//! allocator's (no second copy is kept); the runner keeps only what the
//! state file does not hold yet (`Runner::unsaved`, `Runner::saved_base`)
//! and, until the first computation, the state file as loaded
//! (`Runner::restore`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use allocator::{Assignment, ServiceKey};

use super::Runner;
use crate::desired::Desired;
use crate::live::{allocation_of, same_allocation};
use crate::state::{Allocation, AllocationState};

/// No allocation: what a computation restores from after the first.
static NOTHING: AllocationState = AllocationState {
    version: 0,
    services: BTreeMap::new(),
};

/// The allocations a computation restores from (`Runner::restore`): the
/// state file as loaded, until a computation with an allocator took them
/// in; after that the allocator holds every allocation itself.
pub(super) fn previous(restore: &Option<AllocationState>) -> &AllocationState {
    restore.as_ref().unwrap_or(&NOTHING)
}

impl Runner {
    /// [`previous`] of this runner.
    pub(super) fn previous(&self) -> &AllocationState {
        previous(&self.restore)
    }

    /// Records what a computation changed in the allocations in force (the
    /// allocator's): one log line per decision that changed, and each
    /// change remembered as unsaved. The computation's own copy of the
    /// allocations (`Desired::state`, `Desired::state_changes`) is dropped
    /// unread.
    pub(super) fn take_state_changes(&mut self, d: &mut Desired) {
        drop(std::mem::take(&mut d.state));
        d.state_changes = None;
        if self.live.alloc.is_none() {
            // No allocator ran: the allocations of the file stay in force.
            return;
        }
        match self.restore.take() {
            Some(loaded) => self.replace_state(loaded),
            None => {
                let changes = self.live.alloc.as_mut().and_then(|a| a.take_changes());
                self.apply_state_changes(changes.unwrap_or_default());
            }
        }
        self.live.track_changes();
    }

    /// The first computation: the allocator's allocations against the state
    /// file's (`loaded`), by a walk of both in file order. The file's
    /// content is kept whole (`saved_base`) rather than a note per Service
    /// (100k of them at a first start) until the file holds the new state.
    fn replace_state(&mut self, loaded: AllocationState) {
        let log = &mut self.state_log;
        let mut old = loaded.services.iter().peekable();
        for (key, a) in self.live.in_file_order() {
            let key = key.to_string();
            while let Some((gone, _)) = old.next_if(|(k, _)| **k < key) {
                log.push((gone.clone(), None));
            }
            let now = allocation_of(a);
            match old.next_if(|(k, _)| **k == key) {
                Some((_, before)) if before.ips == now.ips => {}
                _ => log.push((key, Some(now))),
            }
        }
        for (gone, _) in old {
            log.push((gone.clone(), None));
        }
        self.unsaved.clear();
        self.saved_base = Some(Arc::new(loaded));
    }

    /// Applies the allocations of the Services a reload touched (each with
    /// its allocation before, from the allocator's change list; the others
    /// kept theirs): work in the number of changes, not of Services.
    fn apply_state_changes(&mut self, changes: Vec<(ServiceKey, Option<Assignment>)>) {
        for (k, before) in changes {
            let before = before.as_ref().map(allocation_of);
            let now = self
                .live
                .alloc
                .as_ref()
                .and_then(|a| a.assignment(&k))
                .map(allocation_of);
            if before == now {
                continue;
            }
            let key = k.to_string();
            match now {
                Some(a) => {
                    let logged = before.as_ref().is_none_or(|b| b.ips != a.ips);
                    let in_file = match &self.saved_base {
                        Some(b) => b.services.get(&key),
                        None => before.as_ref(),
                    };
                    note_unsaved(&mut self.unsaved, &key, in_file);
                    if logged {
                        self.state_log.push((key, Some(a)));
                    }
                }
                None => {
                    if !self.unsaved.contains_key(&key) {
                        let in_file = match &self.saved_base {
                            Some(b) => b.services.get(&key).cloned(),
                            None => before,
                        };
                        self.unsaved.insert(key.clone(), in_file);
                    }
                    self.state_log.push((key, None));
                }
            }
        }
    }

    /// Drops the unsaved notes of Services whose allocation came back to
    /// what the file holds, and the whole-file copy once the allocator
    /// holds exactly it; true when the file holds the allocations in force.
    pub(super) fn file_is_current(&mut self) -> bool {
        let live = &self.live;
        let mut buf = ServiceKey::new("", "");
        self.unsaved
            .retain(|k, saved| !same_allocation(live.assignment_at(k, &mut buf), saved.as_ref()));
        if self.unsaved.is_empty()
            && self
                .saved_base
                .as_ref()
                .is_some_and(|b| live.holds_exactly(b))
        {
            self.saved_base = None;
        }
        self.unsaved.is_empty() && self.saved_base.is_none()
    }

    /// Writes the allocations in force to the state file, streamed from the
    /// allocator. On a multi-threaded runtime the worker is handed over
    /// to the others for the write (`block_in_place`); the allocator is not
    /// copied for a writer thread.
    pub(super) fn save_state(&self, path: &std::path::Path) -> Result<(), String> {
        let save = || self.live.save_state(path).map_err(|e| e.to_string());
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(save),
            _ => save(),
        }
    }

    /// Every (Service, IP) in force that the state file does not hold yet.
    pub(super) fn unpersisted(&self) -> BTreeSet<IpAddr> {
        let mut out = BTreeSet::new();
        let mut add = |ips: &mut dyn Iterator<Item = IpAddr>, saved: Option<&Allocation>| {
            for ip in ips {
                if !saved.is_some_and(|s| s.ips.contains(&ip)) {
                    out.insert(ip);
                }
            }
        };
        let Some(alloc) = self.live.alloc.as_ref() else {
            return out;
        };
        match &self.saved_base {
            // After a whole replacement: every Service against the file's.
            Some(base) => {
                for (k, a) in alloc.assignments() {
                    let svc = k.to_string();
                    let saved = match self.unsaved.get(&svc) {
                        Some(s) => s.as_ref(),
                        None => base.services.get(&svc),
                    };
                    add(&mut a.ips.iter().map(|x| x.ip), saved);
                }
            }
            None => {
                let mut buf = ServiceKey::new("", "");
                for (svc, saved) in &self.unsaved {
                    if let Some(a) = self.live.assignment_at(svc, &mut buf) {
                        add(&mut a.ips.iter().map(|x| x.ip), saved.as_ref());
                    }
                }
            }
        }
        out
    }

    /// Logs the allocation decisions of the last state change, one line
    /// per Service as before: `IP allocated` (with its IPs and pool) or
    /// `IP released`. Called once the routes are handed to the BGP engine,
    /// so a withdraw-all's 100k lines are formatted while the withdrawals
    /// go out, not before.
    pub(super) fn flush_state_log(&mut self) {
        for (key, a) in self.state_log.drain(..) {
            match a {
                Some(a) => {
                    tracing::info!(service = %key, ips = ?a.ips, pool = a.pool.as_str(), "IP allocated")
                }
                None => tracing::info!(service = %key, "IP released"),
            }
        }
        // A withdraw-all's list is not kept for the process's life.
        self.state_log.shrink_to(64);
    }
}

/// Remembers that `key`'s allocation changed from `before`, unless an
/// earlier unsaved change did (then the file still holds that one's).
fn note_unsaved(
    unsaved: &mut BTreeMap<String, Option<Allocation>>,
    key: &str,
    before: Option<&Allocation>,
) {
    if !unsaved.contains_key(key) {
        unsaved.insert(key.to_string(), before.cloned());
    }
}
