//! Whole-set operations: `sync` (restart / full resync) and `set_pools`.

use super::*;

impl Allocator {
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
        let mut out = BTreeMap::new();
        self.sync_each(services, true, |key, outcome| {
            out.insert(key.clone(), outcome);
        });
        out
    }

    /// [`Allocator::sync`] with the same decisions, but no events built and
    /// no outcome returned: the restore path of a caller that reads the
    /// result back through the queries (`assignment`, `pending`). Saves a
    /// map entry, a key copy and the event list per Service.
    pub fn sync_quiet(
        &mut self,
        services: impl IntoIterator<Item = (ServiceRequest, Vec<IpAddr>)>,
    ) {
        self.sync_each(services, false, |_, _| {});
    }

    fn sync_each(
        &mut self,
        services: impl IntoIterator<Item = (ServiceRequest, Vec<IpAddr>)>,
        with_events: bool,
        mut each: impl FnMut(&ServiceKey, Outcome),
    ) {
        // Key order, the last entry of a duplicated key winning: a stable
        // sort keeps duplicates in input order, then only the last of each
        // run of equal keys is kept. (Input that is already sorted, as a
        // validated config's Services are, costs one pass.)
        let mut wanted: Vec<(ServiceRequest, Vec<IpAddr>)> = services.into_iter().collect();
        if !wanted.windows(2).all(|w| w[0].0.key < w[1].0.key) {
            wanted.sort_by(|a, b| a.0.key.cmp(&b.0.key));
            let mut kept: Vec<(ServiceRequest, Vec<IpAddr>)> = Vec::with_capacity(wanted.len());
            for entry in wanted {
                match kept.last_mut() {
                    Some(last) if last.0.key == entry.0.key => *last = entry,
                    _ => kept.push(entry),
                }
            }
            wanted = kept;
        }
        let is_wanted = |key: &ServiceKey| wanted.binary_search_by(|(r, _)| r.key.cmp(key)).is_ok();
        let gone: Vec<Id> = self
            .ids_in_key_order()
            .into_iter()
            .filter(|&id| !is_wanted(&self.svc(id).key))
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
        for (req, status) in &wanted {
            let id = self.lookup(&req.key);
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
        for (req, status) in &wanted {
            let outcome = self.converge_inner(&Req::of(req), status, false, with_events);
            each(&req.key, outcome);
        }
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
        let mut to_allocate: Vec<(Id, Vec<AllocationEvent>)> = Vec::new();
        // Re-place still-valid assignments first, in key order.
        for id in ids {
            self.note(id);
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
                            events.push(AllocationEvent::additional(extra.ip));
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => events.push(AllocationEvent::additional_failed(&e)),
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
                Err(e) => to_allocate.push((id, vec![AllocationEvent::cleared(&key, &e)])),
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
                    events.push(AllocationEvent::ip_allocated(&a));
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
                        events.push(AllocationEvent::failed(&key, &e));
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
