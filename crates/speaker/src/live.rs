//! The allocator of a running speaker, kept alive across reloads and
//! synced from the Service diff (see `desired::compute_with`).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::Path;

use allocator::{Allocator, Assignment, IpAddressPool, ServiceKey};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use crate::state::{write_document, Allocation, AllocationState, Allocations, StateFileError};

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
    /// The runner reads each reload's allocation changes from the
    /// allocator ([`Allocator::take_changes`]): an allocator made anew
    /// tracks them from the start.
    pub(crate) track: bool,
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
            None => Allocator::new(&pools).map(|a| self.install(a)),
        };
        if let Err(e) = installed {
            // Validation already checked the pools; if the allocator still
            // refuses them, run with none so every Service says why.
            self.pools_note = Some(format!("address pools rejected by the allocator: {e}"));
            let none = match self.alloc.as_mut() {
                Some(a) => a.set_pools(&[]).map(|_| ()),
                None => Allocator::new(&[]).map(|a| self.install(a)),
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

impl LiveAllocator {
    fn install(&mut self, mut a: Allocator) {
        if self.track {
            a.track_changes();
        }
        self.alloc = Some(a);
    }

    /// From now on every change of an allocation is kept for
    /// [`Allocator::take_changes`] (the runner's diff of a reload).
    pub(crate) fn track_changes(&mut self) {
        self.track = true;
        if let Some(a) = self.alloc.as_mut() {
            if !a.is_tracking_changes() {
                a.track_changes();
            }
        }
    }

    /// The allocation of `namespace/name` (a state file key) in force.
    #[cfg(test)]
    pub(crate) fn allocation_at(&self, key: &str) -> Option<Allocation> {
        let (namespace, name) = key.split_once('/')?;
        self.allocation(namespace, name)
    }

    /// The assignment of `namespace/name` (a state file key), looked up
    /// through `buf` (reused across calls: no allocation per lookup).
    pub(crate) fn assignment_at<'a>(
        &'a self,
        key: &str,
        buf: &mut ServiceKey,
    ) -> Option<&'a Assignment> {
        let (namespace, name) = key.split_once('/')?;
        buf.namespace.clear();
        buf.namespace.push_str(namespace);
        buf.name.clear();
        buf.name.push_str(name);
        self.alloc.as_ref()?.assignment(buf)
    }

    /// Every assignment, in the state file's order (by `namespace/name` as
    /// one string, which is not the order of [`ServiceKey`] when a
    /// namespace is a prefix of another).
    pub(crate) fn in_file_order(&self) -> Vec<(&ServiceKey, &Assignment)> {
        let Some(a) = &self.alloc else {
            return Vec::new();
        };
        let mut all: Vec<(&ServiceKey, &Assignment)> = a.assignments().collect();
        all.sort_by(|x, y| file_order(x.0, y.0));
        all
    }

    /// Whether the allocations in force are exactly `state`'s.
    pub(crate) fn holds_exactly(&self, state: &AllocationState) -> bool {
        let all = self.in_file_order();
        all.len() == state.len()
            && all.iter().zip(&state.services).all(|((k, a), (sk, sa))| {
                same_key(k, sk) && a.pool() == sa.pool && same_ips(a, &sa.ips)
            })
    }

    /// Writes the allocations in force as the state file, streamed from
    /// the allocator (the same document `AllocationState::save` writes).
    pub(crate) fn save_state(&self, path: &Path) -> Result<(), StateFileError> {
        write_document(path, &Body(self.in_file_order()))
    }
}

impl Allocations for LiveAllocator {
    fn allocation(&self, namespace: &str, name: &str) -> Option<Allocation> {
        let a = self
            .alloc
            .as_ref()?
            .assignment(&ServiceKey::new(namespace, name))?;
        Some(allocation_of(a))
    }
}

/// An assignment as the state file holds it.
pub(crate) fn allocation_of(a: &Assignment) -> Allocation {
    Allocation {
        ips: a.addresses(),
        pool: a.pool().to_string(),
    }
}

/// Whether an assignment (or none) is what the state file holds (or not).
pub(crate) fn same_allocation(a: Option<&Assignment>, saved: Option<&Allocation>) -> bool {
    match (a, saved) {
        (None, None) => true,
        (Some(a), Some(s)) => a.pool() == s.pool && same_ips(a, &s.ips),
        _ => false,
    }
}

fn same_ips(a: &Assignment, ips: &[std::net::IpAddr]) -> bool {
    a.ips.len() == ips.len() && a.ips.iter().zip(ips).all(|(x, y)| x.ip == *y)
}

fn same_key(k: &ServiceKey, s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(ns, name)| ns == k.namespace && name == k.name)
}

/// `namespace/name` byte order, without building the strings.
fn file_order(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    // Equal namespaces (the usual case) compare by name alone.
    if a.namespace == b.namespace {
        return a.name.cmp(&b.name);
    }
    path_bytes(a).cmp(path_bytes(b))
}

fn path_bytes(k: &ServiceKey) -> impl Iterator<Item = u8> + '_ {
    let (ns, name) = (k.namespace.bytes(), k.name.bytes());
    ns.chain(std::iter::once(b'/')).chain(name)
}

/// The state file's document (`{"version": 1, "services": {...}}`), its
/// fields in the order `AllocationState` declares them.
struct Body<'a>(Vec<(&'a ServiceKey, &'a Assignment)>);

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AllocationState", 2)?;
        st.serialize_field("version", &crate::state::VERSION)?;
        st.serialize_field("services", &Services(&self.0))?;
        st.end()
    }
}

struct Services<'a, 'b>(&'b [(&'a ServiceKey, &'a Assignment)]);

impl Serialize for Services<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, a)| (Key(k), Entry(a))))
    }
}

/// A Service key as the state file writes it: `namespace/name`.
struct Key<'a>(&'a ServiceKey);

impl Serialize for Key<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// One assignment as an `Allocation` (`ips`, then `pool`).
struct Entry<'a>(&'a Assignment);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Allocation", 2)?;
        st.serialize_field("ips", &Ips(self.0))?;
        st.serialize_field("pool", self.0.pool())?;
        st.end()
    }
}

struct Ips<'a>(&'a Assignment);

impl Serialize for Ips<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.ips.iter().map(|x| x.ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator::{Family, IpFamilyPolicy, PoolSpec, ServiceRequest};

    /// A state file as main's `AllocationState::save` wrote it (before the
    /// runner streamed it from the allocator): `a-x/...` sorts before
    /// `a/...` as a string, after it as a `ServiceKey`.
    const MAIN_FILE: &str = r#"{
  "version": 1,
  "services": {
    "a-x/db": {
      "ips": [
        "2001:db8::",
        "198.51.100.0"
      ],
      "pool": "dual"
    },
    "a/web": {
      "ips": [
        "192.0.2.7"
      ],
      "pool": "default"
    },
    "b/api": {
      "ips": [
        "192.0.2.0"
      ],
      "pool": "default"
    }
  }
}"#;

    fn live_from(state: &AllocationState) -> LiveAllocator {
        let pools = vec![
            IpAddressPool::new("default", PoolSpec::new(["192.0.2.0/24"])),
            IpAddressPool::new("dual", PoolSpec::new(["198.51.100.0/24", "2001:db8::/64"])),
        ];
        let mut live = LiveAllocator::default();
        let alloc = live.with_pools(pools).unwrap();
        let req = |ns: &str, name: &str| {
            let key = ServiceKey::new(ns, name);
            if ns == "a-x" {
                ServiceRequest::dual(key, IpFamilyPolicy::RequireDualStack, Family::V6)
            } else {
                ServiceRequest::new(key, Family::V4)
            }
        };
        alloc.sync_quiet(state.services.iter().map(|(k, a)| {
            let (ns, name) = k.split_once('/').unwrap();
            (req(ns, name), a.ips.clone())
        }));
        live
    }

    #[test]
    fn a_state_file_of_main_loads_and_is_written_back_byte_for_byte_from_the_allocator() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.json");
        std::fs::write(&main, MAIN_FILE).unwrap();
        let loaded = AllocationState::load(&main).unwrap();
        assert_eq!(loaded.len(), 3);
        let live = live_from(&loaded);
        assert!(live.holds_exactly(&loaded), "every allocation restored");
        let ours = dir.path().join("ours.json");
        live.save_state(&ours).unwrap();
        assert_eq!(std::fs::read_to_string(&ours).unwrap(), MAIN_FILE);
        // And the document the loaded state itself writes is that one too.
        let again = dir.path().join("again.json");
        loaded.save(&again).unwrap();
        assert_eq!(std::fs::read_to_string(&again).unwrap(), MAIN_FILE);
    }

    #[test]
    fn allocations_are_read_from_the_allocator_by_state_file_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.json");
        std::fs::write(&main, MAIN_FILE).unwrap();
        let loaded = AllocationState::load(&main).unwrap();
        let live = live_from(&loaded);
        assert_eq!(
            live.allocation_at("a/web"),
            loaded.services.get("a/web").cloned()
        );
        assert_eq!(live.allocation("a-x", "db"), loaded.allocation("a-x", "db"));
        assert_eq!(live.allocation_at("a/none"), None);
        assert_eq!(live.allocation_at("no-slash"), None);
        let mut other = loaded.clone();
        other.services.get_mut("b/api").unwrap().pool = "dual".into();
        assert!(!live.holds_exactly(&other), "a pool differs");
    }
}
