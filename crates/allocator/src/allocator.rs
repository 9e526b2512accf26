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

/// One assigned address and the pool it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssignedIp {
    /// The address.
    pub ip: IpAddr,
    /// The pool it comes from (shared string: no allocation per address).
    pub pool: Arc<str>,
}

/// A service's addresses (one per family), primary family first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The addresses and their pools.
    pub ips: Vec<AssignedIp>,
}

impl Assignment {
    /// The addresses, in order (what goes into `status.loadBalancer.ingress`).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.ips.iter().map(|a| a.ip).collect()
    }

    /// The pool of the first address (what goes into the
    /// `metallb.io/ip-allocated-from-pool` annotation).
    pub fn pool(&self) -> &str {
        self.ips.first().map_or("", |a| &*a.pool)
    }
}

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// What an event says, kept typed; the text is built on first use
/// (`Display`, `as_str`, `Deref<Target = str>`, comparisons with strings)
/// and cached. Converging 100k services builds no text unless it is read.
#[derive(Clone)]
pub struct EventMessage {
    what: Msg,
    text: OnceLock<String>,
}

const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    /// `Assigned IP [..]` for one or two addresses (no allocation).
    Assigned { ips: [IpAddr; 2], len: u8 },
    /// `Assigned additional IP ".."`.
    AssignedAdditional(IpAddr),
    /// `Failed to allocate IP for ..` and the other failure texts.
    Failed(Box<(ServiceKey, AllocError)>),
    /// `current IP for .. not allowed by config, ..`.
    Cleared(Box<(ServiceKey, AllocError)>),
    /// `cannot assign additional IP in PreferDualStack: ..`.
    AdditionalFailed(Box<AllocError>),
    /// Any other text.
    Text(String),
}

impl Msg {
    fn render(&self) -> String {
        match self {
            Msg::Assigned { ips, len } => {
                format!("Assigned IP {}", go_quote_list(&ips[..usize::from(*len)]))
            }
            Msg::AssignedAdditional(ip) => {
                format!("Assigned additional IP {:?}", ip.to_string())
            }
            Msg::Failed(b) => b.1.event_message(&b.0.to_string()),
            Msg::Cleared(b) => format!(
                "current IP for {:?} not allowed by config, will attempt for new IP assignment: {}",
                b.0.to_string(),
                b.1
            ),
            Msg::AdditionalFailed(e) => {
                format!("cannot assign additional IP in PreferDualStack: {e}")
            }
            Msg::Text(s) => s.clone(),
        }
    }
}

impl EventMessage {
    fn new(what: Msg) -> Self {
        EventMessage {
            what,
            text: OnceLock::new(),
        }
    }

    /// The message text (built on first call, then cached).
    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.what.render())
    }

    /// The message text, owned.
    pub fn into_string(self) -> String {
        match self.text.into_inner() {
            Some(s) => s,
            None => self.what.render(),
        }
    }
}

impl From<String> for EventMessage {
    fn from(s: String) -> Self {
        EventMessage::new(Msg::Text(s))
    }
}

impl From<&str> for EventMessage {
    fn from(s: &str) -> Self {
        EventMessage::new(Msg::Text(s.to_string()))
    }
}

impl std::ops::Deref for EventMessage {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventMessage {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EventMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EventMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for EventMessage {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what || self.as_str() == other.as_str()
    }
}

impl Eq for EventMessage {}

impl PartialEq<str> for EventMessage {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventMessage {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for EventMessage {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<EventMessage> for &str {
    fn eq(&self, other: &EventMessage) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<EventMessage> for String {
    fn eq(&self, other: &EventMessage) -> bool {
        self.as_str() == other.as_str()
    }
}

/// An event to emit on the Service, with MetalLB's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub kind: EventKind,
    /// e.g. `IPAllocated`, `AllocationFailed`, `ClearAssignment`.
    pub reason: &'static str,
    /// The message (typed; the text is built on first use).
    pub message: EventMessage,
}

impl Event {
    fn normal(reason: &'static str, what: Msg) -> Event {
        Event {
            kind: EventKind::Normal,
            reason,
            message: EventMessage::new(what),
        }
    }

    /// The `IPAllocated` event for a fresh assignment.
    pub fn ip_allocated(a: &Assignment) -> Event {
        let what = match a.ips.as_slice() {
            [x] => Msg::Assigned {
                ips: [x.ip, UNSPECIFIED],
                len: 1,
            },
            [x, y] => Msg::Assigned {
                ips: [x.ip, y.ip],
                len: 2,
            },
            _ => Msg::Text(format!("Assigned IP {}", go_quote_list(&a.addresses()))),
        };
        Event::normal(reasons::IP_ALLOCATED, what)
    }

    /// The event for a failure (its reason comes from the error).
    pub fn failed(key: &ServiceKey, e: &AllocError) -> Event {
        Event {
            kind: EventKind::Warning,
            reason: e.reason(),
            message: EventMessage::new(Msg::Failed(Box::new((key.clone(), e.clone())))),
        }
    }

    fn cleared(key: &ServiceKey, e: &AllocError) -> Event {
        Event::normal(
            reasons::CLEAR_ASSIGNMENT,
            Msg::Cleared(Box::new((key.clone(), e.clone()))),
        )
    }

    fn additional(ip: IpAddr) -> Event {
        Event::normal(reasons::IP_ALLOCATED, Msg::AssignedAdditional(ip))
    }

    fn additional_failed(e: &AllocError) -> Event {
        Event::normal(
            reasons::ADDITIONAL_ASSIGN_FAILED,
            Msg::AdditionalFailed(Box::new(e.clone())),
        )
    }
}

/// The result of converging one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The service's assignment now, or why it has none (it is then pending
    /// and retried whenever capacity frees up or pools change).
    pub result: Result<Assignment, AllocError>,
    /// Events to emit on the service, in order.
    pub events: Vec<Event>,
    /// Pending services that got an address because this call freed one.
    pub unblocked: Vec<(ServiceKey, Assignment)>,
}

/// The result of releasing a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Released {
    /// What the service had.
    pub previous: Option<Assignment>,
    /// Pending services that got an address thanks to the release.
    pub unblocked: Vec<(ServiceKey, Assignment)>,
}

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
/// (no labels, no annotations, no ports, ETP=Cluster) store none of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Extra {
    labels: CompactLabels,
    namespace_labels: CompactLabels,
    requested_ips: Box<[IpAddr]>,
    pool: Option<Box<str>>,
    sharing_key: Box<str>,
    backend_key: Box<str>,
    ports: Box<[Port]>,
}

/// What later decisions (retry, pool changes, sharing checks by other
/// services) need to know about a service's request.
#[derive(Debug, Clone)]
struct Spec {
    want: Result<Wanted, Box<AllocError>>,
    extra: Option<Box<Extra>>,
}

impl Spec {
    fn sharing_key(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.sharing_key)
    }

    fn ports(&self) -> &[Port] {
        self.extra.as_ref().map_or(&[], |x| &x.ports)
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
                ports: &[],
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
                ports: &x.ports,
            },
        }
    }

    fn is_plain(&self) -> bool {
        self.labels.is_empty()
            && self.namespace_labels.is_empty()
            && self.requested_ips.is_empty()
            && self.pool.is_none()
            && self.sharing_key.is_empty()
            && self.backend_key.is_empty()
            && self.ports.is_empty()
    }

    fn to_spec(&self) -> Spec {
        Spec {
            want: self.want.clone().map_err(Box::new),
            extra: (!self.is_plain()).then(|| {
                Box::new(Extra {
                    labels: compact(&self.labels),
                    namespace_labels: compact(&self.namespace_labels),
                    requested_ips: self.requested_ips.into(),
                    pool: self.pool.map(Into::into),
                    sharing_key: self.sharing_key.into(),
                    backend_key: (*self.backend_key).into(),
                    ports: self.ports.into(),
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
        want && match &s.extra {
            None => self.is_plain(),
            Some(x) => {
                same_labels(&self.labels, &x.labels)
                    && same_labels(&self.namespace_labels, &x.namespace_labels)
                    && *self.requested_ips == *x.requested_ips
                    && self.pool == x.pool.as_deref()
                    && self.sharing_key == &*x.sharing_key
                    && *self.backend_key == *x.backend_key
                    && *self.ports == *x.ports
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
        let svc = self.svcs.remove(id).expect("live service id");
        let h = short_hash(&svc.key);
        if let Ok(e) = self.index.find_entry(table_hash(h), |&(i, _)| i == id) {
            e.remove();
        }
        svc
    }

    /// Live ids sorted by service key.
    fn ids_in_key_order(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self.svcs.iter().map(|(id, _)| id).collect();
        ids.sort_unstable_by(|&a, &b| self.svc(a).key.cmp(&self.svc(b).key));
        ids
    }

    // ------------------------------------------------------------------
    // Queries
    // ------------------------------------------------------------------

    /// The current assignment of a service.
    pub fn assignment(&self, key: &ServiceKey) -> Option<&Assignment> {
        self.svc(self.lookup(key)?).assignment.as_ref()
    }

    /// Services known to the allocator that have no address, with the last
    /// reason, in key order.
    pub fn pending(&self) -> impl Iterator<Item = (&ServiceKey, Option<&AllocError>)> {
        self.pending.iter().filter_map(|k| {
            let s = self.svc(self.lookup(k)?);
            Some((&s.key, s.last_error.as_deref()))
        })
    }

    /// All assignments, in key order.
    pub fn assignments(&self) -> impl Iterator<Item = (&ServiceKey, &Assignment)> {
        let mut all: Vec<(&ServiceKey, &Assignment)> = self
            .svcs
            .iter()
            .filter_map(|(_, s)| Some((&s.key, s.assignment.as_ref()?)))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// The services using an address, in key order.
    pub fn users_of(&self, ip: &IpAddr) -> Vec<&ServiceKey> {
        let mut keys: Vec<&ServiceKey> = self
            .ips
            .get(ip)
            .map(|u| u.as_slice().iter().map(|&id| &self.svc(id).key).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    /// A validated pool by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pool_state(name).map(|p| &p.pool)
    }

    /// Pool names in the order automatic allocation tries them for `req`:
    /// compatible pinned pools by (priority, name), then plain pools by name,
    /// both restricted to `autoAssign` pools.
    pub fn candidate_pools(&self, req: &ServiceRequest) -> Vec<&str> {
        let r = Req::of(req);
        let names: Vec<usize> = self
            .candidates(&r)
            .filter_map(|p| self.pool_index(&p.name))
            .collect();
        names
            .into_iter()
            .map(|i| self.pools[i].pool.name.as_str())
            .collect()
    }

    /// Per-pool statistics, in pool-name order.
    pub fn stats(&self) -> Vec<PoolStats> {
        self.pools.iter().map(|p| self.pool_stats_of(p)).collect()
    }

    /// Statistics of one pool.
    pub fn pool_stats(&self, name: &str) -> Option<PoolStats> {
        self.pool_state(name).map(|p| self.pool_stats_of(p))
    }

    fn pool_stats_of(&self, p: &PoolState) -> PoolStats {
        PoolStats {
            pool: p.pool.name.clone(),
            ipv4_total: p.pool.space(Family::V4).total(),
            ipv4_in_use: p.used[0].len(),
            ipv6_total: p.pool.space(Family::V6).total(),
            ipv6_in_use: p.used[1].len(),
            services: self
                .svcs
                .iter()
                .filter(|(_, s)| {
                    s.assignment
                        .as_ref()
                        .is_some_and(|a| a.ips.iter().any(|i| *i.pool == *p.pool.name))
                })
                .count(),
        }
    }

    // ------------------------------------------------------------------
    // Bookkeeping
    // ------------------------------------------------------------------

    fn pool_of_ip(&self, ip: &IpAddr) -> Option<&PoolState> {
        let value = to_u128(ip);
        let fam = Family::of(ip);
        self.pools
            .iter()
            .find(|p| p.pool.space(fam).slot_of(value).is_some())
    }

    /// MetalLB's `checkSharing`: may `req` (service `me`, if known) use `ip`?
    fn check_ip(&self, me: Option<Id>, req: &Req, ip: &IpAddr) -> Result<(), AllocError> {
        let Some(u) = self.ips.get(ip) else {
            return Ok(());
        };
        let users = u.as_slice();
        let Some(&other) = users.iter().find(|&&id| Some(id) != me) else {
            return Ok(());
        };
        // Every user of an address has the address's sharing and backend
        // keys (enforced here on every placement), so any other user's keys
        // are the address's.
        let spec = &self.svc(other).spec;
        let (sharing_key, backend_key) = (spec.sharing_key(), spec.backend_key());
        let conflict = if sharing_key.is_empty() {
            Some(SharingConflict::ExistingDoesNotAllowSharing)
        } else if req.sharing_key.is_empty() {
            Some(SharingConflict::NewDoesNotAllowSharing)
        } else if sharing_key != req.sharing_key {
            Some(SharingConflict::KeyMismatch {
                new: req.sharing_key.to_string(),
                existing: sharing_key.to_string(),
            })
        } else if backend_key != &*req.backend_key {
            Some(SharingConflict::BackendMismatch {
                new: req.backend_key.to_string(),
                existing: backend_key.to_string(),
            })
        } else {
            None
        };
        if let Some(conflict) = conflict {
            let mut others: Vec<&ServiceKey> = users
                .iter()
                .filter(|&&id| Some(id) != me)
                .map(|&id| &self.svc(id).key)
                .collect();
            others.sort_unstable();
            return Err(AllocError::SharingKeyConflict {
                service: req.key.to_string(),
                others: others.iter().map(|k| k.to_string()).collect(),
                conflict,
            });
        }
        for port in req.ports {
            if users
                .iter()
                .any(|&id| Some(id) != me && self.svc(id).spec.ports().contains(port))
            {
                return Err(AllocError::PortInUse {
                    port: *port,
                    ip: *ip,
                });
            }
        }
        Ok(())
    }

    fn place(&mut self, id: Id, sharing_key: &str, a: &Assignment) {
        for AssignedIp { ip, pool } in &a.ips {
            let fam = Family::of(ip);
            let Some(pi) = self.pool_index(pool) else {
                continue;
            };
            let ps = &mut self.pools[pi];
            let Some(slot) = ps.pool.space(fam).slot_of(to_u128(ip)) else {
                continue;
            };
            self.ips
                .entry(*ip)
                .and_modify(|u| u.add(id))
                .or_insert(Users::One(id));
            ps.used[fam.index()].insert(slot);
            if !sharing_key.is_empty() {
                match self.shared.get_mut(sharing_key) {
                    Some(set) => {
                        set.insert(*ip);
                    }
                    None => {
                        self.shared
                            .insert(sharing_key.to_string(), BTreeSet::from([*ip]));
                    }
                }
            }
        }
    }

    /// Removes service `id` (whose sharing key is `sharing_key`) from the
    /// addresses of `a`. Returns true if an address became free.
    fn unplace(&mut self, id: Id, sharing_key: &str, a: &Assignment) -> bool {
        let mut freed = false;
        for AssignedIp { ip, pool } in &a.ips {
            let Some(u) = self.ips.get_mut(ip) else {
                continue;
            };
            if !u.remove(id) {
                continue;
            }
            self.ips.remove(ip);
            let fam = Family::of(ip);
            if let Some(pi) = self.pool_index(pool) {
                let ps = &mut self.pools[pi];
                if let Some(slot) = ps.pool.space(fam).slot_of(to_u128(ip)) {
                    ps.used[fam.index()].remove(slot);
                }
            }
            if !sharing_key.is_empty() {
                if let Some(set) = self.shared.get_mut(sharing_key) {
                    set.remove(ip);
                    if set.is_empty() {
                        self.shared.remove(sharing_key);
                    }
                }
            }
            freed = true;
        }
        freed
    }

    /// Drops the assignment of `id`; true if an address became free.
    fn clear(&mut self, id: Option<Id>) -> bool {
        let Some(id) = id else {
            return false;
        };
        let svc = self.svc_mut(id);
        let Some(a) = svc.assignment.take() else {
            return false;
        };
        let sk = svc.spec.sharing_key().to_string();
        self.unplace(id, &sk, &a)
    }

    /// Records `a` for the service of `req` (creating it if needed) and
    /// marks its addresses used. Returns the service's id.
    fn set_assignment(&mut self, id: Option<Id>, req: &Req, a: Assignment) -> Id {
        let id = match id {
            Some(id) => {
                let svc = self.svc_mut(id);
                if !req.matches(&svc.spec) {
                    svc.spec = req.to_spec();
                }
                svc.last_error = None;
                if svc.pending {
                    svc.pending = false;
                    self.pending.remove(req.key);
                }
                id
            }
            None => self.insert_svc(Svc {
                key: req.key.clone(),
                spec: req.to_spec(),
                assignment: None,
                last_error: None,
                pending: false,
            }),
        };
        self.place(id, req.sharing_key, &a);
        self.svc_mut(id).assignment = Some(a);
        id
    }

    fn set_pending(&mut self, id: Option<Id>, req: &Req, e: AllocError) -> Id {
        let id = match id {
            Some(id) => {
                let svc = self.svc_mut(id);
                if !req.matches(&svc.spec) {
                    svc.spec = req.to_spec();
                }
                svc.last_error = Some(Box::new(e));
                id
            }
            None => self.insert_svc(Svc {
                key: req.key.clone(),
                spec: req.to_spec(),
                assignment: None,
                last_error: Some(Box::new(e)),
                pending: false,
            }),
        };
        let svc = self.svc_mut(id);
        if !svc.pending {
            svc.pending = true;
            self.pending.insert(req.key.clone());
        }
        id
    }

    // ------------------------------------------------------------------
    // Choosing addresses (pure)
    // ------------------------------------------------------------------

    /// MetalLB's `Assign` check for given addresses: each must be in a pool
    /// (not buggy there), that pool must allow the service, and sharing
    /// must be legal.
    fn check_addresses(
        &self,
        me: Option<Id>,
        req: &Req,
        ips: &[IpAddr],
    ) -> Result<Assignment, AllocError> {
        let mut out = Vec::with_capacity(ips.len());
        for ip in ips {
            let Some(ps) = self.pool_of_ip(ip) else {
                return Err(AllocError::NotAllowedInConfig {
                    ips: IpList(ips.to_vec()),
                });
            };
            out.push((ps, *ip));
        }
        for (ps, _) in &out {
            if !ps
                .pool
                .allows(&req.key.namespace, &req.namespace_labels, &req.labels)
            {
                return Err(AllocError::PoolNotCompatible {
                    pool: ps.name.to_string(),
                });
            }
        }
        for ip in ips {
            self.check_ip(me, req, ip)?;
        }
        Ok(Assignment {
            ips: out
                .into_iter()
                .map(|(ps, ip)| AssignedIp {
                    ip,
                    pool: ps.name.clone(),
                })
                .collect(),
        })
    }

    /// Pools for automatic allocation, in order.
    fn candidates<'s>(&'s self, req: &'s Req) -> impl Iterator<Item = &'s PoolState> + Clone + 's {
        self.order
            .iter()
            .map(|&i| &self.pools[i])
            .filter(move |ps| {
                ps.pool.spec.auto_assign
                    && ps
                        .pool
                        .allows(&req.key.namespace, &req.namespace_labels, &req.labels)
            })
    }

    /// One address of `fam` in pool `ps` for `req`: a compatible shared
    /// address first (lowest), then (unless `shared_only`) the lowest free one.
    fn pick(
        &self,
        me: Option<Id>,
        ps: &PoolState,
        fam: Family,
        req: &Req,
        shared_only: bool,
    ) -> Option<IpAddr> {
        if !req.sharing_key.is_empty() {
            if let Some(set) = self.shared.get(req.sharing_key) {
                let space = ps.pool.space(fam);
                let found = set.iter().find(|ip| {
                    Family::of(ip) == fam
                        && self.ips.contains_key(*ip)
                        && space.slot_of(to_u128(ip)).is_some()
                        && self.check_ip(me, req, ip).is_ok()
                });
                if let Some(ip) = found {
                    return Some(*ip);
                }
            }
        }
        if shared_only {
            return None;
        }
        let space = ps.pool.space(fam);
        let slot = ps.used[fam.index()].first_free_from(0)?;
        if slot >= space.total() {
            return None;
        }
        from_u128(space.family(), space.value_of(slot)?)
    }

    fn try_pool(
        &self,
        me: Option<Id>,
        ps: &PoolState,
        fams: &[Family],
        req: &Req,
        shared_only: bool,
    ) -> Option<Assignment> {
        let mut ips = Vec::with_capacity(fams.len());
        for &f in fams {
            let ip = self.pick(me, ps, f, req, shared_only)?;
            ips.push(AssignedIp {
                ip,
                pool: ps.name.clone(),
            });
        }
        Some(Assignment { ips })
    }

    /// Family combinations to try, most wanted first.
    fn family_sets(want: Wanted) -> &'static [&'static [Family]] {
        use Family::{V4, V6};
        match want {
            Wanted::Single(V4) => &[&[V4]],
            Wanted::Single(V6) => &[&[V6]],
            Wanted::RequireDual { primary: V4 } => &[&[V4, V6]],
            Wanted::RequireDual { primary: V6 } => &[&[V6, V4]],
            Wanted::PreferDual { primary: V4 } => &[&[V4, V6], &[V4], &[V6]],
            Wanted::PreferDual { primary: V6 } => &[&[V6, V4], &[V6], &[V4]],
        }
    }

    fn label(want: Wanted) -> FamilyLabel {
        match want {
            Wanted::Single(f) => FamilyLabel::Single(f),
            _ => FamilyLabel::Dual,
        }
    }

    fn allocate_auto(
        &self,
        me: Option<Id>,
        req: &Req,
        want: Wanted,
    ) -> Result<Assignment, AllocError> {
        let cands = self.candidates(req);
        let sets = Self::family_sets(want);
        let declares =
            |ps: &PoolState, fams: &[Family]| fams.iter().all(|f| ps.pool.declares_family(*f));
        if cands.clone().next().is_some()
            && !sets
                .iter()
                .any(|fams| cands.clone().any(|ps| declares(ps, fams)))
        {
            return Err(AllocError::NoSuitablePool {
                family: Self::label(want),
            });
        }
        if !req.sharing_key.is_empty() {
            for ps in cands.clone() {
                if let Some(a) = self.try_pool(me, ps, sets[0], req, true) {
                    return Ok(a);
                }
            }
        }
        for fams in sets {
            for ps in cands.clone() {
                if let Some(a) = self.try_pool(me, ps, fams, req, false) {
                    return Ok(a);
                }
            }
        }
        Err(AllocError::NoAvailableIps)
    }

    fn allocate_from_pool(
        &self,
        me: Option<Id>,
        req: &Req,
        want: Wanted,
        name: &str,
    ) -> Result<Assignment, AllocError> {
        let ps = self
            .pool_state(name)
            .ok_or_else(|| AllocError::UnknownPool {
                pool: name.to_string(),
            })?;
        if !ps
            .pool
            .allows(&req.key.namespace, &req.namespace_labels, &req.labels)
        {
            return Err(AllocError::PoolNotCompatible {
                pool: name.to_string(),
            });
        }
        let sets = Self::family_sets(want);
        for shared_only in [true, false] {
            if shared_only && req.sharing_key.is_empty() {
                continue;
            }
            for fams in sets {
                if let Some(a) = self.try_pool(me, ps, fams, req, shared_only) {
                    return Ok(a);
                }
            }
        }
        Err(AllocError::NoAvailableIpsInPool {
            pool: name.to_string(),
            family: Self::label(want),
        })
    }

    fn assign_requested(
        &self,
        me: Option<Id>,
        req: &Req,
        want: Wanted,
    ) -> Result<Assignment, AllocError> {
        let ips = req.requested_ips;
        let fits = match (want, ips) {
            (Wanted::PreferDual { .. }, [_]) => true,
            _ => family_fits(want, ips),
        };
        if !fits {
            return Err(AllocError::FamilyMismatch {
                ips: IpList(ips.to_vec()),
            });
        }
        let a = self.check_addresses(me, req, ips)?;
        if let Some(pool) = req.pool {
            if a.ips.iter().any(|i| *i.pool != *pool) {
                return Err(AllocError::NotInRequestedPool {
                    ips: IpList(ips.to_vec()),
                    pool: pool.to_string(),
                });
            }
        }
        Ok(a)
    }

    /// A fresh assignment for `req` (MetalLB's `allocateIPs`).
    fn allocate_new(&self, me: Option<Id>, req: &Req) -> Result<Assignment, AllocError> {
        let want = req.want.clone()?;
        if self.pools.is_empty() {
            return Err(AllocError::NoPools);
        }
        if !req.requested_ips.is_empty() {
            self.assign_requested(me, req, want)
        } else if let Some(pool) = req.pool {
            self.allocate_from_pool(me, req, want, pool)
        } else {
            self.allocate_auto(me, req, want)
        }
    }

    /// Checks that `ips` is still a valid assignment for `req`. `Ok(None)`
    /// means "drop it silently" (family changed, another pool or other IPs
    /// requested); `Err` means "drop it with a ClearAssignment event".
    fn revalidate(
        &self,
        me: Option<Id>,
        req: &Req,
        want: Wanted,
        ips: &[IpAddr],
    ) -> Result<Option<Assignment>, AllocError> {
        if !family_fits(want, ips) {
            return Ok(None);
        }
        let a = self.check_addresses(me, req, ips)?;
        if req.pool.is_some_and(|p| a.pool() != p) {
            return Ok(None);
        }
        if !req.requested_ips.is_empty() && !same_set(req.requested_ips, ips) {
            return Ok(None);
        }
        Ok(Some(a))
    }

    /// PreferDualStack with one address: try to add the other family from
    /// the same pool. `None` if there is nothing to try.
    fn additional(
        &self,
        me: Option<Id>,
        req: &Req,
        a: &Assignment,
    ) -> Option<Result<AssignedIp, AllocError>> {
        let want = req.want.as_ref().ok()?;
        if !matches!(want, Wanted::PreferDual { .. })
            || a.ips.len() != 1
            || !req.requested_ips.is_empty()
        {
            return None;
        }
        let have = Family::of(&a.ips[0].ip);
        let ps = self.pool_state(&a.ips[0].pool)?;
        if !ps.pool.declares_family(have.other()) {
            return None;
        }
        Some(
            self.pick(me, ps, have.other(), req, false)
                .map(|ip| AssignedIp {
                    ip,
                    pool: ps.name.clone(),
                })
                .ok_or_else(|| AllocError::NoAvailableIpsInPool {
                    pool: ps.pool.name.clone(),
                    family: FamilyLabel::Single(have.other()),
                }),
        )
    }

    // ------------------------------------------------------------------
    // Public operations
    // ------------------------------------------------------------------

    /// Converges one service (MetalLB's `convergeBalancer`). `status` is the
    /// service's current `status.loadBalancer.ingress` IPs; it is used only
    /// when the allocator has no assignment for the service yet (restore
    /// after restart). A valid current assignment is never moved.
    pub fn converge(&mut self, req: &ServiceRequest, status: &[IpAddr]) -> Outcome {
        self.converge_inner(&Req::of(req), status, true, true)
    }

    /// Like `converge(req, &[])` (keeps the current assignment if still
    /// valid, else allocates; same decisions) but builds no events and
    /// returns just the result: the fast path for bulk use.
    pub fn allocate(&mut self, req: &ServiceRequest) -> Result<Assignment, AllocError> {
        self.converge_inner(&Req::of(req), &[], true, false).result
    }

    fn converge_inner(
        &mut self,
        req: &Req,
        status: &[IpAddr],
        retry: bool,
        with_events: bool,
    ) -> Outcome {
        let key = req.key;
        let id = self.lookup(key);
        let mut events = Vec::new();
        // `allocate()` skips building events; decisions are identical.
        let emit = |events: &mut Vec<Event>, make: &dyn Fn() -> Event| {
            if with_events {
                events.push(make());
            }
        };
        let mut freed = false;
        let want = match &req.want {
            Ok(w) => *w,
            Err(e) => {
                freed |= self.clear(id);
                emit(&mut events, &|| Event::failed(key, e));
                return self.finish_failed(id, req, e.clone(), events, freed, retry);
            }
        };
        if self.pools.is_empty() {
            freed |= self.clear(id);
            return self.finish_failed(id, req, AllocError::NoPools, events, freed, retry);
        }
        // The current addresses, without allocating for the usual one or two.
        let mut buf = [UNSPECIFIED; 2];
        let owned: Vec<IpAddr>;
        let current: &[IpAddr] = match id.and_then(|id| self.svc(id).assignment.as_ref()) {
            Some(a) if a.ips.len() <= 2 => {
                for (slot, x) in buf.iter_mut().zip(&a.ips) {
                    *slot = x.ip;
                }
                &buf[..a.ips.len()]
            }
            Some(a) => {
                owned = a.addresses();
                &owned
            }
            None => status,
        };
        if !current.is_empty() {
            match self.revalidate(id, req, want, current) {
                Ok(Some(mut a)) => {
                    if let Some(id) = id {
                        freed |= self.clear(Some(id));
                    }
                    match self.additional(id, req, &a) {
                        Some(Ok(extra)) => {
                            emit(&mut events, &|| Event::additional(extra.ip));
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => emit(&mut events, &|| Event::additional_failed(&e)),
                        None => {}
                    }
                    self.set_assignment(id, req, a.clone());
                    let unblocked = if freed && retry {
                        self.retry_pending()
                    } else {
                        Vec::new()
                    };
                    return Outcome {
                        result: Ok(a),
                        events,
                        unblocked,
                    };
                }
                Ok(None) => freed |= self.clear(id),
                Err(e) => {
                    freed |= self.clear(id);
                    emit(&mut events, &|| Event::cleared(key, &e));
                }
            }
        }
        match self.allocate_new(id, req) {
            Ok(a) => {
                emit(&mut events, &|| Event::ip_allocated(&a));
                self.set_assignment(id, req, a.clone());
                let unblocked = if freed && retry {
                    self.retry_pending()
                } else {
                    Vec::new()
                };
                Outcome {
                    result: Ok(a),
                    events,
                    unblocked,
                }
            }
            Err(e) => {
                if e != AllocError::NoPools {
                    emit(&mut events, &|| Event::failed(key, &e));
                }
                self.finish_failed(id, req, e, events, freed, retry)
            }
        }
    }

    fn finish_failed(
        &mut self,
        id: Option<Id>,
        req: &Req,
        e: AllocError,
        events: Vec<Event>,
        freed: bool,
        retry: bool,
    ) -> Outcome {
        self.set_pending(id, req, e.clone());
        let unblocked = if freed && retry {
            self.retry_pending()
        } else {
            Vec::new()
        };
        Outcome {
            result: Err(e),
            events,
            unblocked,
        }
    }

    /// Gives every pending service (in key order) another chance. Called
    /// automatically whenever an address is freed; public for callers that
    /// want to force a retry.
    pub fn retry_pending(&mut self) -> Vec<(ServiceKey, Assignment)> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let pending: Vec<Id> = self
            .pending
            .iter()
            .filter_map(|k| self.lookup(k))
            .filter(|&id| {
                let s = self.svc(id);
                s.assignment.is_none()
                    && !s.last_error.as_ref().is_some_and(|e| e.is_request_error())
            })
            .collect();
        let mut out = Vec::new();
        for id in pending {
            let (key, spec) = {
                let s = self.svc(id);
                (s.key.clone(), s.spec.clone())
            };
            let req = Req::stored(&key, &spec);
            if let Ok(a) = self.allocate_new(Some(id), &req) {
                self.set_assignment(Some(id), &req, a.clone());
                out.push((key, a));
            }
        }
        out
    }

    /// Forgets a service (deleted, or no longer a LoadBalancer) and frees its
    /// addresses; pending services then get a chance.
    pub fn release(&mut self, key: &ServiceKey) -> Released {
        let Some(id) = self.lookup(key) else {
            return Released::default();
        };
        let svc = self.remove_svc(id);
        if svc.pending {
            self.pending.remove(key);
        }
        let freed = svc
            .assignment
            .as_ref()
            .is_some_and(|a| self.unplace(id, svc.spec.sharing_key(), a));
        let unblocked = if freed {
            self.retry_pending()
        } else {
            Vec::new()
        };
        Released {
            previous: svc.assignment,
            unblocked,
        }
    }

    /// Replaces the whole set of services, e.g. after a restart or a full
    /// resync. Services not listed are released. Services with `status`
    /// addresses are restored first (in key order) and keep them while still
    /// valid; then every service is converged in key order. The result does
    /// not depend on the order of `services`, with one exception: when a
    /// Service key is listed more than once, the last entry for it (request
    /// and status) is used and the earlier ones are ignored, so only the
    /// relative order of one key's entries matters.
    pub fn sync(
        &mut self,
        services: impl IntoIterator<Item = (ServiceRequest, Vec<IpAddr>)>,
    ) -> BTreeMap<ServiceKey, Outcome> {
        // Explicit inserts: `insert` replaces the value of an existing key, so
        // the last duplicate wins. (`collect` into a map only promises to keep
        // one of the duplicates, not which.)
        let mut wanted: BTreeMap<ServiceKey, (ServiceRequest, Vec<IpAddr>)> = BTreeMap::new();
        for (r, s) in services {
            wanted.insert(r.key.clone(), (r, s));
        }
        let gone: Vec<Id> = self
            .ids_in_key_order()
            .into_iter()
            .filter(|&id| !wanted.contains_key(&self.svc(id).key))
            .collect();
        for id in gone {
            let svc = self.remove_svc(id);
            if svc.pending {
                self.pending.remove(&svc.key);
            }
            if let Some(a) = &svc.assignment {
                self.unplace(id, svc.spec.sharing_key(), a);
            }
        }
        // Phase 1: restore status addresses, no fresh allocation yet.
        for (key, (req, status)) in &wanted {
            let id = self.lookup(key);
            if status.is_empty() || id.is_some_and(|id| self.svc(id).assignment.is_some()) {
                continue;
            }
            let r = Req::of(req);
            if let Ok(want) = r.want {
                if let Ok(Some(a)) = self.revalidate(id, &r, want, status) {
                    self.set_assignment(id, &r, a);
                }
            }
        }
        // Phase 2: converge everything in key order.
        let mut out = BTreeMap::new();
        for (key, (req, status)) in &wanted {
            out.insert(
                key.clone(),
                self.converge_inner(&Req::of(req), status, false, true),
            );
        }
        out
    }

    /// Replaces the pools. Every assignment is re-validated against the new
    /// pools: still-valid ones stay (re-tagged if their pool was renamed),
    /// invalid ones are cleared (`ClearAssignment`) and reallocated, and
    /// pending services get a chance. Returns an outcome for every service
    /// whose assignment or pool changed, or that was retried.
    pub fn set_pools(
        &mut self,
        pools: &[IpAddressPool],
    ) -> Result<BTreeMap<ServiceKey, Outcome>, ConfigError> {
        self.install_pools(pools)?;
        self.ips.clear();
        self.shared.clear();
        let ids = self.ids_in_key_order();
        let mut out: BTreeMap<ServiceKey, Outcome> = BTreeMap::new();
        let mut to_allocate: Vec<(Id, Vec<Event>)> = Vec::new();
        // Re-place still-valid assignments first, in key order.
        for id in ids {
            let svc = self.svc_mut(id);
            let Some(old) = svc.assignment.take() else {
                if !svc
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.is_request_error())
                {
                    to_allocate.push((id, Vec::new()));
                }
                continue;
            };
            let (key, spec) = (svc.key.clone(), svc.spec.clone());
            let req = Req::stored(&key, &spec);
            let checked = match &req.want {
                Ok(want) if !self.pools.is_empty() => {
                    self.revalidate(Some(id), &req, *want, &old.addresses())
                }
                Ok(_) => Err(AllocError::NoPools),
                Err(e) => Err(e.clone()),
            };
            match checked {
                Ok(Some(mut a)) => {
                    let mut events = Vec::new();
                    match self.additional(Some(id), &req, &a) {
                        Some(Ok(extra)) => {
                            events.push(Event::additional(extra.ip));
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => events.push(Event::additional_failed(&e)),
                        None => {}
                    }
                    let changed = a != old;
                    self.set_assignment(Some(id), &req, a.clone());
                    if changed {
                        out.insert(
                            key,
                            Outcome {
                                result: Ok(a),
                                events,
                                unblocked: Vec::new(),
                            },
                        );
                    }
                }
                Ok(None) => to_allocate.push((id, Vec::new())),
                Err(AllocError::NoPools) => {
                    self.set_pending(Some(id), &req, AllocError::NoPools);
                    out.insert(
                        key,
                        Outcome {
                            result: Err(AllocError::NoPools),
                            events: Vec::new(),
                            unblocked: Vec::new(),
                        },
                    );
                }
                Err(e) => to_allocate.push((id, vec![Event::cleared(&key, &e)])),
            }
        }
        // Then allocate for the orphaned and the pending, in key order.
        for (id, mut events) in to_allocate {
            let (key, spec, was_pending) = {
                let s = self.svc(id);
                (
                    s.key.clone(),
                    s.spec.clone(),
                    events.is_empty() && s.assignment.is_none() && s.last_error.is_some(),
                )
            };
            let req = Req::stored(&key, &spec);
            match self.allocate_new(Some(id), &req) {
                Ok(a) => {
                    events.push(Event::ip_allocated(&a));
                    self.set_assignment(Some(id), &req, a.clone());
                    out.insert(
                        key,
                        Outcome {
                            result: Ok(a),
                            events,
                            unblocked: Vec::new(),
                        },
                    );
                }
                Err(e) => {
                    if e != AllocError::NoPools {
                        events.push(Event::failed(&key, &e));
                    }
                    self.set_pending(Some(id), &req, e.clone());
                    if !was_pending {
                        out.insert(
                            key,
                            Outcome {
                                result: Err(e),
                                events,
                                unblocked: Vec::new(),
                            },
                        );
                    }
                }
            }
        }
        Ok(out)
    }
}
