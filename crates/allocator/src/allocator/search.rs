//! Finding addresses: candidate pools, first-fit picks, requested IPs,
//! revalidation and the additional dual-stack address.

use super::*;

impl Allocator {
    /// Pools for automatic allocation, in order.
    pub(super) fn candidates<'s>(
        &'s self,
        req: &'s Req,
    ) -> impl Iterator<Item = &'s PoolState> + Clone + 's {
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
    pub(super) fn pick(
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

    pub(super) fn try_pool(
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
    pub(super) fn family_sets(want: Wanted) -> &'static [&'static [Family]] {
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

    pub(super) fn label(want: Wanted) -> FamilyLabel {
        match want {
            Wanted::Single(f) => FamilyLabel::Single(f),
            _ => FamilyLabel::Dual,
        }
    }

    pub(super) fn allocate_auto(
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

    pub(super) fn allocate_from_pool(
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

    pub(super) fn assign_requested(
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
    pub(super) fn allocate_new(&self, me: Option<Id>, req: &Req) -> Result<Assignment, AllocError> {
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
    pub(super) fn revalidate(
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
    pub(super) fn additional(
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
}
