//! The L2 node's `/status` section and metrics, from its `NodeStatus`.

use std::sync::Mutex;

use l2::node::NodeStatus;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `/status` `l2` section: `eligible` (the IPs this node's plan may
/// announce), whether the node runs, why not, and the node's live view.
pub fn status_json(
    node: &str,
    eligible: &[String],
    status: Option<&NodeStatus>,
    error: Option<&str>,
) -> serde_json::Value {
    let Some(s) = status else {
        return serde_json::json!({
            "eligible": eligible,
            "active": false,
            "error": error,
        });
    };
    let vips: Vec<_> = s
        .vips
        .iter()
        .map(|v| {
            serde_json::json!({
                "ip": v.ip,
                "winner": v.winner,
                "announcing": v.winner.as_deref() == Some(node),
                "candidates": v.candidates,
                "reason": v.reason,
                "announcing_on": v.announcing_on,
                "requests_received": v.requests_received,
                "responses_sent": v.responses_sent,
                "gratuitous_sent": v.gratuitous_sent,
            })
        })
        .collect();
    let members: Vec<_> = s
        .members
        .iter()
        .map(|(name, alive)| serde_json::json!({ "name": name, "alive": alive }))
        .collect();
    let drops: serde_json::Map<String, serde_json::Value> = s
        .drops
        .iter()
        .map(|(k, n)| ((*k).to_string(), serde_json::json!(n)))
        .collect();
    serde_json::json!({
        "eligible": eligible,
        "active": true,
        "error": error,
        "fenced": s.fenced,
        "members": members,
        "interfaces": s.interfaces,
        "drops": drops,
        "failovers": s.failover_seconds.len(),
        "vips": vips,
    })
}

/// The L2 metric families (MetalLB's `metallb_layer2_*` names, plus
/// oxlb's announcer gauge and failover histogram), rebuilt from the node's
/// status on every scrape.
pub struct L2Metrics {
    registry: Registry,
    lock: Mutex<()>,
    requests: IntCounterVec,
    responses: IntCounterVec,
    gratuitous: IntCounterVec,
    announcer: IntGaugeVec,
    failover: HistogramVec,
}

impl Default for L2Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl L2Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &["ip"])
                .unwrap_or_else(|e| unreachable!("static metric {name}: {e}"));
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let requests = counter(
            "metallb_layer2_requests_received",
            "Number of layer2 requests received for owned IPs",
        );
        let responses = counter(
            "metallb_layer2_responses_sent",
            "Number of layer2 responses sent for owned IPs",
        );
        let gratuitous = counter(
            "metallb_layer2_gratuitous_sent",
            "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers",
        );
        let announcer = IntGaugeVec::new(
            Opts::new(
                "oxlb_layer2_announcer",
                "1 for the node that wins the VIP's election, as this node sees it",
            ),
            &["ip", "node"],
        )
        .unwrap_or_else(|e| unreachable!("static metric oxlb_layer2_announcer: {e}"));
        let _ = registry.register(Box::new(announcer.clone()));
        let failover = HistogramVec::new(
            HistogramOpts::new(
                "oxlb_layer2_failover_seconds",
                "Seconds from a winner change seen here to this node's first gratuitous announcement",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
            ]),
            &[],
        )
        .unwrap_or_else(|e| unreachable!("static metric oxlb_layer2_failover_seconds: {e}"));
        let _ = registry.register(Box::new(failover.clone()));
        L2Metrics {
            registry,
            lock: Mutex::new(()),
            requests,
            responses,
            gratuitous,
            announcer,
            failover,
        }
    }

    /// The exposition text of the L2 families (empty without a node).
    pub fn render(&self, status: Option<&NodeStatus>) -> String {
        let Some(s) = status else {
            return String::new();
        };
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.requests.reset();
        self.responses.reset();
        self.gratuitous.reset();
        self.announcer.reset();
        self.failover.reset();
        for v in &s.vips {
            let ip = v.ip.to_string();
            let l = &[ip.as_str()];
            self.requests
                .with_label_values(l)
                .inc_by(v.requests_received);
            self.responses.with_label_values(l).inc_by(v.responses_sent);
            self.gratuitous
                .with_label_values(l)
                .inc_by(v.gratuitous_sent);
            if let Some(w) = &v.winner {
                self.announcer
                    .with_label_values(&[ip.as_str(), w.as_str()])
                    .set(1);
            }
        }
        let h = self.failover.with_label_values(&[] as &[&str]);
        for x in &s.failover_seconds {
            h.observe(*x);
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
