//! `/metrics` (MetalLB's controller names), `/healthz` and `/readyz` on
//! `--metrics-addr`, served by a minimal HTTP/1.1 responder (one request
//! per connection; GET only; one 5 s deadline for the whole exchange and
//! at most 64 connections at once, see [`Limits`]).
//!
//! The pool gauges are the allocator's own statistics (`Allocator::stats`),
//! copied after every pass: there is no second count.

use allocator::PoolStats;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A per-pool gauge: name, help, value.
type PerPool = (&'static str, &'static str, fn(&PoolStats) -> u128);

/// What the endpoints report.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `metallb_k8s_client_updates_total`: object writes attempted.
    pub updates: AtomicU64,
    /// `metallb_k8s_client_update_errors_total`: writes that failed.
    pub update_errors: AtomicU64,
    /// `metallb_k8s_client_config_loaded_bool`: a configuration was loaded.
    pub config_loaded: AtomicBool,
    /// `metallb_k8s_client_config_stale_bool`: the newest one was rejected.
    pub config_stale: AtomicBool,
    /// The stores have their first full list.
    pub synced: AtomicBool,
    /// Leader election is on.
    pub elect: AtomicBool,
    /// We lead (meaningful only with leader election).
    pub leading: AtomicBool,
    pools: Mutex<Vec<PoolStats>>,
}

impl Metrics {
    /// Replaces the pool statistics.
    pub fn set_pools(&self, stats: Vec<PoolStats>) {
        *self.pools.lock().unwrap_or_else(|p| p.into_inner()) = stats;
    }

    /// Counts one write and whether it failed.
    pub fn count_write(&self, ok: bool) {
        self.updates.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.update_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Ready: the stores are synced. With leader election a follower with
    /// synced stores is ready too (it serves as a warm standby); only
    /// `/metrics`' `oxlb_controller_leader` tells them apart.
    pub fn ready(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let gauge = |s: &mut String, name: &str, help: &str| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let per_pool: [PerPool; 6] = [
            (
                "metallb_allocator_addresses_in_use_total",
                "Number of IP addresses in use, per pool",
                PoolStats::in_use,
            ),
            (
                "metallb_allocator_ipv4_addresses_in_use_total",
                "Number of IPv4 addresses in use, per pool",
                |p| p.ipv4_in_use,
            ),
            (
                "metallb_allocator_ipv6_addresses_in_use_total",
                "Number of IPv6 addresses in use, per pool",
                |p| p.ipv6_in_use,
            ),
            (
                "metallb_allocator_addresses_total",
                "Number of usable IP addresses, per pool",
                |p| p.total().unwrap_or(u128::MAX),
            ),
            (
                "metallb_allocator_ipv4_addresses_total",
                "Number of usable IPv4 addresses, per pool",
                |p| p.ipv4_total,
            ),
            (
                "metallb_allocator_ipv6_addresses_total",
                "Number of usable IPv6 addresses, per pool",
                |p| p.ipv6_total,
            ),
        ];
        for (name, help, f) in per_pool {
            gauge(&mut s, name, help);
            for p in &pools {
                // Gauges are float64: a count above 2^53 loses precision
                // only in its low digits.
                let _ = writeln!(s, "{name}{{pool=\"{}\"}} {}", escape(&p.pool), f(p) as f64);
            }
        }
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut s,
            "metallb_k8s_client_updates_total",
            "Number of k8s object updates that have been processed.",
            self.updates.load(Ordering::Relaxed),
        );
        counter(
            &mut s,
            "metallb_k8s_client_update_errors_total",
            "Number of k8s object updates that failed for some reason.",
            self.update_errors.load(Ordering::Relaxed),
        );
        let bools = [
            (
                "metallb_k8s_client_config_loaded_bool",
                "1 if the MetalLB configuration was successfully loaded at least once.",
                self.config_loaded.load(Ordering::Relaxed),
            ),
            (
                "metallb_k8s_client_config_stale_bool",
                "1 if running on a stale configuration, because the latest config failed to load.",
                self.config_stale.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in bools {
            gauge(&mut s, name, help);
            let _ = writeln!(s, "{name} {}", u8::from(v));
        }
        if self.elect.load(Ordering::Relaxed) {
            gauge(
                &mut s,
                "oxlb_controller_leader",
                "1 if this replica holds the Lease oxlb-controller.",
            );
            let _ = writeln!(
                s,
                "oxlb_controller_leader {}",
                u8::from(self.leading.load(Ordering::Relaxed))
            );
        }
        s
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The response to one request line, as (status, body).
pub fn respond(m: &Metrics, request_line: &str) -> (&'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return ("405 Method Not Allowed", "only GET\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => ("200 OK", m.render()),
        "/healthz" => ("200 OK", "ok\n".into()),
        "/readyz" if m.ready() => ("200 OK", "ok\n".into()),
        "/readyz" => ("503 Service Unavailable", "stores not synced\n".into()),
        _ => ("404 Not Found", "not found\n".into()),
    }
}

/// Bounds on the HTTP side: a slow or idle client cannot hold a task for
/// longer than `deadline`, nor more than `connections` of them at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// One deadline for the whole exchange: reading the request line and
    /// writing the response.
    pub deadline: std::time::Duration,
    /// Connections served at once; one more is closed as soon as accepted.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: std::time::Duration::from_secs(5),
            connections: 64,
        }
    }
}

/// Serves until the listener fails, with the default [`Limits`].
pub async fn serve(listener: TcpListener, m: std::sync::Arc<Metrics>) -> std::io::Error {
    serve_limited(listener, m, Limits::default()).await
}

/// Serves until the listener fails.
pub async fn serve_limited(
    listener: TcpListener,
    m: std::sync::Arc<Metrics>,
    limits: Limits,
) -> std::io::Error {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.connections.max(1)));
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: dropping the socket closes it.
            tracing::debug!(%peer, "metrics: connection cap reached, closing");
            continue;
        };
        let m = m.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if tokio::time::timeout(limits.deadline, exchange(sock, &m))
                .await
                .is_err()
            {
                tracing::debug!(%peer, "metrics: request deadline passed, closing");
            }
        });
    }
}

/// Reads one request line and writes the response.
async fn exchange(mut sock: tokio::net::TcpStream, m: &Metrics) {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    // Read until the end of the request line (or a full buffer).
    while n < buf.len() {
        match sock.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
        if buf[..n].windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf[..n]);
    let line = text.lines().next().unwrap_or("");
    let (status, body) = respond(m, line);
    let ctype = if body.starts_with("# HELP") {
        "text/plain; version=0.0.4"
    } else {
        "text/plain"
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_metallb_names_per_pool() {
        let m = Metrics::default();
        m.set_pools(vec![PoolStats {
            pool: "p".into(),
            ipv4_total: 4,
            ipv4_in_use: 1,
            ipv6_total: 16,
            ipv6_in_use: 2,
            services: 3,
        }]);
        m.count_write(false);
        m.config_stale.store(true, Ordering::Relaxed);
        let t = m.render();
        for want in [
            "metallb_allocator_addresses_in_use_total{pool=\"p\"} 3",
            "metallb_allocator_addresses_total{pool=\"p\"} 20",
            "metallb_allocator_ipv6_addresses_total{pool=\"p\"} 16",
            "metallb_k8s_client_updates_total 1",
            "metallb_k8s_client_update_errors_total 1",
            "metallb_k8s_client_config_stale_bool 1",
            "metallb_k8s_client_config_loaded_bool 0",
        ] {
            assert!(t.contains(want), "missing {want:?} in:\n{t}");
        }
    }

    #[test]
    fn readyz_fails_until_the_stores_are_synced() {
        let m = Metrics::default();
        assert_eq!(respond(&m, "GET /healthz HTTP/1.1").0, "200 OK");
        assert_eq!(
            respond(&m, "GET /readyz HTTP/1.1").0,
            "503 Service Unavailable"
        );
        m.synced.store(true, Ordering::Relaxed);
        assert_eq!(respond(&m, "GET /readyz HTTP/1.1").0, "200 OK");
        assert_eq!(
            respond(&m, "POST /metrics HTTP/1.1").0,
            "405 Method Not Allowed"
        );
    }

    async fn server(limits: Limits) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = l.local_addr().expect("local addr");
        tokio::spawn(serve_limited(
            l,
            std::sync::Arc::new(Metrics::default()),
            limits,
        ));
        addr
    }

    /// Reads until the server closes; true if it did (EOF or reset).
    async fn closed_by_server(c: &mut tokio::net::TcpStream) -> bool {
        let mut b = [0u8; 256];
        loop {
            match c.read(&mut b).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }

    #[tokio::test]
    async fn a_client_trickling_a_byte_at_a_time_is_cut_off_at_the_request_deadline() {
        use std::time::Duration;
        let deadline = Duration::from_millis(400);
        let addr = server(Limits {
            deadline,
            connections: 4,
        })
        .await;
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // Each byte comes well within any per-read timeout; the whole
        // request never ends (no CRLF). The server must close on its own
        // before the trickle (40 bytes, 4 s) is over.
        let (mut rd, mut wr) = c.split();
        let trickle = async {
            for _ in 0..40 {
                if wr.write_all(b"G").await.is_err() {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        };
        let closed = async {
            let mut b = [0u8; 64];
            loop {
                match rd.read(&mut b).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        };
        let cut = tokio::select! {
            c = closed => c,
            t = trickle => t,
        };
        assert!(cut, "the server kept a trickling request open for 4 s");
        drop(c);
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_serving_resumes_when_slots_free() {
        use std::time::Duration;
        let addr = server(Limits {
            deadline: Duration::from_millis(500),
            connections: 2,
        })
        .await;
        // Two idle connections hold both slots.
        let idle1 = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let idle2 = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut third = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let refused =
            tokio::time::timeout(Duration::from_millis(300), closed_by_server(&mut third))
                .await
                .expect("a connection over the cap is closed before the slots free");
        assert!(refused);
        // Once the idle ones pass the deadline, a request is served.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n")
            .await
            .expect("write request");
        let mut resp = String::new();
        c.read_to_string(&mut resp).await.expect("read response");
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp:?}");
        drop((idle1, idle2));
    }
}
