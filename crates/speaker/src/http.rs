//! The HTTP side: `/metrics` (Prometheus text), `/healthz`, `/readyz` and
//! `/status` (JSON: sessions, allocations, and what goes to whom).
//!
//! `/status` is cheap: everything but the sessions is rendered once per
//! change into [`StatusParts`] and shared; a request only serializes the
//! live session list and copies the parts. Renders of `/status` and
//! `/metrics` are capped at [`MAX_RENDERS`] at a time; a request beyond
//! that gets 503 at once instead of queueing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::desired::ServiceReport;
use crate::metrics::MetricsView;
use crate::run::Shared;

/// Renders of `/status` and `/metrics` in flight at once.
pub const MAX_RENDERS: usize = 8;

/// What the speaker shows, updated on every change.
#[derive(Default)]
pub struct View {
    pub metrics: MetricsView,
    pub services: Vec<ServiceReport>,
    pub routes: BTreeMap<String, Vec<String>>,
    pub l2: Vec<String>,
    pub warnings: Vec<String>,
    pub last_error: Vec<String>,
    /// `/status` without the sessions, rendered from the fields above.
    pub parts: Arc<StatusParts>,
}

/// The pre-rendered JSON of each `/status` member except `sessions`.
#[derive(Debug, Default)]
pub struct StatusParts {
    config: String,
    l2: String,
    node: String,
    routes: String,
    services: String,
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

impl StatusParts {
    pub fn of(v: &View) -> Self {
        StatusParts {
            config: to_json(&serde_json::json!({
                "loaded": v.metrics.config_loaded,
                "stale": v.metrics.config_stale,
                "errors": v.last_error,
                "warnings": v.warnings,
            })),
            l2: to_json(&serde_json::json!({
                "eligible": v.l2,
                "active": false,
                "note": "the ARP/NDP responder is not part of this build yet",
            })),
            node: to_json(&v.metrics.node),
            routes: to_json(&v.routes),
            services: to_json(&v.services),
        }
    }

    /// The whole `/status` document, members in the order `serde_json`
    /// sorts them (the order of the earlier tree-building renderer).
    pub fn render(&self, sessions: &[bgp_session::PeerStatus]) -> Vec<u8> {
        let parts = [
            ("config", self.config.as_str()),
            ("l2", &self.l2),
            ("node", &self.node),
            ("routes", &self.routes),
            ("services", &self.services),
        ];
        let size: usize = parts.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(size + 64 + sessions.len() * 512);
        out.push(b'{');
        for (k, v) in parts {
            out.extend_from_slice(b"\"");
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(v.as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"sessions\":");
        let mark = out.len();
        if serde_json::to_writer(&mut out, sessions).is_err() {
            out.truncate(mark);
            out.extend_from_slice(b"[]");
        }
        out.push(b'}');
        out
    }
}

pub async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        format!("too many concurrent requests (limit {MAX_RENDERS})\n"),
    )
        .into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let Ok(_permit) = s.renders.try_acquire() else {
        return busy();
    };
    let body = s.render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no configuration loaded\n")
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let Ok(_permit) = s.renders.try_acquire() else {
        return busy();
    };
    let parts = s.view().parts.clone();
    let body = parts.render(&s.speaker.status());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
