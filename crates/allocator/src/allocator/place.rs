//! Bookkeeping: sharing checks, placing and removing assignments, pending
//! state.

use super::*;

impl Allocator {
    // ------------------------------------------------------------------
    // Bookkeeping
    // ------------------------------------------------------------------

    pub(super) fn pool_of_ip(&self, ip: &IpAddr) -> Option<&PoolState> {
        let value = to_u128(ip);
        let fam = Family::of(ip);
        self.pools
            .iter()
            .find(|p| p.pool.space(fam).slot_of(value).is_some())
    }

    /// MetalLB's `checkSharing`: may `req` (service `me`, if known) use `ip`?
    pub(super) fn check_ip(
        &self,
        me: Option<Id>,
        req: &Req,
        ip: &IpAddr,
    ) -> Result<(), AllocError> {
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

    pub(super) fn place(&mut self, id: Id, sharing_key: &str, a: &Assignment) {
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
    pub(super) fn unplace(&mut self, id: Id, sharing_key: &str, a: &Assignment) -> bool {
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
    pub(super) fn clear(&mut self, id: Option<Id>) -> bool {
        let Some(id) = id else {
            return false;
        };
        self.note(id);
        let svc = self.svc_mut(id);
        let Some(a) = svc.assignment.take() else {
            return false;
        };
        let sk = svc.spec.sharing_key().to_string();
        self.unplace(id, &sk, &a)
    }

    /// Records `a` for the service of `req` (creating it if needed) and
    /// marks its addresses used. Returns the service's id.
    pub(super) fn set_assignment(&mut self, id: Option<Id>, req: &Req, a: Assignment) -> Id {
        let id = match id {
            Some(id) => {
                self.note(id);
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
            None => {
                let id = self.insert_svc(Svc {
                    key: req.key.clone(),
                    spec: req.to_spec(),
                    assignment: None,
                    last_error: None,
                    pending: false,
                });
                self.note(id);
                id
            }
        };
        self.place(id, req.sharing_key, &a);
        self.svc_mut(id).assignment = Some(a);
        id
    }

    pub(super) fn set_pending(&mut self, id: Option<Id>, req: &Req, e: AllocError) -> Id {
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
    pub(super) fn check_addresses(
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
}
