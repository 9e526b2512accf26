//! The allocator of a running speaker, kept alive across reloads and
//! synced from the Service diff (see `desired::compute_with`).

use std::collections::HashSet;

use allocator::{Allocator, IpAddressPool};

/// The allocator of a running speaker, kept across reloads. The first
/// computation restores every allocation (`sync`); later ones replace the
/// pools in place when they changed, release the Services that are gone and
/// converge only the Services whose request is new or changed, so one added
/// Service costs one allocation, not a resync of all of them.
#[derive(Default)]
pub struct LiveAllocator {
    pub(crate) alloc: Option<Allocator>,
    /// The pools the allocator holds (as configured, even when rejected).
    pub(crate) pools: Vec<IpAddressPool>,
    /// Why the configured pools are not in use, repeated on every compute.
    pub(crate) pools_note: Option<String>,
    /// Hash of the fields of every Service whose request the allocator last
    /// converged (the key is one of them): an unchanged Service is neither
    /// parsed nor converged again. Services whose request failed to parse
    /// are not in it and are parsed on every reload, to report why.
    pub(crate) seen: HashSet<u64>,
    /// Services converged or released by the last computation.
    pub last_touched: usize,
    /// The last [`LiveAllocator::with_pools`] changed the pools (which may
    /// move or drop any Service's addresses).
    pub(crate) pools_changed: bool,
}

impl LiveAllocator {
    /// Brings the pools up to `pools`; `None` when no allocator can run.
    pub(crate) fn with_pools(&mut self, pools: Vec<IpAddressPool>) -> Option<&mut Allocator> {
        self.pools_changed = false;
        if self.alloc.is_some() && self.pools == pools {
            return self.alloc.as_mut();
        }
        self.pools_changed = true;
        self.pools_note = None;
        let installed = match self.alloc.as_mut() {
            Some(a) => a.set_pools(&pools).map(|_| ()),
            None => Allocator::new(&pools).map(|a| self.alloc = Some(a)),
        };
        if let Err(e) = installed {
            // Validation already checked the pools; if the allocator still
            // refuses them, run with none so every Service says why.
            self.pools_note = Some(format!("address pools rejected by the allocator: {e}"));
            let none = match self.alloc.as_mut() {
                Some(a) => a.set_pools(&[]).map(|_| ()),
                None => Allocator::new(&[]).map(|a| self.alloc = Some(a)),
            };
            if let Err(e) = none {
                self.pools_note = Some(format!("allocator unavailable: {e}"));
                self.alloc = None;
                return None;
            }
        }
        self.pools = pools;
        self.alloc.as_mut()
    }
}
