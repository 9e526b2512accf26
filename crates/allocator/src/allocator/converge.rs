//! Converging and releasing one service, retrying pending ones.

use super::*;

impl Allocator {
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

    pub(super) fn converge_inner(
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
        let emit = |events: &mut Vec<AllocationEvent>, make: &dyn Fn() -> AllocationEvent| {
            if with_events {
                events.push(make());
            }
        };
        let mut freed = false;
        let want = match &req.want {
            Ok(w) => *w,
            Err(e) => {
                freed |= self.clear(id);
                emit(&mut events, &|| AllocationEvent::failed(key, e));
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
                            emit(&mut events, &|| AllocationEvent::additional(extra.ip));
                            a.ips.push(extra);
                        }
                        Some(Err(e)) => {
                            emit(&mut events, &|| AllocationEvent::additional_failed(&e))
                        }
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
                    emit(&mut events, &|| AllocationEvent::cleared(key, &e));
                }
            }
        }
        match self.allocate_new(id, req) {
            Ok(a) => {
                emit(&mut events, &|| AllocationEvent::ip_allocated(&a));
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
                    emit(&mut events, &|| AllocationEvent::failed(key, &e));
                }
                self.finish_failed(id, req, e, events, freed, retry)
            }
        }
    }

    pub(super) fn finish_failed(
        &mut self,
        id: Option<Id>,
        req: &Req,
        e: AllocError,
        events: Vec<AllocationEvent>,
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
}
