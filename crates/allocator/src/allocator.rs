//! The allocator: pools and service requests in, assignments, events and
//! typed errors out. Pure and deterministic: every map is ordered, every
//! tie is broken by name, and nothing depends on call history beyond the
//! current assignments.

use crate::error::{reasons, AllocError, FamilyLabel, IpList, SharingConflict};
use crate::family::{from_u128, go_quote_list, to_u128, Family};
use crate::intervals::IntervalSet;
use crate::pool::{validate_pools, ConfigError, IpAddressPool, Pool};
use crate::request::{Port, ServiceKey, ServiceRequest, Wanted};
use crate::stats::PoolStats;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

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

/// An event to emit on the Service, with MetalLB's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub kind: EventKind,
    /// e.g. `IPAllocated`, `AllocationFailed`, `ClearAssignment`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

impl Event {
    fn normal(reason: &'static str, message: String) -> Event {
        Event {
            kind: EventKind::Normal,
            reason,
            message,
        }
    }

    /// The `IPAllocated` event for a fresh assignment.
    pub fn ip_allocated(a: &Assignment) -> Event {
        Event::normal(
            reasons::IP_ALLOCATED,
            format!("Assigned IP {}", go_quote_list(&a.addresses())),
        )
    }

    /// The event for a failure (its reason comes from the error).
    pub fn failed(key: &ServiceKey, e: &AllocError) -> Event {
        Event {
            kind: EventKind::Warning,
            reason: e.reason(),
            message: e.event_message(&key.to_string()),
        }
    }

    fn cleared(key: &ServiceKey, e: &AllocError) -> Event {
        Event::normal(
            reasons::CLEAR_ASSIGNMENT,
            format!("current IP for {:?} not allowed by config, will attempt for new IP assignment: {e}", key.to_string()),
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

/// Who uses one address.
#[derive(Debug, Clone)]
struct IpUse {
    pool: Arc<str>,
    slot: u128,
    sharing_key: String,
    backend_key: String,
    /// (service, its ports), sorted by service. Usually one entry, so a
    /// vector is far smaller than a map.
    users: Vec<(ServiceKey, Vec<Port>)>,
}

impl IpUse {
    fn keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.users.iter().map(|(k, _)| k)
    }

    fn insert_user(&mut self, key: &ServiceKey, ports: &[Port]) {
        match self.users.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(i) => self.users[i].1 = ports.to_vec(),
            Err(i) => self.users.insert(i, (key.clone(), ports.to_vec())),
        }
    }

    fn remove_user(&mut self, key: &ServiceKey) {
        if let Ok(i) = self.users.binary_search_by(|(k, _)| k.cmp(key)) {
            self.users.remove(i);
        }
    }
}

/// A pool and its used slots per family.
#[derive(Debug, Clone)]
struct PoolState {
    /// Shared copy of the pool name for [`IpUse`].
    name: Arc<str>,
    pool: Pool,
    used: [IntervalSet; 2],
}

#[derive(Debug, Clone)]
struct Svc {
    req: ServiceRequest,
    assignment: Option<Assignment>,
    last_error: Option<AllocError>,
}

/// The allocator. See the crate docs for the semantics.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    pools: BTreeMap<String, PoolState>,
    /// Pinned pools (with serviceAllocation) in (priority, name) order.
    pinned_order: Vec<String>,
    /// Plain pools in name order.
    plain_order: Vec<String>,
    /// Boxed: a B-tree node holds 11 entries, mostly half empty, and a
    /// request is a few hundred bytes.
    services: BTreeMap<ServiceKey, Box<Svc>>,
    ips: BTreeMap<IpAddr, IpUse>,
    /// sharing key -> addresses whose users have that key.
    shared: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Services without an assignment (so retrying them is O(pending)).
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

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let a: BTreeSet<_> = a.iter().collect();
    let b: BTreeSet<_> = b.iter().collect();
    a == b
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
        self.pools = validated
            .into_iter()
            .map(|(name, pool)| {
                (
                    name.clone(),
                    PoolState {
                        name: Arc::from(name.as_str()),
                        pool,
                        used: Default::default(),
                    },
                )
            })
            .collect();
        let mut pinned: Vec<&Pool> = self
            .pools
            .values()
            .map(|p| &p.pool)
            .filter(|p| p.is_pinned())
            .collect();
        pinned.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        self.pinned_order = pinned.iter().map(|p| p.name.clone()).collect();
        self.plain_order = self
            .pools
            .values()
            .filter(|p| !p.pool.is_pinned())
            .map(|p| p.pool.name.clone())
            .collect();
        Ok(())
    }

    // ------------------------------------------------------------------
    // Queries
    // ------------------------------------------------------------------

    /// The current assignment of a service.
    pub fn assignment(&self, key: &ServiceKey) -> Option<&Assignment> {
        self.services.get(key)?.assignment.as_ref()
    }

    /// Services known to the allocator that have no address, with the last
    /// reason, in key order.
    pub fn pending(&self) -> impl Iterator<Item = (&ServiceKey, Option<&AllocError>)> {
        self.pending
            .iter()
            .filter_map(|k| self.services.get_key_value(k))
            .map(|(k, s)| (k, s.last_error.as_ref()))
    }

    /// All assignments, in key order.
    pub fn assignments(&self) -> impl Iterator<Item = (&ServiceKey, &Assignment)> {
        self.services
            .iter()
            .filter_map(|(k, s)| Some((k, s.assignment.as_ref()?)))
    }

    /// The services using an address, in key order.
    pub fn users_of(&self, ip: &IpAddr) -> Vec<&ServiceKey> {
        self.ips
            .get(ip)
            .map(|u| u.keys().collect())
            .unwrap_or_default()
    }

    /// A validated pool by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name).map(|p| &p.pool)
    }

    /// Pool names in the order automatic allocation tries them for `req`:
    /// compatible pinned pools by (priority, name), then plain pools by name,
    /// both restricted to `autoAssign` pools.
    pub fn candidate_pools(&self, req: &ServiceRequest) -> Vec<&str> {
        self.candidates(req)
            .into_iter()
            .map(|p| p.pool.name.as_str())
            .collect()
    }

    /// Per-pool statistics, in pool-name order.
    pub fn stats(&self) -> Vec<PoolStats> {
        self.pools.values().map(|p| self.pool_stats_of(p)).collect()
    }

    /// Statistics of one pool.
    pub fn pool_stats(&self, name: &str) -> Option<PoolStats> {
        self.pools.get(name).map(|p| self.pool_stats_of(p))
    }

    fn pool_stats_of(&self, p: &PoolState) -> PoolStats {
        PoolStats {
            pool: p.pool.name.clone(),
            ipv4_total: p.pool.space(Family::V4).total(),
            ipv4_in_use: p.used[0].len(),
            ipv6_total: p.pool.space(Family::V6).total(),
            ipv6_in_use: p.used[1].len(),
            services: self
                .services
                .values()
                .filter(|s| {
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

    fn pool_of_ip(&self, ip: &IpAddr) -> Option<(&PoolState, u128)> {
        let value = to_u128(ip);
        let fam = Family::of(ip);
        self.pools
            .values()
            .find_map(|p| p.pool.space(fam).slot_of(value).map(|slot| (p, slot)))
    }

    /// MetalLB's `checkSharing`: may `key` (with these keys and ports) use `ip`?
    fn check_ip(
        &self,
        key: &ServiceKey,
        req: &ServiceRequest,
        backend: &str,
        ip: &IpAddr,
    ) -> Result<(), AllocError> {
        let Some(u) = self.ips.get(ip) else {
            return Ok(());
        };
        if u.keys().all(|k| k == key) {
            return Ok(());
        }
        let others = || {
            u.keys()
                .filter(|k| *k != key)
                .map(|k| k.to_string())
                .collect()
        };
        let conflict = if u.sharing_key.is_empty() {
            Some(SharingConflict::ExistingDoesNotAllowSharing)
        } else if req.sharing_key.is_empty() {
            Some(SharingConflict::NewDoesNotAllowSharing)
        } else if u.sharing_key != req.sharing_key {
            Some(SharingConflict::KeyMismatch {
                new: req.sharing_key.clone(),
                existing: u.sharing_key.clone(),
            })
        } else if u.backend_key != backend {
            Some(SharingConflict::BackendMismatch {
                new: backend.to_string(),
                existing: u.backend_key.clone(),
            })
        } else {
            None
        };
        if let Some(conflict) = conflict {
            return Err(AllocError::SharingKeyConflict {
                service: key.to_string(),
                others: others(),
                conflict,
            });
        }
        for port in &req.ports {
            if u.users
                .iter()
                .any(|(k, ports)| k != key && ports.contains(port))
            {
                return Err(AllocError::PortInUse {
                    port: *port,
                    ip: *ip,
                });
            }
        }
        Ok(())
    }

    fn place(&mut self, key: &ServiceKey, req: &ServiceRequest, a: &Assignment) {
        let backend = req.backend_key();
        for AssignedIp { ip, pool } in &a.ips {
            let fam = Family::of(ip);
            let Some(ps) = self.pools.get_mut(&**pool) else {
                continue;
            };
            let Some(slot) = ps.pool.space(fam).slot_of(to_u128(ip)) else {
                continue;
            };
            let u = self.ips.entry(*ip).or_insert_with(|| IpUse {
                pool: ps.name.clone(),
                slot,
                sharing_key: req.sharing_key.clone(),
                backend_key: backend.clone(),
                users: Vec::new(),
            });
            if u.keys().all(|k| k == key) {
                u.sharing_key = req.sharing_key.clone();
                u.backend_key = backend.clone();
            }
            u.insert_user(key, &req.ports);
            ps.used[fam.index()].insert(slot);
            if !req.sharing_key.is_empty() {
                self.shared
                    .entry(req.sharing_key.clone())
                    .or_default()
                    .insert(*ip);
            }
        }
    }

    /// Removes `key` from the addresses of `a`. Returns true if an address
    /// became free.
    fn unplace(&mut self, key: &ServiceKey, a: &Assignment) -> bool {
        let mut freed = false;
        for AssignedIp { ip, .. } in &a.ips {
            let Some(u) = self.ips.get_mut(ip) else {
                continue;
            };
            u.remove_user(key);
            if u.users.is_empty() {
                let (pool, slot, sk) = (u.pool.clone(), u.slot, u.sharing_key.clone());
                self.ips.remove(ip);
                if let Some(ps) = self.pools.get_mut(&*pool) {
                    ps.used[Family::of(ip).index()].remove(slot);
                }
                if let Some(set) = self.shared.get_mut(&sk) {
                    set.remove(ip);
                    if set.is_empty() {
                        self.shared.remove(&sk);
                    }
                }
                freed = true;
            }
        }
        freed
    }

    fn clear(&mut self, key: &ServiceKey) -> bool {
        let Some(a) = self.services.get_mut(key).and_then(|s| s.assignment.take()) else {
            return false;
        };
        self.unplace(key, &a)
    }

    fn set_assignment(&mut self, req: &ServiceRequest, a: Assignment) {
        self.place(&req.key, req, &a);
        self.pending.remove(&req.key);
        match self.services.get_mut(&req.key) {
            Some(svc) => {
                if svc.req != *req {
                    svc.req.clone_from(req);
                }
                svc.assignment = Some(a);
                svc.last_error = None;
            }
            None => {
                let svc = Svc {
                    req: req.clone(),
                    assignment: Some(a),
                    last_error: None,
                };
                self.services.insert(req.key.clone(), Box::new(svc));
            }
        }
    }

    fn set_pending(&mut self, req: &ServiceRequest, e: AllocError) {
        self.pending.insert(req.key.clone());
        match self.services.get_mut(&req.key) {
            Some(svc) => {
                if svc.req != *req {
                    svc.req.clone_from(req);
                }
                svc.last_error = Some(e);
            }
            None => {
                let svc = Svc {
                    req: req.clone(),
                    assignment: None,
                    last_error: Some(e),
                };
                self.services.insert(req.key.clone(), Box::new(svc));
            }
        }
    }

    // ------------------------------------------------------------------
    // Choosing addresses (pure)
    // ------------------------------------------------------------------

    /// MetalLB's `Assign` check for given addresses: each must be in a pool
    /// (not buggy there), that pool must allow the service, and sharing
    /// must be legal.
    fn check_addresses(
        &self,
        req: &ServiceRequest,
        ips: &[IpAddr],
    ) -> Result<Assignment, AllocError> {
        let mut out = Vec::with_capacity(ips.len());
        for ip in ips {
            let Some((ps, _)) = self.pool_of_ip(ip) else {
                return Err(AllocError::NotAllowedInConfig {
                    ips: IpList(ips.to_vec()),
                });
            };
            out.push(AssignedIp {
                ip: *ip,
                pool: ps.name.clone(),
            });
        }
        for a in &out {
            if let Some(ps) = self.pools.get(&*a.pool) {
                if !ps
                    .pool
                    .allows(&req.key.namespace, &req.namespace_labels, &req.labels)
                {
                    return Err(AllocError::PoolNotCompatible {
                        pool: a.pool.to_string(),
                    });
                }
            }
        }
        let backend = req.backend_key();
        for ip in ips {
            self.check_ip(&req.key, req, &backend, ip)?;
        }
        Ok(Assignment { ips: out })
    }

    /// Pools for automatic allocation, in order.
    fn candidates(&self, req: &ServiceRequest) -> Vec<&PoolState> {
        let ok = |ps: &&PoolState| {
            ps.pool.spec.auto_assign
                && ps
                    .pool
                    .allows(&req.key.namespace, &req.namespace_labels, &req.labels)
        };
        self.pinned_order
            .iter()
            .chain(self.plain_order.iter())
            .filter_map(|n| self.pools.get(n))
            .filter(ok)
            .collect()
    }

    /// One address of `fam` in pool `ps` for `req`: a compatible shared
    /// address first (lowest), then (unless `shared_only`) the lowest free one.
    fn pick(
        &self,
        ps: &PoolState,
        fam: Family,
        req: &ServiceRequest,
        backend: &str,
        shared_only: bool,
    ) -> Option<IpAddr> {
        if !req.sharing_key.is_empty() {
            if let Some(set) = self.shared.get(&req.sharing_key) {
                let found = set.iter().find(|ip| {
                    Family::of(ip) == fam
                        && self.ips.get(ip).is_some_and(|u| *u.pool == *ps.pool.name)
                        && self.check_ip(&req.key, req, backend, ip).is_ok()
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
        ps: &PoolState,
        fams: &[Family],
        req: &ServiceRequest,
        backend: &str,
        shared_only: bool,
    ) -> Option<Assignment> {
        let mut ips = Vec::with_capacity(fams.len());
        for &f in fams {
            let ip = self.pick(ps, f, req, backend, shared_only)?;
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

    fn allocate_auto(&self, req: &ServiceRequest, want: Wanted) -> Result<Assignment, AllocError> {
        let cands = self.candidates(req);
        let sets = Self::family_sets(want);
        let declares =
            |ps: &PoolState, fams: &[Family]| fams.iter().all(|f| ps.pool.declares_family(*f));
        if !cands.is_empty()
            && !sets
                .iter()
                .any(|fams| cands.iter().any(|ps| declares(ps, fams)))
        {
            return Err(AllocError::NoSuitablePool {
                family: Self::label(want),
            });
        }
        let backend = req.backend_key();
        if !req.sharing_key.is_empty() {
            for ps in &cands {
                if let Some(a) = self.try_pool(ps, sets[0], req, &backend, true) {
                    return Ok(a);
                }
            }
        }
        for fams in sets {
            for ps in &cands {
                if let Some(a) = self.try_pool(ps, fams, req, &backend, false) {
                    return Ok(a);
                }
            }
        }
        Err(AllocError::NoAvailableIps)
    }

    fn allocate_from_pool(
        &self,
        req: &ServiceRequest,
        want: Wanted,
        name: &str,
    ) -> Result<Assignment, AllocError> {
        let ps = self
            .pools
            .get(name)
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
        let backend = req.backend_key();
        let sets = Self::family_sets(want);
        for shared_only in [true, false] {
            if shared_only && req.sharing_key.is_empty() {
                continue;
            }
            for fams in sets {
                if let Some(a) = self.try_pool(ps, fams, req, &backend, shared_only) {
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
        req: &ServiceRequest,
        want: Wanted,
    ) -> Result<Assignment, AllocError> {
        let ips = &req.requested_ips;
        let fits = match (want, ips.as_slice()) {
            (Wanted::PreferDual { .. }, [_]) => true,
            _ => family_fits(want, ips),
        };
        if !fits {
            return Err(AllocError::FamilyMismatch {
                ips: IpList(ips.clone()),
            });
        }
        let a = self.check_addresses(req, ips)?;
        if let Some(pool) = &req.pool {
            if a.ips.iter().any(|i| *i.pool != **pool) {
                return Err(AllocError::NotInRequestedPool {
                    ips: IpList(ips.clone()),
                    pool: pool.clone(),
                });
            }
        }
        Ok(a)
    }

    /// A fresh assignment for `req` (MetalLB's `allocateIPs`).
    fn allocate_new(&self, req: &ServiceRequest) -> Result<Assignment, AllocError> {
        let want = req.wanted()?;
        if self.pools.is_empty() {
            return Err(AllocError::NoPools);
        }
        if !req.requested_ips.is_empty() {
            self.assign_requested(req, want)
        } else if let Some(pool) = &req.pool {
            self.allocate_from_pool(req, want, pool)
        } else {
            self.allocate_auto(req, want)
        }
    }

    /// Checks that `ips` is still a valid assignment for `req`. `Ok(None)`
    /// means "drop it silently" (family changed, another pool or other IPs
    /// requested); `Err` means "drop it with a ClearAssignment event".
    fn revalidate(
        &self,
        req: &ServiceRequest,
        want: Wanted,
        ips: &[IpAddr],
    ) -> Result<Option<Assignment>, AllocError> {
        if !family_fits(want, ips) {
            return Ok(None);
        }
        let a = self.check_addresses(req, ips)?;
        if req.pool.as_ref().is_some_and(|p| a.pool() != p) {
            return Ok(None);
        }
        if !req.requested_ips.is_empty() && !same_set(&req.requested_ips, ips) {
            return Ok(None);
        }
        Ok(Some(a))
    }

    /// PreferDualStack with one address: try to add the other family from
    /// the same pool. `None` if there is nothing to try.
    fn additional(
        &self,
        req: &ServiceRequest,
        a: &Assignment,
    ) -> Option<Result<AssignedIp, AllocError>> {
        let want = req.wanted().ok()?;
        if !matches!(want, Wanted::PreferDual { .. })
            || a.ips.len() != 1
            || !req.requested_ips.is_empty()
        {
            return None;
        }
        let have = Family::of(&a.ips[0].ip);
        let ps = self.pools.get(&*a.ips[0].pool)?;
        if !ps.pool.declares_family(have.other()) {
            return None;
        }
        let backend = req.backend_key();
        Some(
            self.pick(ps, have.other(), req, &backend, false)
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
        self.converge_inner(req, status, true, true)
    }

    /// Like `converge(req, &[])` (keeps the current assignment if still
    /// valid, else allocates; same decisions) but builds no events and
    /// returns just the result: the fast path for bulk use.
    pub fn allocate(&mut self, req: &ServiceRequest) -> Result<Assignment, AllocError> {
        self.converge_inner(req, &[], true, false).result
    }

    fn converge_inner(
        &mut self,
        req: &ServiceRequest,
        status: &[IpAddr],
        retry: bool,
        with_events: bool,
    ) -> Outcome {
        let key = &req.key;
        let mut events = Vec::new();
        // `allocate()` skips building event messages; decisions are identical.
        let emit = |events: &mut Vec<Event>, make: &dyn Fn() -> Event| {
            if with_events {
                events.push(make());
            }
        };
        let mut freed = false;
        let want = match req.wanted() {
            Ok(w) => w,
            Err(e) => {
                freed |= self.clear(key);
                emit(&mut events, &|| Event::failed(key, &e));
                return self.finish_failed(req, e, events, freed, retry);
            }
        };
        if self.pools.is_empty() {
            freed |= self.clear(key);
            return self.finish_failed(req, AllocError::NoPools, events, freed, retry);
        }
        let current: Vec<IpAddr> = match self.assignment(key) {
            Some(a) => a.addresses(),
            None => status.to_vec(),
        };
        if !current.is_empty() {
            match self.revalidate(req, want, &current) {
                Ok(Some(mut a)) => {
                    if let Some(old) = self.services.get_mut(key).and_then(|s| s.assignment.take())
                    {
                        freed |= self.unplace(key, &old);
                    }
                    match self.additional(req, &a) {
                        Some(Ok(extra)) => {
                            emit(&mut events, &|| {
                                Event::normal(
                                    reasons::IP_ALLOCATED,
                                    format!("Assigned additional IP {:?}", extra.ip.to_string()),
                                )
                            });
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => emit(&mut events, &|| {
                            Event::normal(
                                reasons::ADDITIONAL_ASSIGN_FAILED,
                                format!("cannot assign additional IP in PreferDualStack: {e}"),
                            )
                        }),
                        None => {}
                    }
                    self.set_assignment(req, a.clone());
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
                Ok(None) => freed |= self.clear(key),
                Err(e) => {
                    freed |= self.clear(key);
                    emit(&mut events, &|| Event::cleared(key, &e));
                }
            }
        }
        match self.allocate_new(req) {
            Ok(a) => {
                emit(&mut events, &|| Event::ip_allocated(&a));
                self.set_assignment(req, a.clone());
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
                self.finish_failed(req, e, events, freed, retry)
            }
        }
    }

    fn finish_failed(
        &mut self,
        req: &ServiceRequest,
        e: AllocError,
        events: Vec<Event>,
        freed: bool,
        retry: bool,
    ) -> Outcome {
        self.set_pending(req, e.clone());
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
        let pending: Vec<ServiceKey> = self
            .pending
            .iter()
            .filter(|k| {
                self.services.get(*k).is_some_and(|s| {
                    s.assignment.is_none()
                        && !s.last_error.as_ref().is_some_and(|e| e.is_request_error())
                })
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        for key in pending {
            let Some(req) = self.services.get(&key).map(|s| s.req.clone()) else {
                continue;
            };
            if let Ok(a) = self.allocate_new(&req) {
                self.set_assignment(&req, a.clone());
                out.push((key, a));
            }
        }
        out
    }

    /// Forgets a service (deleted, or no longer a LoadBalancer) and frees its
    /// addresses; pending services then get a chance.
    pub fn release(&mut self, key: &ServiceKey) -> Released {
        self.pending.remove(key);
        let Some(svc) = self.services.remove(key) else {
            return Released::default();
        };
        let freed = svc
            .assignment
            .as_ref()
            .is_some_and(|a| self.unplace(key, a));
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
    /// not depend on the order of `services`.
    pub fn sync(
        &mut self,
        services: impl IntoIterator<Item = (ServiceRequest, Vec<IpAddr>)>,
    ) -> BTreeMap<ServiceKey, Outcome> {
        let wanted: BTreeMap<ServiceKey, (ServiceRequest, Vec<IpAddr>)> = services
            .into_iter()
            .map(|(r, s)| (r.key.clone(), (r, s)))
            .collect();
        let gone: Vec<ServiceKey> = self
            .services
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            self.pending.remove(&k);
            if let Some(svc) = self.services.remove(&k) {
                if let Some(a) = svc.assignment {
                    self.unplace(&k, &a);
                }
            }
        }
        // Phase 1: restore status addresses, no fresh allocation yet.
        for (key, (req, status)) in &wanted {
            if status.is_empty() || self.assignment(key).is_some() {
                continue;
            }
            if let Ok(want) = req.wanted() {
                if let Ok(Some(a)) = self.revalidate(req, want, status) {
                    self.set_assignment(req, a);
                }
            }
        }
        // Phase 2: converge everything in key order.
        let mut out = BTreeMap::new();
        for (key, (req, status)) in &wanted {
            out.insert(key.clone(), self.converge_inner(req, status, false, true));
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
        let keys: Vec<ServiceKey> = self.services.keys().cloned().collect();
        let mut out: BTreeMap<ServiceKey, Outcome> = BTreeMap::new();
        let mut to_allocate: Vec<(ServiceKey, Vec<Event>)> = Vec::new();
        // Re-place still-valid assignments first, in key order.
        for key in &keys {
            let Some(svc) = self.services.get_mut(key) else {
                continue;
            };
            let req = svc.req.clone();
            let Some(old) = svc.assignment.take() else {
                if !svc
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.is_request_error())
                {
                    to_allocate.push((key.clone(), Vec::new()));
                }
                continue;
            };
            let checked = match req.wanted() {
                Ok(want) if !self.pools.is_empty() => self.revalidate(&req, want, &old.addresses()),
                Ok(_) => Err(AllocError::NoPools),
                Err(e) => Err(e),
            };
            match checked {
                Ok(Some(mut a)) => {
                    let mut events = Vec::new();
                    match self.additional(&req, &a) {
                        Some(Ok(extra)) => {
                            events.push(Event::normal(
                                reasons::IP_ALLOCATED,
                                format!("Assigned additional IP {:?}", extra.ip.to_string()),
                            ));
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => events.push(Event::normal(
                            reasons::ADDITIONAL_ASSIGN_FAILED,
                            format!("cannot assign additional IP in PreferDualStack: {e}"),
                        )),
                        None => {}
                    }
                    let changed = a != old;
                    self.set_assignment(&req, a.clone());
                    if changed {
                        out.insert(
                            key.clone(),
                            Outcome {
                                result: Ok(a),
                                events,
                                unblocked: Vec::new(),
                            },
                        );
                    }
                }
                Ok(None) => to_allocate.push((key.clone(), Vec::new())),
                Err(AllocError::NoPools) => {
                    self.set_pending(&req, AllocError::NoPools);
                    out.insert(
                        key.clone(),
                        Outcome {
                            result: Err(AllocError::NoPools),
                            events: Vec::new(),
                            unblocked: Vec::new(),
                        },
                    );
                }
                Err(e) => to_allocate.push((key.clone(), vec![Event::cleared(key, &e)])),
            }
        }
        // Then allocate for the orphaned and the pending, in key order.
        for (key, mut events) in to_allocate {
            let Some(req) = self.services.get(&key).map(|s| s.req.clone()) else {
                continue;
            };
            let was_pending = events.is_empty()
                && self
                    .services
                    .get(&key)
                    .is_some_and(|s| s.assignment.is_none() && s.last_error.is_some());
            match self.allocate_new(&req) {
                Ok(a) => {
                    events.push(Event::ip_allocated(&a));
                    self.set_assignment(&req, a.clone());
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
                    self.set_pending(&req, e.clone());
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
