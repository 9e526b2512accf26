//! Compact stores fed by watch events: each object is projected into the
//! record the controller reads (a Service into metallb-api's
//! [`ServiceRecord`], a Namespace into its name and labels) before it is
//! kept, so a store never holds a full object, its managedFields or its
//! last-applied annotation.
//!
//! A relist (the watch restarted) is buffered and swapped in at its end,
//! so a pass never sees half a list.

use kube::runtime::watcher::Event;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// `namespace/name` of a stored object (namespace empty when cluster-scoped).
pub type Key = (String, String);

/// The objects of one kind, projected.
#[derive(Debug)]
pub struct Store<V> {
    items: HashMap<Key, V>,
    relist: Option<HashMap<Key, V>>,
    /// Whether the first full list has been seen.
    pub ready: bool,
    /// Bumped on every applied change (for passes that skip unchanged input).
    pub generation: u64,
    /// Keys changed since [`Store::take_changes`].
    dirty: HashSet<Key>,
    /// A relist ended since [`Store::take_changes`] (anything may differ).
    relisted: bool,
}

impl<V> Default for Store<V> {
    fn default() -> Self {
        Store {
            items: HashMap::new(),
            relist: None,
            ready: false,
            generation: 0,
            dirty: HashSet::new(),
            relisted: false,
        }
    }
}

impl<V> Store<V> {
    /// Applies one watch event; `project` turns an object into its key and
    /// record. Returns true when the visible contents may have changed.
    pub fn apply<K>(&mut self, ev: Event<K>, project: impl Fn(K) -> (Key, V)) -> bool {
        match ev {
            Event::Apply(o) => {
                let (k, v) = project(o);
                self.dirty.insert(k.clone());
                self.items.insert(k, v);
            }
            Event::Delete(o) => {
                let (k, _) = project(o);
                self.items.remove(&k);
                self.dirty.insert(k);
            }
            Event::Init => {
                self.relist = Some(HashMap::new());
                return false;
            }
            Event::InitApply(o) => {
                let (k, v) = project(o);
                // An InitApply outside a relist (should not happen) is an
                // ordinary change.
                match self.relist.as_mut() {
                    Some(buf) => {
                        buf.insert(k, v);
                        return false;
                    }
                    None => {
                        self.dirty.insert(k.clone());
                        self.items.insert(k, v);
                    }
                }
            }
            Event::InitDone => {
                if let Some(buf) = self.relist.take() {
                    self.items = buf;
                }
                self.ready = true;
                self.relisted = true;
            }
        }
        self.generation += 1;
        true
    }

    /// The keys changed since the last call, and whether a relist ended
    /// meanwhile (then the keys are not the whole story).
    pub fn take_changes(&mut self) -> (Vec<Key>, bool) {
        let keys = self.dirty.drain().collect();
        (keys, std::mem::take(&mut self.relisted))
    }

    /// The record of `key`.
    pub fn get(&self, key: &Key) -> Option<&V> {
        self.items.get(key)
    }

    /// Every record.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.values()
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A store shared between its watch task and the pass.
pub type Shared<V> = Arc<Mutex<Store<V>>>;

/// Locks a shared store. A poisoned lock (a panic while holding it) still
/// holds consistent data: every change is a single map operation.
pub fn lock<V>(s: &Shared<V>) -> MutexGuard<'_, Store<V>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &'static str) -> (Key, &'static str) {
        ((String::new(), s.to_string()), s)
    }

    #[test]
    fn relist_replaces_contents_only_when_complete() {
        let mut st: Store<&str> = Store::default();
        st.apply(Event::Init, kv);
        st.apply(Event::InitApply("a"), kv);
        assert!(!st.ready, "not ready before InitDone");
        assert!(st.is_empty(), "a half relist is not visible");
        st.apply(Event::InitDone, kv);
        assert!(st.ready);
        assert_eq!(st.len(), 1);
        st.apply(Event::Apply("b"), kv);
        // The watch restarts; "a" was deleted meanwhile.
        st.apply(Event::Init, kv);
        st.apply(Event::InitApply("b"), kv);
        assert_eq!(st.len(), 2, "old contents stay until the relist ends");
        st.apply(Event::InitDone, kv);
        assert_eq!(st.values().copied().collect::<Vec<_>>(), ["b"]);
        assert!(st.take_changes().1, "a relist is reported");
    }

    #[test]
    fn delete_removes_by_key() {
        let mut st: Store<&str> = Store::default();
        st.apply(Event::Apply("a"), kv);
        let g = st.generation;
        assert!(st.apply(Event::Delete("a"), kv));
        assert!(st.get(&(String::new(), "a".into())).is_none());
        assert!(st.generation > g);
        let (keys, relisted) = st.take_changes();
        assert_eq!(keys, [(String::new(), "a".to_string())]);
        assert!(!relisted);
        assert_eq!(st.take_changes(), (vec![], false), "changes are taken once");
    }
}
