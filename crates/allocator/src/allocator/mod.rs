//! The allocator: pools and service requests in, assignments, events and
//! typed errors out. Pure and deterministic: every ordered answer is sorted
//! by service key, every tie is broken by name, and nothing depends on call
//! history beyond the current assignments.
//!
//! Internals (for speed and memory at 100k+ services):
//! * services live in a slab and are referred to by a `u32` id; one hash
//!   table maps `namespace/name` to the id (the only string-keyed lookup on
//!   the hot path);
//! * per service only what later decisions need is stored ([`Spec`]: the
//!   wanted families, and for non-plain services labels, requested IPs,
//!   pool, sharing key, backend key and ports), not the whole request;
//! * per address only its users (ids) are stored; the address's pool and
//!   slot are recomputed from the assignment, its sharing and backend keys
//!   are those of its users (all users of an address have equal keys);
//! * event text is built lazily ([`EventMessage`]).

mod converge;
mod events;
mod place;
mod queries;
mod search;
mod sync;

use crate::error::{reasons, AllocError, FamilyLabel, IpList, SharingConflict};
use crate::family::{from_u128, go_quote_list, to_u128, Family};
use crate::index::{key_hash, FxBuild};
use crate::intervals::IntervalSet;
use crate::pool::{validate_pools, ConfigError, IpAddressPool, Pool};
use crate::request::{Port, ServiceKey, ServiceRequest, TrafficPolicy, Wanted};
use crate::selector::Labels;
use crate::stats::PoolStats;
use hashbrown::HashTable;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

pub use self::events::*;

// ----------------------------------------------------------------------
// Stored service state
// ----------------------------------------------------------------------

/// Interned service id: index into `Allocator::svcs`.
type Id = u32;

static EMPTY_LABELS: Labels = BTreeMap::new();

/// Labels stored compactly: a sorted slice, one allocation per string,
/// instead of a `BTreeMap` (whose first leaf node alone is ~540 bytes).
type CompactLabels = Box<[(Box<str>, Box<str>)]>;

fn compact(labels: &Labels) -> CompactLabels {
    labels
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect()
}

fn same_labels(labels: &Labels, c: &CompactLabels) -> bool {
    labels.len() == c.len()
        && labels
            .iter()
            .zip(c.iter())
            .all(|((k, v), (k2, v2))| **k == **k2 && **v == **v2)
}

fn expand(c: &CompactLabels) -> Cow<'static, Labels> {
    if c.is_empty() {
        Cow::Borrowed(&EMPTY_LABELS)
    } else {
        Cow::Owned(
            c.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

/// The parts of a request that only non-plain services have. Plain services
/// (no labels, no annotations, ETP=Cluster; ports or not) store none of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Extra {
    labels: CompactLabels,
    namespace_labels: CompactLabels,
    requested_ips: Box<[IpAddr]>,
    pool: Option<Box<str>>,
    sharing_key: Box<str>,
    backend_key: Box<str>,
}

/// A service's ports (what sharing checks compare): up to two inline,
/// which is nearly every Service, so the common Service with a port or
/// two needs no allocation for them (24 bytes either way).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ports {
    Inline(u8, [Port; 2]),
    Heap(Box<[Port]>),
}

impl Ports {
    fn of(ports: &[Port]) -> Ports {
        match ports {
            [] => Ports::Inline(0, [Port::tcp(0); 2]),
            [a] => Ports::Inline(1, [*a, Port::tcp(0)]),
            [a, b] => Ports::Inline(2, [*a, *b]),
            _ => Ports::Heap(ports.into()),
        }
    }

    fn as_slice(&self) -> &[Port] {
        match self {
            Ports::Inline(n, p) => &p[..usize::from(*n).min(2)],
            Ports::Heap(p) => p,
        }
    }
}

/// What later decisions (retry, pool changes, sharing checks by other
/// services) need to know about a service's request.
#[derive(Debug, Clone)]
struct Spec {
    want: Result<Wanted, Box<AllocError>>,
    ports: Ports,
    extra: Option<Box<Extra>>,
}

impl Spec {
    fn sharing_key(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.sharing_key)
    }

    fn ports(&self) -> &[Port] {
        self.ports.as_slice()
    }

    fn backend_key(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.backend_key)
    }
}

#[derive(Debug, Clone)]
struct Svc {
    key: ServiceKey,
    spec: Spec,
    assignment: Option<Assignment>,
    last_error: Option<Box<AllocError>>,
    /// In `Allocator::pending`.
    pending: bool,
}

/// A borrowed view of a request: either a caller's [`ServiceRequest`] or a
/// stored [`Spec`]. Every decision is made on this view.
struct Req<'a> {
    key: &'a ServiceKey,
    want: Result<Wanted, AllocError>,
    labels: Cow<'a, Labels>,
    namespace_labels: Cow<'a, Labels>,
    requested_ips: &'a [IpAddr],
    pool: Option<&'a str>,
    sharing_key: &'a str,
    backend_key: Cow<'a, str>,
    ports: &'a [Port],
}

impl<'a> Req<'a> {
    fn of(r: &'a ServiceRequest) -> Req<'a> {
        Req {
            key: &r.key,
            want: r.wanted(),
            labels: Cow::Borrowed(&r.labels),
            namespace_labels: Cow::Borrowed(&r.namespace_labels),
            requested_ips: &r.requested_ips,
            pool: r.pool.as_deref(),
            sharing_key: &r.sharing_key,
            backend_key: match r.traffic_policy {
                TrafficPolicy::Cluster => Cow::Borrowed(""),
                TrafficPolicy::Local => Cow::Owned(r.backend_key()),
            },
            ports: &r.ports,
        }
    }

    fn stored(key: &'a ServiceKey, spec: &'a Spec) -> Req<'a> {
        let want = spec.want.clone().map_err(|e| *e);
        match &spec.extra {
            None => Req {
                key,
                want,
                labels: Cow::Borrowed(&EMPTY_LABELS),
                namespace_labels: Cow::Borrowed(&EMPTY_LABELS),
                requested_ips: &[],
                pool: None,
                sharing_key: "",
                backend_key: Cow::Borrowed(""),
                ports: spec.ports(),
            },
            Some(x) => Req {
                key,
                want,
                labels: expand(&x.labels),
                namespace_labels: expand(&x.namespace_labels),
                requested_ips: &x.requested_ips,
                pool: x.pool.as_deref(),
                sharing_key: &x.sharing_key,
                backend_key: Cow::Borrowed(&x.backend_key),
                ports: spec.ports(),
            },
        }
    }

    /// Nothing beyond the wanted families and the ports (which every
    /// spec keeps inline).
    fn is_plain(&self) -> bool {
        self.labels.is_empty()
            && self.namespace_labels.is_empty()
            && self.requested_ips.is_empty()
            && self.pool.is_none()
            && self.sharing_key.is_empty()
            && self.backend_key.is_empty()
    }

    fn to_spec(&self) -> Spec {
        Spec {
            want: self.want.clone().map_err(Box::new),
            ports: Ports::of(self.ports),
            extra: (!self.is_plain()).then(|| {
                Box::new(Extra {
                    labels: compact(&self.labels),
                    namespace_labels: compact(&self.namespace_labels),
                    requested_ips: self.requested_ips.into(),
                    pool: self.pool.map(Into::into),
                    sharing_key: self.sharing_key.into(),
                    backend_key: (*self.backend_key).into(),
                })
            }),
        }
    }

    fn matches(&self, s: &Spec) -> bool {
        let want = match (&self.want, &s.want) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => *a == **b,
            _ => false,
        };
        want && *self.ports == *s.ports()
            && match &s.extra {
                None => self.is_plain(),
                Some(x) => {
                    same_labels(&self.labels, &x.labels)
                        && same_labels(&self.namespace_labels, &x.namespace_labels)
                        && *self.requested_ips == *x.requested_ips
                        && self.pool == x.pool.as_deref()
                        && self.sharing_key == &*x.sharing_key
                        && *self.backend_key == *x.backend_key
                }
            }
    }
}

/// The services using one address (ids). Almost always one; a shared
/// address holds a boxed slice (16 bytes either way).
#[derive(Debug, Clone)]
enum Users {
    One(Id),
    Many(Box<[Id]>),
}

impl Users {
    fn as_slice(&self) -> &[Id] {
        match self {
            Users::One(id) => std::slice::from_ref(id),
            Users::Many(v) => v,
        }
    }

    fn add(&mut self, id: Id) {
        let now = self.as_slice();
        if !now.contains(&id) {
            let mut v = now.to_vec();
            v.push(id);
            *self = Users::Many(v.into_boxed_slice());
        }
    }

    /// Removes `id`; true if no user is left.
    fn remove(&mut self, id: Id) -> bool {
        let left: Vec<Id> = self
            .as_slice()
            .iter()
            .copied()
            .filter(|x| *x != id)
            .collect();
        match left.as_slice() {
            [] => true,
            [one] => {
                *self = Users::One(*one);
                false
            }
            _ => {
                *self = Users::Many(left.into_boxed_slice());
                false
            }
        }
    }
}

/// Services by id, in fixed-size chunks: no reallocation (and no copy of
/// every service) as the table grows, and no doubling slack.
#[derive(Debug, Clone, Default)]
struct Slab {
    chunks: Vec<Box<[Option<Svc>]>>,
    /// Ids handed out so far (live or free).
    len: usize,
    /// Free ids, reused first.
    free: Vec<Id>,
}

const CHUNK: usize = 1024;

impl Slab {
    fn get(&self, id: Id) -> Option<&Svc> {
        let i = id as usize;
        self.chunks.get(i / CHUNK)?[i % CHUNK].as_ref()
    }

    fn get_mut(&mut self, id: Id) -> Option<&mut Svc> {
        let i = id as usize;
        self.chunks.get_mut(i / CHUNK)?[i % CHUNK].as_mut()
    }

    fn insert(&mut self, svc: Svc) -> Id {
        let i = match self.free.pop() {
            Some(id) => id as usize,
            None => {
                if self.len % CHUNK == 0 {
                    self.chunks.push((0..CHUNK).map(|_| None).collect());
                }
                self.len += 1;
                self.len - 1
            }
        };
        self.chunks[i / CHUNK][i % CHUNK] = Some(svc);
        Id::try_from(i).expect("fewer than 2^32 services")
    }

    fn remove(&mut self, id: Id) -> Option<Svc> {
        let i = id as usize;
        let svc = self.chunks.get_mut(i / CHUNK)?[i % CHUNK].take()?;
        self.free.push(id);
        Some(svc)
    }

    /// Live entries.
    fn live(&self) -> usize {
        self.len - self.free.len()
    }

    fn iter(&self) -> impl Iterator<Item = (Id, &Svc)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, s)| Some((i as Id, s.as_ref()?)))
    }
}

/// A pool and its used slots per family.
#[derive(Debug, Clone)]
struct PoolState {
    /// Shared copy of the pool name for [`AssignedIp`].
    name: Arc<str>,
    pool: Pool,
    used: [IntervalSet; 2],
}

/// The allocator. See the crate docs for the semantics.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    /// Pools sorted by name.
    pools: Vec<PoolState>,
    /// Automatic-allocation order (indexes into `pools`): pinned pools by
    /// (priority, name), then plain pools by name.
    order: Vec<usize>,
    /// Services by id.
    svcs: Slab,
    /// `ServiceKey` -> id: (id, 32-bit key hash) entries; lookups compare
    /// the short hash, then the key in the slab.
    index: HashTable<(Id, u32)>,
    /// Address -> the services using it.
    ips: HashMap<IpAddr, Users, FxBuild>,
    /// sharing key -> addresses whose users have that key.
    shared: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Services without an assignment, in key order (so retrying them is
    /// O(pending)).
    pending: BTreeSet<ServiceKey>,
    /// While tracking ([`Allocator::track_changes`]): each service whose
    /// assignment was touched since, with its assignment before the first
    /// touch.
    journal: Option<HashMap<ServiceKey, Option<Assignment>, FxBuild>>,
}

/// Is `ips` (the current addresses) still of the family the service needs?
/// (MetalLB's `serviceFamilyChanged`, inverted.)
fn family_fits(want: Wanted, ips: &[IpAddr]) -> bool {
    match (want, ips) {
        (Wanted::Single(f), [a]) => Family::of(a) == f,
        (Wanted::RequireDual { .. } | Wanted::PreferDual { .. }, [a, b]) => {
            Family::of(a) != Family::of(b)
        }
        (Wanted::PreferDual { .. }, [_]) => true,
        _ => false,
    }
}

/// 32 bits of the key's hash, stored in the index next to the id.
fn short_hash(key: &ServiceKey) -> u32 {
    key_hash(key) as u32
}

/// The table hash derived from the short hash: its low bits pick the bucket,
/// its top 7 bits are hashbrown's tag (both come from the 32 stored bits).
fn table_hash(h: u32) -> u64 {
    u64::from(h) | (u64::from(h) << 32)
}

/// Same addresses, as sets.
fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

impl Allocator {
    /// An allocator over `pools`, with no service yet.
    pub fn new(pools: &[IpAddressPool]) -> Result<Allocator, ConfigError> {
        let mut a = Allocator::default();
        a.install_pools(pools)?;
        Ok(a)
    }

    fn install_pools(&mut self, pools: &[IpAddressPool]) -> Result<(), ConfigError> {
        let validated = validate_pools(pools)?;
        // BTreeMap: already in name order.
        self.pools = validated
            .into_iter()
            .map(|(name, pool)| PoolState {
                name: Arc::from(name.as_str()),
                pool,
                used: Default::default(),
            })
            .collect();
        let mut pinned: Vec<usize> = (0..self.pools.len())
            .filter(|&i| self.pools[i].pool.is_pinned())
            .collect();
        pinned.sort_by(|&a, &b| {
            self.pools[a]
                .pool
                .order_key()
                .cmp(&self.pools[b].pool.order_key())
        });
        let plain = (0..self.pools.len()).filter(|&i| !self.pools[i].pool.is_pinned());
        self.order = pinned.into_iter().chain(plain).collect();
        Ok(())
    }

    fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.binary_search_by(|p| (*p.name).cmp(name)).ok()
    }

    fn pool_state(&self, name: &str) -> Option<&PoolState> {
        self.pool_index(name).map(|i| &self.pools[i])
    }

    // ------------------------------------------------------------------
    // Service table
    // ------------------------------------------------------------------

    fn lookup(&self, key: &ServiceKey) -> Option<Id> {
        let h = short_hash(key);
        let svcs = &self.svcs;
        self.index
            .find(table_hash(h), |&(id, eh)| {
                eh == h && svcs.get(id).is_some_and(|s| s.key == *key)
            })
            .map(|&(id, _)| id)
    }

    fn svc(&self, id: Id) -> &Svc {
        self.svcs.get(id).expect("live service id")
    }

    fn svc_mut(&mut self, id: Id) -> &mut Svc {
        self.svcs.get_mut(id).expect("live service id")
    }

    fn insert_svc(&mut self, svc: Svc) -> Id {
        let h = short_hash(&svc.key);
        let id = self.svcs.insert(svc);
        // Growing the table rehashes from the stored short hash: no service
        // (or key string) is touched.
        self.index
            .insert_unique(table_hash(h), (id, h), |&(_, eh)| table_hash(eh));
        id
    }

    fn remove_svc(&mut self, id: Id) -> Svc {
        self.note(id);
        let svc = self.svcs.remove(id).expect("live service id");
        let h = short_hash(&svc.key);
        if let Ok(e) = self.index.find_entry(table_hash(h), |&(i, _)| i == id) {
            e.remove();
        }
        svc
    }

    /// Records the assignment of `id` before it changes, once per
    /// tracking period (the first touch is the one the caller compares to).
    fn note(&mut self, id: Id) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let Some(svc) = self.svcs.get(id) else {
            return;
        };
        if !journal.contains_key(&svc.key) {
            journal.insert(svc.key.clone(), svc.assignment.clone());
        }
    }

    /// Live ids sorted by service key.
    fn ids_in_key_order(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self.svcs.iter().map(|(id, _)| id).collect();
        ids.sort_unstable_by(|&a, &b| self.svc(a).key.cmp(&self.svc(b).key));
        ids
    }
}
