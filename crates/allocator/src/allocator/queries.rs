//! Read-only queries: assignments, pending services, users of an address,
//! pools and statistics.

use super::*;

impl Allocator {
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

    /// Every service the allocator knows (assigned or pending), in no
    /// particular order: for a caller that diffs its services against the
    /// allocator's and releases the ones that are gone.
    pub fn services(&self) -> impl Iterator<Item = &ServiceKey> {
        self.svcs.iter().map(|(_, s)| &s.key)
    }

    /// How many services the allocator knows (assigned or pending).
    pub fn service_count(&self) -> usize {
        self.svcs.live()
    }

    /// Whether the allocator knows `key` (assigned or pending).
    pub fn knows(&self, key: &ServiceKey) -> bool {
        self.lookup(key).is_some()
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

    pub(super) fn pool_stats_of(&self, p: &PoolState) -> PoolStats {
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
}

impl Allocator {
    // ------------------------------------------------------------------
    // Change tracking
    // ------------------------------------------------------------------

    /// Starts (or restarts) recording which services' assignments change:
    /// from now on the first change of each service keeps its assignment
    /// before it, for [`Allocator::take_changes`]. Costs nothing per
    /// untouched service, so a caller that keeps its own copy of every
    /// assignment (to diff a reload against) needs none.
    pub fn track_changes(&mut self) {
        self.journal = Some(HashMap::default());
    }

    /// Whether [`Allocator::track_changes`] is on.
    pub fn is_tracking_changes(&self) -> bool {
        self.journal.is_some()
    }

    /// The services whose assignment differs from what it was when
    /// tracking started or changes were last taken, in key order, each
    /// with its assignment then (`None`: it had none, or was unknown);
    /// the current one is [`Allocator::assignment`]. A service changed and
    /// changed back is not listed. Tracking goes on; `None` when it is off.
    pub fn take_changes(&mut self) -> Option<Vec<(ServiceKey, Option<Assignment>)>> {
        let journal = std::mem::take(self.journal.as_mut()?);
        let mut out: Vec<(ServiceKey, Option<Assignment>)> = journal
            .into_iter()
            .filter(|(k, before)| self.assignment(k) != before.as_ref())
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Some(out)
    }
}
