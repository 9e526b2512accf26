//! The Lease driver: reads `coordination.k8s.io/v1` Lease `oxlb-controller`
//! every retry period, lets [`Elector`] decide, writes with the read
//! `resourceVersion` (a lost race is a 409 Conflict, not a second leader)
//! and publishes whether we lead.

use crate::lease::{Decision, Elector, LeaseView};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use std::time::Instant;
use tokio::sync::watch;

/// The Lease's name.
pub const LEASE_NAME: &str = "oxlb-controller";

/// Our identity: `POD_NAME`, else `hostname_pid`.
pub fn identity() -> String {
    if let Ok(p) = std::env::var("POD_NAME") {
        if !p.is_empty() {
            return p;
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{host}_{}", std::process::id())
}

fn view(l: &Lease) -> LeaseView {
    let spec = l.spec.as_ref();
    LeaseView {
        holder: spec.and_then(|s| s.holder_identity.clone()),
        renew_time: spec.and_then(|s| s.renew_time.as_ref().map(|t| t.0.to_string())),
        transitions: spec.and_then(|s| s.lease_transitions).unwrap_or(0),
        duration_seconds: spec.and_then(|s| s.lease_duration_seconds),
    }
}

fn spec(el: &Elector, old: Option<&LeaseSpec>, taken: bool) -> LeaseSpec {
    let now = MicroTime(Timestamp::now());
    let mut s = old.cloned().unwrap_or_default();
    s.holder_identity = Some(el.id().to_string());
    s.lease_duration_seconds = Some(el.timing().lease_duration.as_secs().max(1) as i32);
    s.renew_time = Some(now.clone());
    if taken || s.acquire_time.is_none() {
        s.acquire_time = Some(now);
    }
    if taken && old.is_some() {
        s.lease_transitions = Some(s.lease_transitions.unwrap_or(0).saturating_add(1));
    } else if s.lease_transitions.is_none() {
        s.lease_transitions = Some(0);
    }
    s
}

async fn attempt(api: &Api<Lease>, el: &mut Elector, start: Instant) -> Result<bool, kube::Error> {
    let current = api.get_opt(LEASE_NAME).await?;
    match el.decide(start, current.as_ref().map(view)) {
        Decision::Wait => Ok(false),
        Decision::Create => {
            let l = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(el, None, true)),
            };
            api.create(&PostParams::default(), &l).await?;
            Ok(true)
        }
        Decision::Update { taken } => {
            let Some(mut l) = current else {
                return Ok(false);
            };
            l.spec = Some(spec(el, l.spec.as_ref(), taken));
            // `replace` sends the read resourceVersion: optimistic locking.
            api.replace(LEASE_NAME, &PostParams::default(), &l).await?;
            if taken {
                tracing::info!(identity = el.id(), "acquired Lease {LEASE_NAME}");
            }
            Ok(true)
        }
    }
}

/// Runs the election forever, sending `true` while we lead.
pub async fn run(api: Api<Lease>, mut el: Elector, tx: watch::Sender<bool>) {
    let retry = el.timing().retry_period;
    loop {
        let start = Instant::now();
        let ok = match tokio::time::timeout(retry, attempt(&api, &mut el, start)).await {
            Ok(Ok(wrote)) => wrote,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Lease {LEASE_NAME}: read or write failed");
                false
            }
            Err(_) => {
                tracing::warn!("Lease {LEASE_NAME}: request timed out");
                false
            }
        };
        el.written(start, ok);
        let leading = el.is_leader(Instant::now());
        if *tx.borrow() != leading {
            tracing::info!(identity = el.id(), leading, "leadership changed");
        }
        tx.send_replace(leading);
        // Step down on time even if the next attempt hangs: the deadline
        // is checked again after at most one retry period.
        tokio::time::sleep(retry.saturating_sub(start.elapsed())).await;
    }
}
