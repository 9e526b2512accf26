//! The HTTP side: `/metrics` (Prometheus text), `/healthz`, `/readyz` and
//! `/status` (JSON: sessions, allocations, and what goes to whom).
//!
//! `/status` is rendered per request from shared, reference-counted data
//! (the Service reports and the routes handed to each session, as the
//! runner keeps them anyway), on a blocking thread, in chunks of about
//! [`CHUNK`] bytes streamed to the client as they are written: a request
//! never holds the whole document, a slow client holds at most a few chunks
//! and nothing is rendered while nobody asks. The small members are
//! pre-rendered on each change. Renders of `/status` and `/metrics` are
//! capped at [`MAX_RENDERS`] at a time; a request beyond that gets 503 at
//! once instead of queueing.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bgp_proto::adj_rib_out::RouteSpec;
use bytes::Bytes;

use crate::desired::ServiceReport;
use crate::metrics::MetricsView;
use crate::run::Shared;

/// Renders of `/status` and `/metrics` in flight at once.
pub const MAX_RENDERS: usize = 8;

/// The size of one streamed `/status` chunk.
pub const CHUNK: usize = 64 * 1024;

/// What the speaker shows, updated on every change.
#[derive(Default)]
pub struct View {
    pub metrics: MetricsView,
    pub services: Arc<Vec<ServiceReport>>,
    /// The routes handed to each session (shared with the runner).
    pub routes: BTreeMap<String, Arc<Vec<RouteSpec>>>,
    pub l2: Vec<String>,
    pub warnings: Vec<String>,
    pub last_error: Vec<String>,
    /// Why the watch cache is stale (`oxlb-speaker kubernetes`: a watch
    /// failing, the API server unreachable), until the next apply;
    /// `/readyz` answers 503 with it.
    pub stale_watch: Option<String>,
    /// The small `/status` members, rendered from the fields above.
    pub parts: Arc<StatusParts>,
}

impl View {
    /// The prefixes handed to each session, as `/status` lists them.
    #[cfg(test)]
    pub fn route_prefixes(&self) -> BTreeMap<String, Vec<String>> {
        self.routes
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|r| r.prefix.to_string()).collect()))
            .collect()
    }

    /// What a `/status` render needs, detached from the lock.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            bfd: None,
            parts: self.parts.clone(),
            services: self.services.clone(),
            routes: self.routes.clone(),
        }
    }
}

/// The pre-rendered JSON of the small `/status` members.
#[derive(Debug, Default)]
pub struct StatusParts {
    config: Bytes,
    l2: Bytes,
    node: Bytes,
}

/// Everything a `/status` render reads besides the live sessions.
pub struct StatusSnapshot {
    /// The `bfd` member (none while no BGPPeer uses BFD).
    pub(crate) bfd: Option<serde_json::Value>,
    parts: Arc<StatusParts>,
    services: Arc<Vec<ServiceReport>>,
    routes: BTreeMap<String, Arc<Vec<RouteSpec>>>,
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
            l2: to_json(&crate::l2::status_json(&v.metrics.node, &v.l2, None, None)),
            node: to_json(&v.metrics.node),
        }
    }
}

impl StatusSnapshot {
    /// Replaces the `l2` member with the running node's live view.
    pub fn l2_live(&mut self, s: &Shared) {
        let (status, error) = (s.l2.status(), s.l2.error());
        if status.is_none() && error.is_none() {
            return;
        }
        let node = s.view().metrics.node.clone();
        let eligible = s.view().l2.clone();
        let mut parts = StatusParts {
            config: self.parts.config.clone(),
            l2: Bytes::new(),
            node: self.parts.node.clone(),
        };
        parts.l2 = to_json(&crate::l2::status_json(
            &node,
            &eligible,
            status.as_ref(),
            error.as_deref(),
        ));
        self.parts = Arc::new(parts);
    }

    /// Writes the `/status` document: members in the order `serde_json`
    /// sorts them (the order of the earlier tree-building renderer).
    pub fn write(
        &self,
        sessions: &[bgp_session::PeerStatus],
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let json = |e: serde_json::Error| std::io::Error::other(e);
        out.write_all(b"{")?;
        if let Some(b) = &self.bfd {
            out.write_all(b"\"bfd\":")?;
            serde_json::to_writer(&mut *out, b).map_err(json)?;
            out.write_all(b",")?;
        }
        out.write_all(b"\"config\":")?;
        out.write_all(&self.parts.config)?;
        out.write_all(b",\"l2\":")?;
        out.write_all(&self.parts.l2)?;
        out.write_all(b",\"node\":")?;
        out.write_all(&self.parts.node)?;
        out.write_all(b",\"routes\":{")?;
        for (i, (peer, routes)) in self.routes.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, peer).map_err(json)?;
            out.write_all(b":[")?;
            for (j, r) in routes.iter().enumerate() {
                let sep = if j > 0 { "," } else { "" };
                write!(out, "{sep}\"{}\"", r.prefix)?;
            }
            out.write_all(b"]")?;
        }
        out.write_all(b"},\"services\":[")?;
        for (i, s) in self.services.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_report(out, s)?;
        }
        out.write_all(b"],\"sessions\":")?;
        serde_json::to_writer(&mut *out, sessions).map_err(json)?;
        out.write_all(b"}")
    }
}

/// One Service report, byte for byte as `serde_json` writes the struct
/// (fields in declaration order), without its per-byte escaping of strings
/// that need none: at 100k Services that escaping was most of a render.
fn write_report(out: &mut impl Write, r: &ServiceReport) -> std::io::Result<()> {
    out.write_all(b"{\"namespace\":")?;
    json_str(out, &r.namespace)?;
    out.write_all(b",\"name\":")?;
    json_str(out, &r.name)?;
    out.write_all(b",\"ips\":[")?;
    for (i, ip) in r.ips.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        write!(out, "{sep}\"{ip}\"")?;
    }
    out.write_all(b"],\"pool\":")?;
    json_opt(out, r.pool.as_deref())?;
    out.write_all(b",\"pending\":")?;
    json_opt(out, r.pending.as_deref())?;
    out.write_all(b",\"announcements\":[")?;
    let mut line = String::new();
    for (i, a) in r.announcements.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        line.clear();
        let _ = std::fmt::Write::write_fmt(&mut line, format_args!("{a}"));
        json_str(out, &line)?;
    }
    out.write_all(b"]}")
}

fn json_opt(out: &mut impl Write, v: Option<&str>) -> std::io::Result<()> {
    match v {
        Some(v) => json_str(out, v),
        None => out.write_all(b"null"),
    }
}

/// A JSON string: written as is when no byte needs escaping (RFC 8259 §7:
/// quote, backslash and control characters do), else by `serde_json`.
fn json_str(out: &mut impl Write, v: &str) -> std::io::Result<()> {
    if v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.write_all(b"\"")?;
        out.write_all(v.as_bytes())?;
        return out.write_all(b"\"");
    }
    serde_json::to_writer(out, v).map_err(std::io::Error::other)
}

/// Hands the document to the response stream in [`CHUNK`]-sized pieces;
/// fails (ending the render) once the client is gone.
struct ChunkSender {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::other("client went away"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
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
    let Ok(_permit) = s.renders.clone().try_acquire_owned() else {
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
    match s.unready() {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let Ok(permit) = s.renders.clone().try_acquire_owned() else {
        return busy();
    };
    let mut snapshot = s.view().snapshot();
    snapshot.l2_live(&s);
    let bfd = s.bfd.status_json();
    snapshot.bfd = (bfd["sessions"].as_array().is_some_and(|a| !a.is_empty())).then_some(bfd);
    let sessions = s.speaker.status();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        // The permit is held until the whole document is written.
        let permit_held = permit;
        let mut out = ChunkSender {
            buf: Vec::with_capacity(CHUNK),
            tx,
        };
        if let Err(e) = snapshot
            .write(&sessions, &mut out)
            .and_then(|()| out.flush())
        {
            tracing::debug!(error = %e, "/status render stopped");
        }
        // The permit goes before the stream ends, so a client that has the
        // whole document finds the render slot free again.
        drop(permit_held);
        drop(out);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
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
        v.services = Arc::new(vec![ServiceReport {
            namespace: "default".into(),
            name: "web \"quoted\"\u{1}\\".into(),
            ips: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            pool: Some("default".into()),
            pending: None,
            announcements: vec![crate::desired::Announcement::Bgp {
                prefix: "192.0.2.1/32".parse().unwrap(),
                to: "tor (198.51.100.1)".into(),
            }],
        }]);
        let route = |p: &str| RouteSpec {
            prefix: p.parse().unwrap(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
        };
        v.routes.insert(
            "tor".into(),
            Arc::new(vec![route("192.0.2.1/32"), route("2001:db8::1/128")]),
        );
        v.l2 = vec!["192.0.2.9".into()];
        v.parts = Arc::new(StatusParts::of(&v));
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
            "services": &*v.services,
            "sessions": sessions,
            "routes": v.route_prefixes(),
            "l2": { "eligible": v.l2, "active": false, "error": null },
        });
        let mut body = Vec::new();
        v.snapshot().write(&sessions, &mut body).unwrap();
        let new: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(new, old);
        // Members in the same order as before (serde_json sorts keys).
        let text = String::from_utf8(body).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        assert!(at("config") < at("l2") && at("l2") < at("node") && at("routes") < at("sessions"));
    }

    #[test]
    fn a_large_status_is_streamed_in_bounded_chunks_that_join_into_the_document() {
        let mut v = sample();
        let one = v.services[0].clone();
        v.services = Arc::new(vec![one; 5000]);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut out = ChunkSender {
            buf: Vec::new(),
            tx,
        };
        v.snapshot().write(&[], &mut out).unwrap();
        out.flush().unwrap();
        drop(out);
        let mut chunks = Vec::new();
        while let Ok(c) = rx.try_recv() {
            chunks.push(c);
        }
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        // A chunk ends as soon as it reaches CHUNK: one Service past it at most.
        assert!(chunks.iter().all(|c| c.len() < CHUNK + 1024));
        let body = chunks.concat();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["services"].as_array().map(Vec::len), Some(5000));
        // The hand-written reports are serde_json's bytes exactly, escapes included.
        let serde = serde_json::to_vec(&*v.services).unwrap();
        let text = String::from_utf8(body).unwrap();
        let serde = String::from_utf8(serde).unwrap();
        assert!(
            text.contains(&format!("\"services\":{serde},")),
            "differs from serde_json"
        );
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
