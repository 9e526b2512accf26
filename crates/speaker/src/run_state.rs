//! The runner's allocation state between reloads: replaced whole (first
//! sync, pool change) or updated from a reload's changes, and what of it the
//! state file does not hold yet (`Runner::unsaved`, `Runner::saved_base`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Runner;
use crate::state::{Allocation, AllocationState};

impl Runner {
    /// Brings `self.state` to a whole new allocation state (the first
    /// computation, or one whose pools changed): one line per allocation
    /// decision that changed, found by a walk of the old and new states side
    /// by side (both in key order), each change remembered as unsaved.
    pub(super) fn replace_state(&mut self, new: AllocationState) {
        // The file holds the old state: keep it whole rather than a note
        // per Service (100k of them at a first start).
        let whole = self.unsaved.is_empty() && self.saved_base.is_none();
        let base = self.saved_base.clone();
        let unsaved = &mut self.unsaved;
        let log = &mut self.state_log;
        let mut note = |key: &str, before: Option<&Allocation>| {
            if !whole {
                let in_file = base.as_ref().map_or(before, |b| b.services.get(key));
                note_unsaved(unsaved, key, in_file);
            }
        };
        let mut old = self.state.services.iter().peekable();
        for (key, a) in &new.services {
            while let Some((gone, before)) = old.next_if(|(k, _)| *k < key) {
                log.push((gone.clone(), None));
                note(gone, Some(before));
            }
            match old.next_if(|(k, _)| *k == key) {
                Some((_, before)) if before == a => {}
                before => {
                    if before.is_none_or(|(_, b)| b.ips != a.ips) {
                        log.push((key.clone(), Some(a.clone())));
                    }
                    note(key, before.map(|(_, b)| b));
                }
            }
        }
        for (gone, before) in old {
            log.push((gone.clone(), None));
            note(gone, Some(before));
        }
        let old = std::mem::replace(&mut self.state, Arc::new(new));
        if whole {
            self.saved_base = Some(old);
        }
    }

    /// Applies the allocations of the Services a reload touched (the
    /// others kept theirs): work in the number of changes, not of Services.
    pub(super) fn apply_state_changes(&mut self, changes: Vec<(String, Option<Allocation>)>) {
        let state = Arc::make_mut(&mut self.state);
        for (key, new) in changes {
            let before = state.services.get(&key);
            if before == new.as_ref() {
                continue;
            }
            match new {
                Some(a) => {
                    let logged = before.is_none_or(|b| b.ips != a.ips);
                    let in_file = match &self.saved_base {
                        Some(b) => b.services.get(&key),
                        None => before,
                    };
                    note_unsaved(&mut self.unsaved, &key, in_file);
                    if logged {
                        self.state_log.push((key.clone(), Some(a.clone())));
                    }
                    state.services.insert(key, a);
                }
                None => {
                    // Released: the allocation moves from the state to
                    // `unsaved` when that is the file's copy (no clone of
                    // key or allocation: a withdraw-all releases 100k).
                    let Some((k, before)) = state.services.remove_entry(&key) else {
                        continue;
                    };
                    if !self.unsaved.contains_key(&key) {
                        let in_file = match &self.saved_base {
                            Some(b) => b.services.get(&key).cloned(),
                            None => Some(before),
                        };
                        self.unsaved.insert(k, in_file);
                    }
                    self.state_log.push((key, None));
                }
            }
        }
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
