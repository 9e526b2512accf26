//! The HTTP side: `/metrics` (Prometheus text), `/healthz`, `/readyz` and
//! `/status` (JSON: sessions, allocations, and what goes to whom).
//!
//! `/status` is cheap: everything but the sessions is rendered once per
//! change into [`StatusParts`] and shared (reference-counted `Bytes`); a
//! request only serializes the live session list and streams the shared
//! parts around it, so a slow client holds no copy of the document. Renders of `/status` and
//! `/metrics` are capped at [`MAX_RENDERS`] at a time; a request beyond
//! that gets 503 at once instead of queueing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

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
    config: Bytes,
    l2: Bytes,
    node: Bytes,
    routes: Bytes,
    services: Bytes,
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Bytes {
    serde_json::to_vec(v).map_or_else(|_| Bytes::from_static(b"null"), Bytes::from)
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

    /// The `/status` document as chunks: members in the order
    /// `serde_json` sorts them (the order of the earlier tree-building
    /// renderer); only the sessions are rendered here.
    pub fn chunks(&self, sessions: &[bgp_session::PeerStatus]) -> Vec<Bytes> {
        let sessions =
            serde_json::to_vec(sessions).map_or_else(|_| Bytes::from_static(b"[]"), Bytes::from);
        vec![
            Bytes::from_static(b"{\"config\":"),
            self.config.clone(),
            Bytes::from_static(b",\"l2\":"),
            self.l2.clone(),
            Bytes::from_static(b",\"node\":"),
            self.node.clone(),
            Bytes::from_static(b",\"routes\":"),
            self.routes.clone(),
            Bytes::from_static(b",\"services\":"),
            self.services.clone(),
            Bytes::from_static(b",\"sessions\":"),
            sessions,
            Bytes::from_static(b"}"),
        ]
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
    // Rendering is CPU work proportional to the Services: off the async
    // workers, so sessions' timers and I/O never wait behind a scrape.
    let shared = s.clone();
    let body = match tokio::task::spawn_blocking(move || shared.render_metrics()).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("metrics render failed: {e}\n"),
            )
                .into_response()
        }
    };
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
    let chunks = parts.chunks(&s.speaker.status());
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn sample() -> View {
        let mut v = View::default();
        v.metrics.node = "node1".into();
        v.metrics.config_loaded = true;
        v.warnings = vec!["BGPPeer tor: spec.bfdProfile is accepted but not yet active".into()];
        v.services = vec![ServiceReport {
            namespace: "default".into(),
            name: "web \"quoted\"".into(),
            ips: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            pool: Some("default".into()),
            pending: None,
            announcements: vec!["bgp 192.0.2.1/32 to tor (198.51.100.1)".into()],
        }];
        v.routes.insert("tor".into(), vec!["192.0.2.1/32".into()]);
        v.l2 = vec!["192.0.2.9".into()];
        v
    }

    #[test]
    fn the_status_renderer_gives_the_same_document_as_the_old_json_tree() {
        let v = sample();
        let mut up = bgp_session::PeerStatus::new("tor", "198.51.100.1".into(), 179);
        up.prefixes_desired = 1;
        let sessions = vec![up];
        // The tree the handler used to build for every request.
        let old = serde_json::json!({
            "node": v.metrics.node,
            "config": {
                "loaded": v.metrics.config_loaded,
                "stale": v.metrics.config_stale,
                "errors": v.last_error,
                "warnings": v.warnings,
            },
            "services": v.services,
            "sessions": sessions,
            "routes": v.routes,
            "l2": { "eligible": v.l2, "active": false, "note": "the ARP/NDP responder is not part of this build yet" },
        });
        let body = StatusParts::of(&v).chunks(&sessions).concat();
        let new: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(new, old);
        // Members in the same order as before (serde_json sorts keys).
        let text = String::from_utf8(body).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        assert!(at("config") < at("l2") && at("l2") < at("node") && at("routes") < at("sessions"));
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn status_and_metrics_beyond_the_render_cap_get_503_at_once() {
        let speaker = bgp_session::Speaker::bind(&[]).await.unwrap();
        let shared = Arc::new(Shared::new(speaker, "node1"));
        let addr = serve("127.0.0.1:0".parse().unwrap(), shared.clone())
            .await
            .unwrap();
        assert!(get(addr, "/status").await.starts_with("HTTP/1.1 200"));
        // Eight renders in flight (held here) use up the cap.
        let held = shared.renders.try_acquire_many(MAX_RENDERS as u32).unwrap();
        for path in ["/status", "/metrics"] {
            let r = tokio::time::timeout(std::time::Duration::from_secs(2), get(addr, path))
                .await
                .expect("a request beyond the cap is answered at once");
            assert!(r.starts_with("HTTP/1.1 503"), "{path}: {r}");
        }
        // Cheap endpoints are not capped.
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        drop(held);
        let r = get(addr, "/status").await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("\"node1\""),
            "{r}"
        );
    }
}
