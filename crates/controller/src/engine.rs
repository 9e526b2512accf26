//! The controller's decisions, sans-IO: given the validated configuration
//! (pools, namespaces and the LoadBalancer Services, as metallb-api builds
//! it from the API server's objects), keep one [`Allocator`] up to date and
//! say which Service statuses to write and which Events to emit.
//!
//! The first pass restores: every Service's existing
//! `status.loadBalancer.ingress` is claimed (`Allocator::sync`) before any
//! new address is handed out, so a restarted controller moves no IP. Later
//! passes replace the pools when they changed, release Services that are
//! gone and converge only Services whose request or status changed.

use allocator::{AllocationEvent, Allocator, EventKind, IpAddressPool, PoolStats, ServiceKey};
use metallb_api::types::IpAddressPoolStatus;
use metallb_api::{Config, Diagnostics, LoadBalancerService, Loaded, ServiceRecord};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// The annotation MetalLB's controller writes with the pool's name.
pub const POOL_ANNOTATION: &str = "metallb.io/ip-allocated-from-pool";

/// What the driver must do after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `status.loadBalancer.ingress` = `ips` (empty: clear) and the
    /// pool annotation (`None`: remove it).
    SetStatus {
        /// The Service.
        key: ServiceKey,
        /// The addresses, primary family first.
        ips: Vec<IpAddr>,
        /// The pool of the first address.
        pool: Option<String>,
    },
    /// Emit an Event on the Service.
    Event {
        /// The Service.
        key: ServiceKey,
        /// Warning (true) or Normal.
        warning: bool,
        /// MetalLB's reason, e.g. `IPAllocated`.
        reason: &'static str,
        /// MetalLB's message.
        message: String,
    },
    /// Write an IPAddressPool's `status` (the status subresource).
    PoolStatus {
        /// The pool's name (in the MetalLB namespace).
        pool: String,
        /// The counts.
        status: IpAddressPoolStatus,
    },
    /// Emit an Event on a configuration object that made the whole
    /// configuration invalid (reason `ConfigurationError`).
    ConfigEvent {
        /// Its kind, e.g. `IPAddressPool`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The diagnostic: the field and what is wrong.
        message: String,
    },
    /// Bring the `ConfigurationState` named `controller` (MetalLB 0.15.3)
    /// to this result: `status.result` Valid/Invalid, `errorSummary`, and
    /// the `poolReconcilerValid` condition. Level-triggered: every full
    /// pass says it; the driver writes only when the object differs.
    ConfigState {
        /// The configuration validated.
        valid: bool,
        /// The errors, one line, when it did not.
        summary: Option<String>,
    },
}

/// Longest `errorSummary` written (a pathological config must not make an
/// object the API server refuses).
const SUMMARY_MAX: usize = 4096;

/// The [`Action::ConfigState`] of a full pass: `None` validated, else the
/// errors that refused it, each naming its object and field.
pub fn config_state(errors: Option<&Diagnostics>) -> Action {
    let summary = errors.map(|d| {
        let mut s = d
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        if s.len() > SUMMARY_MAX {
            let mut cut = SUMMARY_MAX;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str(" …");
        }
        s
    });
    Action::ConfigState {
        valid: errors.is_none(),
        summary,
    }
}

/// The allocator and what it last saw.
#[derive(Default)]
pub struct Engine {
    alloc: Option<Allocator>,
    pools: Vec<IpAddressPool>,
    /// Why the configured pools are not in use.
    pub pools_note: Option<String>,
    /// `fields_hash` of every Service as last converged.
    seen: HashMap<ServiceKey, u64>,
    /// The Services the allocator knows.
    known: BTreeMap<ServiceKey, ()>,
    /// Configuration errors already reported (until a config is valid).
    reported: HashSet<String>,
}

fn event(key: &ServiceKey, e: &AllocationEvent) -> Action {
    Action::Event {
        key: key.clone(),
        warning: e.kind == EventKind::Warning,
        reason: e.reason,
        message: e.message.to_string(),
    }
}

impl Engine {
    /// Whether the first (restoring) pass has run.
    pub fn restored(&self) -> bool {
        self.alloc.is_some()
    }

    /// The allocator (for statistics).
    pub fn allocator(&self) -> Option<&Allocator> {
        self.alloc.as_ref()
    }

    fn install_pools(&mut self, pools: Vec<IpAddressPool>, out: &mut Vec<Action>) {
        if self.alloc.is_some() && self.pools == pools {
            return;
        }
        self.pools_note = None;
        let installed = match self.alloc.as_mut() {
            Some(a) => a.set_pools(&pools).map(|outs| {
                for (key, o) in &outs {
                    out.extend(o.events.iter().map(|e| event(key, e)));
                }
            }),
            None => Allocator::new(&pools).map(|a| self.alloc = Some(a)),
        };
        if let Err(e) = installed {
            // metallb-api validated the pools; should the allocator still
            // refuse them, run with none (every Service then says why).
            self.pools_note = Some(format!("IPAddressPools rejected by the allocator: {e}"));
            if self.alloc.is_none() {
                self.alloc = Allocator::new(&[]).ok();
            } else if let Some(a) = self.alloc.as_mut() {
                let _ = a.set_pools(&[]);
            }
        }
        self.pools = pools;
    }

    /// The configuration was rejected: the last good one keeps running
    /// (nothing is re-allocated) and each error not reported yet becomes an
    /// Event on its object, naming the field.
    pub fn config_rejected(&mut self, diags: &Diagnostics) -> Vec<Action> {
        let mut out = Vec::new();
        for d in &diags.errors {
            let Some(obj) = &d.object else { continue };
            let message = if d.field.is_empty() {
                d.message.clone()
            } else {
                format!("{}: {}", d.field, d.message)
            };
            if self.reported.insert(format!("{obj} {message}")) {
                out.push(Action::ConfigEvent {
                    kind: obj.kind.clone(),
                    namespace: obj.namespace.clone(),
                    name: obj.name.clone(),
                    message,
                });
            }
        }
        out
    }

    /// The configuration validated: errors seen before are reported again
    /// should they come back.
    pub fn config_accepted(&mut self) {
        self.reported.clear();
    }

    /// One pass over the configuration: allocation decisions, then the
    /// statuses that differ from what the Services show.
    pub fn pass(&mut self, config: &Config) -> Vec<Action> {
        let mut out = Vec::new();
        let first = self.alloc.is_none();
        self.install_pools(config.ip_address_pools(), &mut out);
        if self.alloc.is_none() {
            return out;
        }
        let valid = if first {
            self.restore(config, &mut out)
        } else {
            self.converge_all(config, &mut out)
        };
        // Forget the hashes of Services no longer as they were.
        let current: HashSet<(&str, &str)> = config
            .services
            .iter()
            .map(|s| (s.namespace(), s.name()))
            .collect();
        self.seen
            .retain(|k, _| current.contains(&(k.namespace.as_str(), k.name.as_str())));
        if let Some(alloc) = self.alloc.as_ref() {
            for svc in valid {
                out.extend(status_actions(alloc, svc));
            }
        }
        out
    }

    /// The first pass of a term: every existing status is claimed at once
    /// (`Allocator::sync`) before anything new is allocated. Returns the
    /// Services whose request parses.
    fn restore<'c>(
        &mut self,
        config: &'c Config,
        out: &mut Vec<Action>,
    ) -> Vec<&'c LoadBalancerService> {
        let mut requests = Vec::with_capacity(config.services.len());
        for svc in &config.services {
            match svc.request() {
                Ok(req) => requests.push((svc, req)),
                Err(e) => report_unparsed(&mut self.seen, svc, &e, out),
            }
        }
        let Some(alloc) = self.alloc.as_mut() else {
            return Vec::new();
        };
        let outs = alloc.sync(
            requests
                .iter()
                .map(|(s, r)| (r.clone(), s.status_ips().to_vec())),
        );
        for (key, o) in &outs {
            out.extend(o.events.iter().map(|e| event(key, e)));
        }
        self.seen
            .extend(requests.iter().map(|(s, _)| (s.key(), s.fields_hash())));
        self.known = requests.iter().map(|(s, _)| (s.key(), ())).collect();
        requests.into_iter().map(|(s, _)| s).collect()
    }

    /// A later full pass: Services that are gone are released first (a
    /// freed address goes to pending Services at once, as MetalLB's
    /// reprocess-all after a deletion), then each Service is parsed and,
    /// if it changed, converged on its own: no request outlives its
    /// Service's turn (10k requests held at once were the largest part
    /// of the controller's peak heap, docs/benchmarks.md §9.1).
    fn converge_all<'c>(
        &mut self,
        config: &'c Config,
        out: &mut Vec<Action>,
    ) -> Vec<&'c LoadBalancerService> {
        let Engine {
            alloc, seen, known, ..
        } = self;
        let Some(alloc) = alloc.as_mut() else {
            return Vec::new();
        };
        let present: HashSet<(&str, &str)> = config
            .services
            .iter()
            .map(|s| (s.namespace(), s.name()))
            .collect();
        let gone: Vec<ServiceKey> = known
            .keys()
            .filter(|k| !present.contains(&(k.namespace.as_str(), k.name.as_str())))
            .cloned()
            .collect();
        for key in gone {
            known.remove(&key);
            for (k, a) in &alloc.release(&key).unblocked {
                out.push(event(k, &AllocationEvent::ip_allocated(a)));
            }
        }
        let mut valid = Vec::with_capacity(config.services.len());
        for svc in &config.services {
            match svc.request() {
                Err(e) => {
                    report_unparsed(seen, svc, &e, out);
                    // No longer a valid request: its address is freed.
                    if known.remove(&svc.key()).is_some() {
                        for (k, a) in &alloc.release(&svc.key()).unblocked {
                            out.push(event(k, &AllocationEvent::ip_allocated(a)));
                        }
                    }
                }
                Ok(req) => {
                    if mark(seen, svc) {
                        let key = svc.key();
                        let o = alloc.converge(&req, svc.status_ips());
                        out.extend(o.events.iter().map(|e| event(&key, e)));
                        for (k, a) in &o.unblocked {
                            out.push(event(k, &AllocationEvent::ip_allocated(a)));
                        }
                        known.insert(key, ());
                    }
                    valid.push(svc);
                }
            }
        }
        valid
    }
}

/// A request that does not parse (MetalLB's LoadBalancerFailed cases) is
/// reported once per change of the Service, not allocated.
fn report_unparsed(
    seen: &mut HashMap<ServiceKey, u64>,
    svc: &LoadBalancerService,
    e: &allocator::AllocError,
    out: &mut Vec<Action>,
) {
    if mark(seen, svc) {
        let key = svc.key();
        out.push(Action::Event {
            message: e.event_message(&format!("{}/{}", key.namespace, key.name)),
            key,
            warning: true,
            reason: e.reason(),
        });
    }
}

/// Records `svc`'s fields; true if they differ from the last recorded.
fn mark(seen: &mut HashMap<ServiceKey, u64>, svc: &LoadBalancerService) -> bool {
    let h = svc.fields_hash();
    seen.insert(svc.key(), h) != Some(h)
}

/// The status writes that clear Services of our class that are no longer
/// `type: LoadBalancer` but still show an ingress IP or the pool annotation
/// (MetalLB's convergeBalancer clears a non-LoadBalancer Service first).
/// A Service whose `loadBalancerClass` is another controller's is left
/// alone, as MetalLB's class filter does: its status is that controller's.
pub fn clear_not_load_balancers(
    services: &[Arc<Loaded<ServiceRecord>>],
    class: Option<&str>,
) -> Vec<Action> {
    services
        .iter()
        .filter(|s| !s.spec.is_load_balancer() && s.spec.load_balancer_class() == class)
        .filter(|s| {
            s.spec.extra.as_ref().is_some_and(|e| {
                !e.status_ips.is_empty() || e.annotations.contains_key(POOL_ANNOTATION)
            })
        })
        .map(|s| Action::SetStatus {
            key: ServiceKey::new(s.namespace.clone(), s.name.clone()),
            ips: Vec::new(),
            pool: None,
        })
        .collect()
}

/// `IPAddressPool.status` from the allocator's statistics of one pool
/// (MetalLB v0.15+: assigned and available per family, int64, saturated).
pub fn pool_status(p: &PoolStats) -> IpAddressPoolStatus {
    IpAddressPoolStatus {
        assigned_ipv4: PoolStats::clamp_i64(p.ipv4_in_use),
        assigned_ipv6: PoolStats::clamp_i64(p.ipv6_in_use),
        available_ipv4: PoolStats::clamp_i64(p.ipv4_available()),
        available_ipv6: PoolStats::clamp_i64(p.ipv6_available()),
    }
}

/// The pool status writes needed: `shown` is each pool's current status
/// as the API server has it.
pub fn pool_status_actions(
    stats: &[PoolStats],
    shown: &BTreeMap<String, Option<IpAddressPoolStatus>>,
) -> Vec<Action> {
    stats
        .iter()
        .filter_map(|p| {
            let want = pool_status(p);
            let current = shown.get(&p.pool)?;
            (current.as_ref() != Some(&want)).then(|| Action::PoolStatus {
                pool: p.pool.clone(),
                status: want,
            })
        })
        .collect()
}

/// The status write a Service needs, if its status or annotation differ
/// from the allocator's assignment, preceded by a Warning
/// `deprecatedAnnotation` per `metallb.universe.tf/` annotation it carries.
/// MetalLB warns only when the Service needs an update, so an unchanged
/// Service is not re-warned on every pass (MetalLB then also drops the
/// annotation; we leave the user's metadata alone: the controller writes
/// only the status subresource).
fn status_actions(alloc: &Allocator, svc: &LoadBalancerService) -> Vec<Action> {
    let Some(write) = status_action(alloc, svc) else {
        return Vec::new();
    };
    let mut out: Vec<Action> = svc
        .record()
        .spec
        .extra
        .iter()
        .flat_map(|e| e.annotations.keys())
        .filter(|k| k.starts_with(allocator::request::DEPRECATED_ANNOTATION_PREFIX))
        .map(|k| Action::Event {
            key: svc.key(),
            warning: true,
            reason: "deprecatedAnnotation",
            message: format!("Service uses deprecated annotation {k}"),
        })
        .collect();
    out.push(write);
    out
}

fn status_action(alloc: &Allocator, svc: &LoadBalancerService) -> Option<Action> {
    let key = svc.key();
    let (ips, pool) = match alloc.assignment(&key) {
        Some(a) => (a.addresses(), Some(a.pool().to_string())),
        None => (Vec::new(), None),
    };
    let shown = svc
        .record()
        .spec
        .extra
        .as_ref()
        .and_then(|e| e.annotations.get(POOL_ANNOTATION).cloned());
    if ips == svc.status_ips() && pool == shown {
        return None;
    }
    Some(Action::SetStatus { key, ips, pool })
}

#[path = "engine_delta.rs"]
mod delta;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
