//! The incremental pass: only the Services that changed since the last
//! pass, when pools and namespaces did not change. A full pass over 10k
//! Services costs hundreds of milliseconds (building, validating and
//! hashing every Service); this one costs what changed.

use super::*;

impl Engine {
    /// Converges only `changed` (every Service key whose object changed or
    /// went away since the last pass). `config` is validated from the
    /// current pools and namespaces (unchanged since the last full pass)
    /// and only the changed Services that still exist; a changed key not
    /// among its Services (deleted, no longer a LoadBalancer of our class)
    /// is released. Before the first (restoring) pass this is a full pass.
    pub fn pass_changed(&mut self, config: &Config, changed: &[ServiceKey]) -> Vec<Action> {
        if self.alloc.is_none() {
            return self.pass(config);
        }
        let Engine {
            alloc, seen, known, ..
        } = self;
        let Some(alloc) = alloc.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut unblocked: Vec<ServiceKey> = Vec::new();
        let present: HashSet<ServiceKey> = config.services.iter().map(|s| s.key()).collect();
        let mut valid = Vec::with_capacity(config.services.len());
        for key in changed.iter().filter(|k| !present.contains(*k)) {
            seen.remove(key);
            release(known, alloc, key, &mut out, &mut unblocked);
        }
        for svc in &config.services {
            let key = svc.key();
            match svc.request() {
                Err(e) => {
                    // MetalLB's LoadBalancerFailed: reported, not allocated.
                    if mark(seen, svc) {
                        out.push(Action::Event {
                            message: e.event_message(&format!("{}/{}", key.namespace, key.name)),
                            key: key.clone(),
                            warning: true,
                            reason: e.reason(),
                        });
                    }
                    release(known, alloc, &key, &mut out, &mut unblocked);
                }
                Ok(req) => {
                    known.insert(key.clone(), ());
                    if mark(seen, svc) {
                        let o = alloc.converge(&req, svc.status_ips());
                        out.extend(o.events.iter().map(|e| event(&key, e)));
                        for (k, a) in &o.unblocked {
                            out.push(event(k, &AllocationEvent::ip_allocated(a)));
                            unblocked.push(k.clone());
                        }
                    }
                    valid.push(svc);
                }
            }
        }
        // Statuses only now, after every release and convergence of the
        // batch: a pending Service handled before a later one freed an
        // address showed none when it was converged (as `pass` does).
        for svc in valid {
            out.extend(status_actions(alloc, svc));
        }
        // Pending Services outside this batch that got an address: they
        // showed none.
        let mut written = HashSet::new();
        for k in unblocked {
            if present.contains(&k) || !written.insert(k.clone()) {
                continue;
            }
            if let Some(a) = alloc.assignment(&k) {
                out.push(Action::SetStatus {
                    ips: a.addresses(),
                    pool: Some(a.pool().to_string()),
                    key: k,
                });
            }
        }
        out
    }
}

/// Forgets `key` if the allocator knew it; pending Services that get its
/// address are announced and collected in `unblocked`.
fn release(
    known: &mut BTreeMap<ServiceKey, ()>,
    alloc: &mut Allocator,
    key: &ServiceKey,
    out: &mut Vec<Action>,
    unblocked: &mut Vec<ServiceKey>,
) {
    if known.remove(key).is_some() {
        // A freed address goes to pending Services at once.
        for (k, a) in alloc.release(key).unblocked {
            out.push(event(&k, &AllocationEvent::ip_allocated(&a)));
            unblocked.push(k);
        }
    }
}
