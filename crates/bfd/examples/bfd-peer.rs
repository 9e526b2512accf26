//! Runs one BFD session with the driver and prints its status as a line
//! every 100 ms (used by tests to drive the driver against BIRD / FRR):
//!   bfd-peer PEER [LOCAL|-] [TX_MS RX_MS MULT] [multihop MIN_TTL] [passive]

use std::time::Duration;

use bfd::driver::{Bfd, PeerKey, SessionSpec};
use bfd::BfdConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let peer = arg(0).and_then(|a| a.parse().ok()).expect("PEER address");
    let local = arg(1)
        .filter(|a| *a != "-")
        .map(|a| a.parse().expect("LOCAL address"));
    let num = |i: usize, d: u64| arg(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let multihop = args.iter().position(|a| a == "multihop");
    let config = BfdConfig {
        desired_min_tx: Duration::from_millis(num(2, 300)),
        required_min_rx: Duration::from_millis(num(3, 300)),
        detect_mult: num(4, 3) as u8,
        passive: args.iter().any(|a| a == "passive"),
    };
    let bfd = Bfd::spawn();
    bfd.upsert(SessionSpec {
        key: PeerKey {
            peer,
            local,
            multihop: multihop.is_some(),
        },
        config,
        minimum_ttl: multihop.map_or(254, |i| num(i + 1, 254) as u8),
    });
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (k, s) in bfd.status() {
            println!(
                "peer={} state={} remote={} diag={} tx_ms={} detect_ms={} in={} out={}",
                k.peer,
                s.state.name(),
                s.remote_state.name(),
                s.local_diag.name(),
                s.tx_interval.map_or(0, |d| d.as_millis()),
                s.detection_time.map_or(0, |d| d.as_millis()),
                s.counters.control_input,
                s.counters.control_output
            );
        }
    }
}
