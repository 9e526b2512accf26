//! Prometheus metrics with MetalLB's names and labels, plus richer `oxlb_*`
//! series. Values are read from the live state at scrape time, so they can
//! never drift from what the speaker actually does.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use std::collections::BTreeSet;
use std::net::IpAddr;

use bgp_session::PeerStatus;

use crate::desired::ServiceReport;
use prometheus::{
    Encoder, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// One pool's address counts (exact in the allocator; Prometheus values are
/// floats, which hold every count up to 2^53 exactly).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolCounts {
    pub name: String,
    pub v4_total: u128,
    pub v4_in_use: u128,
    pub v6_total: u128,
    pub v6_in_use: u128,
}

/// The IPs for `metallb_speaker_announced`: positions (Service, IP) in
/// the shared Service reports, in the text encoder's series order. Eight
/// bytes per IP; the labels are written from the reports at scrape time.
/// The order is found by the first scrape that needs it (shared by every
/// clone), not by the apply: a reload of a 100k-Service config does not
/// sort 100k IPs for a list nobody may read before the next reload.
#[derive(Clone, Debug, Default)]
pub struct Announced {
    services: Arc<Vec<ServiceReport>>,
    /// Allocations not yet in the state file: left out.
    held: Arc<BTreeSet<IpAddr>>,
    order: Arc<std::sync::OnceLock<Vec<(u32, u32)>>>,
}

impl Announced {
    /// Every IP of each Service announced over BGP, except those in `held`
    /// (allocations not yet in the state file), ordered as the encoder
    /// orders series: by label values in label-name order, i.e. the IP as
    /// text, then the service (protocol and node are the same for all).
    pub fn of(services: Arc<Vec<ServiceReport>>, held: &BTreeSet<IpAddr>) -> Self {
        Announced {
            services,
            held: Arc::new(held.clone()),
            order: Arc::default(),
        }
    }

    /// The positions in series order, sorted on first use.
    fn order(&self) -> &[(u32, u32)] {
        self.order
            .get_or_init(|| Self::sorted(&self.services, &self.held))
    }

    fn sorted(services: &[ServiceReport], held: &BTreeSet<IpAddr>) -> Vec<(u32, u32)> {
        // The IP's text, zero-padded: compares as the string does (a
        // shorter text that is a prefix sorts first), built once per entry.
        let text = |ip: &IpAddr| {
            let mut t = [0u8; 40];
            let mut w = &mut t[..];
            let _ = write!(w, "{ip}");
            t
        };
        let mut keyed: Vec<([u8; 40], u32, u32)> = Vec::new();
        for (i, r) in services.iter().enumerate() {
            if !r
                .announcements
                .iter()
                .any(crate::desired::Announcement::is_bgp)
            {
                continue;
            }
            for (j, ip) in r.ips.iter().enumerate() {
                if !held.contains(ip) {
                    keyed.push((text(ip), i as u32, j as u32));
                }
            }
        }
        // The service label is `namespace/name`, compared as that string.
        let label = |i: u32| {
            let r = &services[i as usize];
            r.namespace
                .bytes()
                .chain(std::iter::once(b'/'))
                .chain(r.name.bytes())
        };
        keyed.sort_unstable_by(|x, y| x.0.cmp(&y.0).then_with(|| label(x.1).cmp(label(y.1))));
        // A fresh vector: collecting in place would keep the keyed one's
        // six-times-larger buffer alive for as long as the list.
        let mut order = Vec::with_capacity(keyed.len());
        order.extend(keyed.iter().map(|&(_, i, j)| (i, j)));
        order
    }

    pub fn len(&self) -> usize {
        self.order().len()
    }

    pub fn is_empty(&self) -> bool {
        self.order().is_empty()
    }

    /// (Service report, IP) in series order.
    pub fn iter(&self) -> impl Iterator<Item = (&ServiceReport, IpAddr)> {
        self.order().iter().filter_map(|&(i, j)| {
            let r = self.services.get(i as usize)?;
            Some((r, *r.ips.get(j as usize)?))
        })
    }
}

/// What the metrics need besides the BGP sessions.
#[derive(Clone, Debug, Default)]
pub struct MetricsView {
    pub node: String,
    pub config_loaded: bool,
    pub config_stale: bool,
    pub pools: Vec<PoolCounts>,
    /// Shared with the runner: a scrape copies pointers, not the list.
    pub announced: Announced,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Seconds the last successful reload took to reach the sessions.
    pub last_apply_seconds: f64,
    /// Failed state file writes, the Unix time of the last good one (0:
    /// none yet) and the allocations held back from BGP until one succeeds.
    pub state_save_failures: u64,
    pub state_last_save_seconds: f64,
    pub state_unsaved: u64,
}

pub struct Metrics {
    registry: Registry,
    lock: Mutex<()>,
    session_up: IntGaugeVec,
    updates: IntCounterVec,
    announced_prefixes: IntGaugeVec,
    pending_prefixes: IntGaugeVec,
    addr_total: GaugeVec,
    addr_v4_total: GaugeVec,
    addr_v6_total: GaugeVec,
    addr_in_use: GaugeVec,
    addr_v4_in_use: GaugeVec,
    addr_v6_in_use: GaugeVec,
    config_loaded: IntGauge,
    config_stale: IntGauge,
    messages: IntCounterVec,
    session_state: IntGaugeVec,
    established: IntCounterVec,
    connect_failures: IntCounterVec,
    last_error: IntGaugeVec,
    received_updates: IntCounterVec,
    received_prefixes: IntCounterVec,
    malformed: IntCounterVec,
    initial_table: GaugeVec,
    reloads: IntCounterVec,
    last_apply: prometheus::Gauge,
    state_save_failures: prometheus::IntCounter,
    state_last_save: prometheus::Gauge,
    state_unsaved: IntGauge,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

macro_rules! reg {
    ($r:expr, $m:expr) => {{
        let m = $m;
        $r.register(Box::new(m.clone()))
            .expect("metric names are unique and valid");
        m
    }};
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let peer = &["peer"];
        let pool = &["pool"];
        Metrics {
            session_up: reg!(r, IntGaugeVec::new(opts("metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)"), peer).unwrap()),
            updates: reg!(r, IntCounterVec::new(opts("metallb_bgp_updates_total", "Number of BGP UPDATE messages sent"), peer).unwrap()),
            announced_prefixes: reg!(r, IntGaugeVec::new(opts("metallb_bgp_announced_prefixes_total", "Number of prefixes currently being advertised on the BGP session"), peer).unwrap()),
            pending_prefixes: reg!(r, IntGaugeVec::new(opts("metallb_bgp_pending_prefixes_total", "Number of prefixes that should be advertised on the BGP session"), peer).unwrap()),
            addr_total: reg!(r, GaugeVec::new(opts("metallb_allocator_addresses_total", "Number of usable IP addresses, per pool"), pool).unwrap()),
            addr_v4_total: reg!(r, GaugeVec::new(opts("metallb_allocator_ipv4_addresses_total", "Number of usable IPV4 addresses, per pool"), pool).unwrap()),
            addr_v6_total: reg!(r, GaugeVec::new(opts("metallb_allocator_ipv6_addresses_total", "Number of usable IPV6 addresses, per pool"), pool).unwrap()),
            addr_in_use: reg!(r, GaugeVec::new(opts("metallb_allocator_addresses_in_use_total", "Number of IP addresses in use, per pool"), pool).unwrap()),
            addr_v4_in_use: reg!(r, GaugeVec::new(opts("metallb_allocator_ipv4_addresses_in_use_total", "Number of IPV4 addresses in use, per pool"), pool).unwrap()),
            addr_v6_in_use: reg!(r, GaugeVec::new(opts("metallb_allocator_ipv6_addresses_in_use_total", "Number of IPV6 addresses in use, per pool"), pool).unwrap()),
            config_loaded: reg!(r, IntGauge::with_opts(opts("metallb_k8s_client_config_loaded_bool", "1 if the MetalLB configuration was successfully loaded at least once.")).unwrap()),
            config_stale: reg!(r, IntGauge::with_opts(opts("metallb_k8s_client_config_stale_bool", "1 if running on a stale configuration, because the latest config failed to load.")).unwrap()),
            messages: reg!(r, IntCounterVec::new(opts("oxlb_bgp_messages_total", "BGP messages by peer, direction (in/out) and type"), &["peer", "direction", "type"]).unwrap()),
            session_state: reg!(r, IntGaugeVec::new(opts("oxlb_bgp_session_state", "1 for the current RFC 4271 state of each session"), &["peer", "state"]).unwrap()),
            established: reg!(r, IntCounterVec::new(opts("oxlb_bgp_session_established_total", "Times the session reached Established"), peer).unwrap()),
            connect_failures: reg!(r, IntCounterVec::new(opts("oxlb_bgp_connect_failures_total", "Failed dials to the peer by reason (source_address, md5, refused, unreachable, timeout, socket, connect)"), &["peer", "reason"]).unwrap()),
            last_error: reg!(r, IntGaugeVec::new(opts("oxlb_bgp_last_error_info", "The last NOTIFICATION sent or received on the session"), &["peer", "direction", "error"]).unwrap()),
            received_updates: reg!(r, IntCounterVec::new(opts("oxlb_bgp_updates_received_total", "UPDATEs received (decoded and counted, never installed)"), peer).unwrap()),
            received_prefixes: reg!(r, IntCounterVec::new(opts("oxlb_bgp_prefixes_received_total", "Prefixes announced to us (counted, never installed)"), peer).unwrap()),
            malformed: reg!(r, IntCounterVec::new(opts("oxlb_bgp_malformed_updates_total", "UPDATEs handled by RFC 7606 (attribute discard, treat-as-withdraw)"), peer).unwrap()),
            initial_table: reg!(r, GaugeVec::new(opts("oxlb_bgp_initial_table_seconds", "Time from Established to the whole initial table handed to TCP"), peer).unwrap()),
            reloads: reg!(r, IntCounterVec::new(opts("oxlb_config_reloads_total", "Configuration reloads by result (ok/failed)"), &["result"]).unwrap()),
            last_apply: reg!(r, prometheus::Gauge::with_opts(opts("oxlb_config_last_apply_seconds", "Time the last accepted configuration took from file read to routes queued on every session")).unwrap()),
            state_save_failures: reg!(r, prometheus::IntCounter::with_opts(opts("oxlb_state_file_save_failures_total", "State file writes that failed (the new allocations stay unannounced until a retry succeeds)")).unwrap()),
            state_last_save: reg!(r, prometheus::Gauge::with_opts(opts("oxlb_state_file_last_save_success_timestamp_seconds", "Unix time of the last successful state file write (0: none since start)")).unwrap()),
            state_unsaved: reg!(r, IntGauge::with_opts(opts("oxlb_state_file_unsaved_allocations", "Allocated IPs not yet in the state file, held back from BGP")).unwrap()),
            registry: r,
            lock: Mutex::new(()),
        }
    }

    /// Renders the text exposition for the current state.
    pub fn render(&self, view: &MetricsView, peers: &[PeerStatus]) -> String {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for v in [
            &self.session_up,
            &self.announced_prefixes,
            &self.pending_prefixes,
            &self.session_state,
            &self.last_error,
        ] {
            v.reset();
        }
        for v in [
            &self.updates,
            &self.messages,
            &self.established,
            &self.connect_failures,
            &self.received_updates,
            &self.received_prefixes,
            &self.malformed,
            &self.reloads,
        ] {
            v.reset();
        }
        for v in [
            &self.addr_total,
            &self.addr_v4_total,
            &self.addr_v6_total,
            &self.addr_in_use,
            &self.addr_v4_in_use,
            &self.addr_v6_in_use,
            &self.initial_table,
        ] {
            v.reset();
        }
        for p in peers {
            // MetalLB labels sessions "ip:port" (IPv6 in brackets).
            let peer = if p.address.contains(':') {
                format!("[{}]:{}", p.address, p.port)
            } else {
                format!("{}:{}", p.address, p.port)
            };
            let l = &[peer.as_str()];
            let up = p.state == bgp_proto::fsm::SessionState::Established;
            self.session_up.with_label_values(l).set(i64::from(up));
            self.updates
                .with_label_values(l)
                .inc_by(p.messages_out.update);
            self.announced_prefixes
                .with_label_values(l)
                .set(p.prefixes_announced as i64);
            self.pending_prefixes
                .with_label_values(l)
                .set(p.prefixes_desired as i64);
            for (dir, c) in [("in", &p.messages_in), ("out", &p.messages_out)] {
                for (kind, n) in [
                    ("open", c.open),
                    ("update", c.update),
                    ("notification", c.notification),
                    ("keepalive", c.keepalive),
                    ("route_refresh", c.route_refresh),
                ] {
                    self.messages
                        .with_label_values(&[peer.as_str(), dir, kind])
                        .inc_by(n);
                }
            }
            self.session_state
                .with_label_values(&[peer.as_str(), &p.state.to_string()])
                .set(1);
            self.established
                .with_label_values(l)
                .inc_by(p.established_count);
            for (reason, n) in &p.connect_failures {
                self.connect_failures
                    .with_label_values(&[peer.as_str(), reason.as_str()])
                    .inc_by(*n);
            }
            if let Some(e) = &p.last_error_sent {
                self.last_error
                    .with_label_values(&[peer.as_str(), "sent", e])
                    .set(1);
            }
            if let Some(e) = &p.last_error_received {
                self.last_error
                    .with_label_values(&[peer.as_str(), "received", e])
                    .set(1);
            }
            self.received_updates
                .with_label_values(l)
                .inc_by(p.updates_received);
            self.received_prefixes
                .with_label_values(l)
                .inc_by(p.prefixes_received);
            self.malformed
                .with_label_values(l)
                .inc_by(p.malformed_updates_received);
            if let Some(ms) = p.initial_table_ms {
                self.initial_table.with_label_values(l).set(ms / 1000.0);
            }
        }
        for p in &view.pools {
            let l = &[p.name.as_str()];
            self.addr_total
                .with_label_values(l)
                .set((p.v4_total + p.v6_total) as f64);
            self.addr_v4_total
                .with_label_values(l)
                .set(p.v4_total as f64);
            self.addr_v6_total
                .with_label_values(l)
                .set(p.v6_total as f64);
            self.addr_in_use
                .with_label_values(l)
                .set((p.v4_in_use + p.v6_in_use) as f64);
            self.addr_v4_in_use
                .with_label_values(l)
                .set(p.v4_in_use as f64);
            self.addr_v6_in_use
                .with_label_values(l)
                .set(p.v6_in_use as f64);
        }
        self.config_loaded.set(i64::from(view.config_loaded));
        self.config_stale.set(i64::from(view.config_stale));
        self.reloads
            .with_label_values(&["ok"])
            .inc_by(view.reloads_ok);
        self.reloads
            .with_label_values(&["failed"])
            .inc_by(view.reloads_failed);
        self.last_apply.set(view.last_apply_seconds);
        let failures = view.state_save_failures;
        self.state_save_failures
            .inc_by(failures.saturating_sub(self.state_save_failures.get()));
        self.state_last_save.set(view.state_last_save_seconds);
        self.state_unsaved.set(view.state_unsaved as i64);

        let mut out = Vec::new();
        let enc = TextEncoder::new();
        if enc.encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        let text = String::from_utf8(out).unwrap_or_default();
        with_announced(text, view)
    }
}

/// `metallb_speaker_announced`: one series per announced IP, written
/// straight from the list (no series object per Service is kept), placed
/// among the registry's families in name order as the registry would.
const ANNOUNCED: &str = "metallb_speaker_announced";
const ANNOUNCED_HELP: &str = "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.";

fn with_announced(text: String, view: &MetricsView) -> String {
    if view.announced.is_empty() {
        // The registry leaves out a family without series; so do we.
        return text;
    }
    let at = text
        .match_indices("# HELP ")
        .find(|(i, _)| {
            let name = text[i + 7..].split(' ').next().unwrap_or("");
            name > ANNOUNCED
        })
        .map_or(text.len(), |(i, _)| i);
    let mut out = String::with_capacity(text.len() + view.announced.len() * 110);
    out.push_str(&text[..at]);
    let _ = writeln!(out, "# HELP {ANNOUNCED} {ANNOUNCED_HELP}");
    let _ = writeln!(out, "# TYPE {ANNOUNCED} gauge");
    let node = escape(&view.node);
    for (r, ip) in view.announced.iter() {
        // Labels in name order, as the text encoder writes them.
        let _ = writeln!(
            out,
            "{ANNOUNCED}{{ip=\"{ip}\",node=\"{node}\",protocol=\"bgp\",service=\"{}/{}\"}} 1",
            escape(&r.namespace),
            escape(&r.name)
        );
    }
    out.push_str(&text[at..]);
    out
}

/// A label value in the text format: backslash, quote and newline escaped.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::fsm::SessionState;

    /// Services announced over BGP, each with one IP.
    fn announced(list: &[(&str, &str)]) -> Announced {
        let services = list
            .iter()
            .map(|(key, ip)| {
                let (namespace, name) = key.split_once('/').unwrap();
                ServiceReport {
                    namespace: namespace.into(),
                    name: name.into(),
                    ips: vec![ip.parse().unwrap()],
                    pool: Some("default".into()),
                    pending: None,
                    announcements: vec![crate::desired::Announcement::Bgp {
                        prefix: format!("{ip}/32").parse().unwrap(),
                        to: "tor (198.51.100.1)".into(),
                    }],
                }
            })
            .collect();
        Announced::of(Arc::new(services), &BTreeSet::new())
    }

    #[test]
    fn metrics_carry_metallbs_names_and_labels() {
        let m = Metrics::new();
        let view = MetricsView {
            node: "node1".into(),
            config_loaded: true,
            config_stale: false,
            pools: vec![PoolCounts {
                name: "default".into(),
                v4_total: 256,
                v4_in_use: 2,
                v6_total: 1 << 64,
                v6_in_use: 1,
            }],
            announced: announced(&[("default/web", "192.0.2.1")]),
            ..MetricsView::default()
        };
        let mut up = PeerStatus::new("tor", "2001:db8::1".into(), 179);
        up.state = SessionState::Established;
        up.prefixes_announced = 3;
        up.prefixes_desired = 4;
        up.messages_out.update = 2;
        up.connect_failures.insert("source_address".into(), 3);
        let text = m.render(&view, &[up]);
        for line in [
            "metallb_bgp_session_up{peer=\"[2001:db8::1]:179\"} 1",
            "metallb_bgp_announced_prefixes_total{peer=\"[2001:db8::1]:179\"} 3",
            "metallb_bgp_pending_prefixes_total{peer=\"[2001:db8::1]:179\"} 4",
            "metallb_bgp_updates_total{peer=\"[2001:db8::1]:179\"} 2",
            "metallb_speaker_announced{ip=\"192.0.2.1\",node=\"node1\",protocol=\"bgp\",service=\"default/web\"} 1",
            "metallb_allocator_ipv4_addresses_total{pool=\"default\"} 256",
            "metallb_allocator_ipv6_addresses_total{pool=\"default\"} 18446744073709552000",
            "metallb_allocator_addresses_in_use_total{pool=\"default\"} 3",
            "metallb_k8s_client_config_loaded_bool 1",
            "metallb_k8s_client_config_stale_bool 0",
            "oxlb_bgp_session_state{peer=\"[2001:db8::1]:179\",state=\"Established\"} 1",
            "oxlb_bgp_connect_failures_total{peer=\"[2001:db8::1]:179\",reason=\"source_address\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn the_announced_series_are_byte_identical_to_the_prometheus_encoders() {
        let view = MetricsView {
            node: "node\"1".into(),
            // Out of the encoder's order: by service, and "192.0.2.10"
            // sorts before "192.0.2.9" as text.
            announced: announced(&[
                ("default/a", "2001:db8::1"),
                ("default/d", "192.0.2.10"),
                ("default/b", "192.0.2.9"),
                ("default/c", "192.0.2.10"),
            ]),
            ..MetricsView::default()
        };
        // The series object the speaker used to keep per Service.
        let r = Registry::new();
        let old = IntGaugeVec::new(
            opts(ANNOUNCED, ANNOUNCED_HELP),
            &["service", "protocol", "node", "ip"],
        )
        .unwrap();
        r.register(Box::new(old.clone())).unwrap();
        for (r, ip) in view.announced.iter() {
            let (ip, key) = (ip.to_string(), format!("{}/{}", r.namespace, r.name));
            old.with_label_values(&[&key, "bgp", &view.node, &ip])
                .set(1);
        }
        let mut want = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut want).unwrap();
        let want = String::from_utf8(want).unwrap();
        let text = Metrics::new().render(&view, &[]);
        assert!(text.contains(&want), "want\n{want}\nin\n{text}");
        // In name order among the registry's families.
        let k8s = text
            .find("# HELP metallb_k8s_client_config_stale_bool")
            .unwrap();
        let oxlb = text.find("# HELP oxlb_").unwrap();
        let at = text.find(&want).unwrap();
        assert!(k8s < at && at < oxlb, "{text}");
    }

    #[test]
    fn a_scrape_keeps_no_series_object_per_service() {
        let m = Metrics::new();
        let view = MetricsView {
            node: "node1".into(),
            announced: announced(&[("default/a", "192.0.2.1"), ("default/b", "192.0.2.2")]),
            ..MetricsView::default()
        };
        let text = m.render(&view, &[]);
        assert_eq!(text.matches("metallb_speaker_announced{").count(), 2);
        // The series were written from the list, not stored in the
        // registry: it holds as many series as with nothing announced.
        let series = |m: &Metrics| -> usize {
            m.registry
                .gather()
                .iter()
                .map(|f| f.get_metric().len())
                .sum()
        };
        let with = series(&m);
        let empty = Metrics::new();
        empty.render(&MetricsView::default(), &[]);
        assert_eq!(with, series(&empty));
        assert!(m.registry.gather().iter().all(|f| f.name() != ANNOUNCED));
    }

    #[test]
    fn a_peer_that_went_away_leaves_no_stale_series() {
        let m = Metrics::new();
        let p = PeerStatus::new("tor", "192.0.2.9".into(), 179);
        assert!(m
            .render(&MetricsView::default(), &[p])
            .contains("192.0.2.9:179"));
        assert!(!m
            .render(&MetricsView::default(), &[])
            .contains("192.0.2.9:179"));
    }
}
