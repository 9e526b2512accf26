//! BFD for the BGPPeers of this node that name a `bfdProfile`: one
//! `bfd` session per peer (single hop, or multihop for `ebgpMultiHop`
//! peers), its Up -> Down taking the BGP session down with Cease / BFD
//! Down and holding it until BFD is Up again (`Speaker::set_bfd_up`). A
//! profile changed on reload is applied to the running session with a
//! poll sequence (no flap). The driver starts with the first profile in
//! use; a speaker without BFD opens no BFD socket.
//!
//! Not implemented: `echoMode` / `echoInterval` (a `check` warning says
//! so), authentication.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bfd::driver::{Bfd, PeerKey, SessionSpec};
use bfd::{BfdConfig, State};
use bgp_session::Speaker;
use metallb_api::{BfdProfile, BgpPeerConfig, Config};

use crate::desired::NodeInfo;

/// MetalLB's default `minimumTtl` for multihop sessions.
const DEFAULT_MINIMUM_TTL: u8 = 254;

/// One BGPPeer's BFD session as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub peer: String,
    pub profile: String,
    pub spec: SessionSpec,
}

/// The BFD sessions this node's BGPPeers ask for.
pub(crate) fn wanted(config: &Config, node: &NodeInfo) -> Vec<Wanted> {
    config
        .peers_for_node(&node.labels)
        .into_iter()
        .filter_map(|p| {
            let name = p.bfd_profile.as_ref()?;
            let profile = config.bfd_profiles.get(name)?;
            Some(Wanted {
                peer: p.name.clone(),
                profile: name.clone(),
                spec: spec(p, profile),
            })
        })
        .collect()
}

fn spec(p: &BgpPeerConfig, profile: &BfdProfile) -> SessionSpec {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    SessionSpec {
        key: PeerKey {
            peer: p.address,
            local: p.source_address,
            multihop: p.ebgp_multi_hop,
        },
        config: BfdConfig {
            desired_min_tx: ms(profile.transmit_interval),
            required_min_rx: ms(profile.receive_interval),
            detect_mult: u8::try_from(profile.detect_multiplier).unwrap_or(u8::MAX),
            passive: profile.passive_mode,
        },
        minimum_ttl: profile
            .minimum_ttl
            .and_then(|t| u8::try_from(t).ok())
            .unwrap_or(DEFAULT_MINIMUM_TTL),
    }
}

/// `check` lines: what each BFD session will run with.
pub(crate) fn check_lines(config: &Config, node: &NodeInfo) -> Vec<String> {
    wanted(config, node)
        .iter()
        .map(|w| {
            let c = w.spec.config;
            let hop = if w.spec.key.multihop {
                format!("multihop (UDP 4784, minimum TTL {})", w.spec.minimum_ttl)
            } else {
                "single hop (UDP 3784, TTL 255)".into()
            };
            format!(
                "bfd: BGPPeer {} profile {}: {hop}, transmit {} ms, receive {} ms, multiplier {}{}",
                w.peer,
                w.profile,
                c.desired_min_tx.as_millis(),
                c.required_min_rx.as_millis(),
                c.detect_mult,
                if c.passive { ", passive" } else { "" }
            )
        })
        .collect()
}

/// The BFD state shared with the HTTP handlers and the event task.
#[derive(Default)]
pub(crate) struct BfdShared {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    driver: Option<Bfd>,
    sessions: BTreeMap<String, Wanted>,
}

impl BfdShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn peers_of(&self, key: &PeerKey) -> Vec<String> {
        let inner = self.lock();
        inner
            .sessions
            .values()
            .filter(|w| w.spec.key == *key)
            .map(|w| w.peer.clone())
            .collect()
    }

    /// Brings the BFD sessions to `wanted`: new ones start, changed ones
    /// get the new timing (poll sequence), removed ones send AdminDown
    /// and release any BGP session they held down.
    pub(crate) async fn apply(self: &Arc<Self>, speaker: &Speaker, wanted: Vec<Wanted>) {
        let (driver, released) = {
            let mut inner = self.lock();
            if wanted.is_empty() && inner.driver.is_none() {
                return;
            }
            let driver = match &inner.driver {
                Some(d) => d.clone(),
                None => {
                    let d = Bfd::spawn();
                    tokio::spawn(forward_events(self.clone(), d.clone(), speaker.clone()));
                    inner.driver = Some(d.clone());
                    d
                }
            };
            let new: BTreeMap<String, Wanted> =
                wanted.into_iter().map(|w| (w.peer.clone(), w)).collect();
            let mut released = Vec::new();
            for (name, old) in &inner.sessions {
                let kept = new.values().any(|w| w.spec.key == old.spec.key);
                if !kept {
                    driver.remove(old.spec.key);
                }
                if !new.contains_key(name) || !kept {
                    released.push(name.clone());
                }
            }
            for w in new.values() {
                driver.upsert(w.spec);
            }
            inner.sessions = new;
            (driver, released)
        };
        for name in released {
            speaker.set_bfd_up(&name, true).await;
        }
        // A BGP peer re-created on this reload (its settings changed) starts
        // without the hold: give it again while its BFD session is down
        // after having been Up (held-down peers only; a repeat is a no-op).
        let status = driver.status();
        let held: Vec<String> = {
            let inner = self.lock();
            inner
                .sessions
                .values()
                .filter(|w| {
                    status.iter().any(|(k, s)| {
                        *k == w.spec.key && s.state != State::Up && s.counters.down_events > 0
                    })
                })
                .map(|w| w.peer.clone())
                .collect()
        };
        for name in held {
            speaker.set_bfd_up(&name, false).await;
        }
    }

    fn snapshot(&self) -> (Vec<Wanted>, Vec<(PeerKey, bfd::BfdStatus)>) {
        let inner = self.lock();
        let status = inner.driver.as_ref().map(Bfd::status).unwrap_or_default();
        (inner.sessions.values().cloned().collect(), status)
    }

    /// Why a wanted session is not running (its socket setup failed).
    fn error(&self, key: &PeerKey) -> Option<String> {
        self.lock().driver.as_ref().and_then(|d| d.error(key))
    }

    /// The `/status` member `bfd`: one entry per session.
    pub(crate) fn status_json(&self) -> serde_json::Value {
        let (wanted, status) = self.snapshot();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let sessions: Vec<serde_json::Value> = wanted
            .iter()
            .map(|w| {
                let s = status
                    .iter()
                    .find(|(k, _)| *k == w.spec.key)
                    .map(|(_, s)| s);
                serde_json::json!({
                    "peer": w.peer,
                    "address": w.spec.key.peer,
                    "local": w.spec.key.local,
                    "multihop": w.spec.key.multihop,
                    "profile": w.profile,
                    "configured": {
                        "transmit_ms": ms(w.spec.config.desired_min_tx),
                        "receive_ms": ms(w.spec.config.required_min_rx),
                        "multiplier": w.spec.config.detect_mult,
                        "passive": w.spec.config.passive,
                        "minimum_ttl": w.spec.key.multihop.then_some(w.spec.minimum_ttl),
                    },
                    "state": s.map(|s| s.state.name()),
                    "error": self.error(&w.spec.key),
                    "remote_state": s.map(|s| s.remote_state.name()),
                    "local_diag": s.map(|s| s.local_diag.name()),
                    "remote_diag": s.map(|s| s.remote_diag.name()),
                    "local_discriminator": s.map(|s| s.local_discriminator),
                    "remote_discriminator": s.map(|s| s.remote_discriminator),
                    "tx_interval_ms": s.and_then(|s| s.tx_interval).map(ms),
                    "detection_time_ms": s.and_then(|s| s.detection_time).map(ms),
                    "remote_desired_min_tx_ms": s.map(|s| ms(s.remote_desired_min_tx)),
                    "remote_required_min_rx_ms": s.map(|s| ms(s.remote_required_min_rx)),
                    "remote_multiplier": s.map(|s| s.remote_detect_mult),
                    "polling": s.map(|s| s.polling),
                    "control_packet_input": s.map(|s| s.counters.control_input),
                    "control_packet_output": s.map(|s| s.counters.control_output),
                    "session_up_events": s.map(|s| s.counters.up_events),
                    "session_down_events": s.map(|s| s.counters.down_events),
                })
            })
            .collect();
        serde_json::json!({ "sessions": sessions })
    }

    /// MetalLB's FRR-mode `metallb_bfd_*` series (labels `peer`, `vrf`).
    pub(crate) fn render_metrics(&self) -> String {
        let (_, status) = self.snapshot();
        let failures = self.lock().driver.as_ref().map(Bfd::setup_failures);
        let mut out = String::new();
        if let Some(n) = failures {
            let name = "oxlb_bfd_session_setup_failures_total";
            let _ = writeln!(
                out,
                "# HELP {name} BFD sessions whose socket setup failed (retried on each reload)\n# TYPE {name} counter\n{name} {n}"
            );
        }
        if status.is_empty() {
            return out;
        }
        let families: [Family; 5] = [
            (
                "metallb_bfd_session_up",
                "gauge",
                "BFD session state (1 is up, 0 is down)",
                |s| u64::from(s.state == State::Up),
            ),
            (
                "metallb_bfd_control_packet_input",
                "counter",
                "Number of received BFD control packets",
                |s| s.counters.control_input,
            ),
            (
                "metallb_bfd_control_packet_output",
                "counter",
                "Number of sent BFD control packets",
                |s| s.counters.control_output,
            ),
            (
                "metallb_bfd_session_up_events",
                "counter",
                "Number of BFD session up events",
                |s| s.counters.up_events,
            ),
            (
                "metallb_bfd_session_down_events",
                "counter",
                "Number of BFD session down events",
                |s| s.counters.down_events,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (k, s) in &status {
                let _ = writeln!(
                    out,
                    "{name}{{peer=\"{}\",vrf=\"default\"}} {}",
                    k.peer,
                    value(s)
                );
            }
        }
        out
    }
}

/// One `metallb_bfd_*` family: name, type, help, value of a session.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&bfd::BfdStatus) -> u64,
);

/// What a BFD state change means for the BGP sessions on its key: `Some(true)`
/// BFD is Up (release a hold), `Some(false)` the path is down (tear down and
/// hold), `None` nothing to do.
fn bgp_verdict(from: State, to: State, remote: State) -> Option<bool> {
    match (from, to) {
        (_, State::Up) => Some(true),
        // RFC 5882 §3.2: a peer that signals AdminDown took BFD out of
        // service; that is no path failure, so BGP stays up (and is not
        // held: its hold timer guards the session as without BFD).
        (State::Up, _) if remote == State::AdminDown => None,
        // RFC 5882 §4.3: only a session that was Up declares the path
        // down; one that never came up leaves BGP alone.
        (State::Up, _) => Some(false),
        _ => None,
    }
}

/// BFD state changes -> the BGP sessions of the peers on that key.
async fn forward_events(shared: Arc<BfdShared>, driver: Bfd, speaker: Speaker) {
    let mut rx = driver.subscribe();
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                // Missed transitions: re-read every session's state and set
                // each BGP hold from it, so none stays wrongly held or up.
                tracing::warn!(
                    missed = n,
                    "bfd: state changes missed; resyncing from the sessions' state"
                );
                for (key, st) in driver.status() {
                    let up = match st.state {
                        State::Up => true,
                        _ if st.remote_state == State::AdminDown => true,
                        // A session that has not come up yet holds nothing.
                        State::Down | State::Init if st.counters.up_events == 0 => true,
                        _ => false,
                    };
                    for name in shared.peers_of(&key) {
                        speaker.set_bfd_up(&name, up).await;
                    }
                }
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(up) = bgp_verdict(ev.from, ev.to, ev.remote) else {
            if ev.from == State::Up {
                tracing::info!(
                    diag = ev.diag.name(),
                    "BFD taken out of service by the peer (AdminDown): BGP left up"
                );
            }
            continue;
        };
        for name in shared.peers_of(&ev.key) {
            if !up {
                tracing::warn!(peer = %name, diag = ev.diag.name(), "BFD down: BGP session torn down (Cease / BFD Down)");
            }
            speaker.set_bfd_up(&name, up).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_taking_bfd_out_of_service_leaves_bgp_up_and_unheld() {
        assert_eq!(bgp_verdict(State::Up, State::Down, State::AdminDown), None);
    }

    #[test]
    fn a_path_failure_after_up_tears_bgp_down_and_up_again_releases_it() {
        assert_eq!(
            bgp_verdict(State::Up, State::Down, State::Down),
            Some(false)
        );
        assert_eq!(bgp_verdict(State::Up, State::Down, State::Up), Some(false));
        assert_eq!(bgp_verdict(State::Init, State::Up, State::Up), Some(true));
        assert_eq!(bgp_verdict(State::Down, State::Init, State::Down), None);
    }

    const YAML: &str = "\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: hop, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.2, bfdProfile: slow, ebgpMultiHop: true}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: plain, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.6}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {transmitInterval: 100, receiveInterval: 200, detectMultiplier: 4, passiveMode: true}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: slow, namespace: metallb-system}
spec: {minimumTtl: 60}
";

    fn wanted_of(yaml: &str) -> Vec<Wanted> {
        let opts = metallb_api::Options::default();
        let objects = metallb_api::load_str(yaml, "test.yaml", &opts).expect("loads");
        let config = metallb_api::validate(&objects, &opts)
            .expect("valid")
            .config;
        let node = NodeInfo::from_config(&config, "node1");
        wanted(&config, &node)
    }

    #[test]
    fn each_peer_with_a_profile_gets_one_session_with_the_profiles_timing() {
        let w = wanted_of(YAML);
        let names: Vec<&str> = w.iter().map(|w| w.peer.as_str()).collect();
        assert_eq!(
            names,
            ["hop", "tor"],
            "the peer without a profile runs no BFD"
        );
        let tor = &w[1].spec;
        assert!(!tor.key.multihop);
        assert_eq!(
            tor.config,
            BfdConfig {
                desired_min_tx: Duration::from_millis(100),
                required_min_rx: Duration::from_millis(200),
                detect_mult: 4,
                passive: true,
            }
        );
    }

    #[test]
    fn an_ebgp_multihop_peer_runs_multihop_bfd_with_the_profiles_minimum_ttl() {
        let w = wanted_of(YAML);
        let hop = &w[0].spec;
        assert!(hop.key.multihop);
        assert_eq!(hop.minimum_ttl, 60);
        assert_eq!(hop.config, BfdConfig::default(), "MetalLB's 300/300/x3");
        let no_ttl = YAML.replace("spec: {minimumTtl: 60}", "spec: {}");
        assert_eq!(wanted_of(&no_ttl)[0].spec.minimum_ttl, 254);
    }
}
