//! The HTTP side: `/metrics` (Prometheus text), `/healthz`, `/readyz` and
//! `/status` (JSON: sessions, allocations, and what goes to whom).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::run::Shared;

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

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let body = s.render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no configuration loaded\n")
    }
}

async fn status(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    Json(s.status_json())
}
