//! The node runtime end to end: three nodes' `node::spawn` run in this
//! process, each on its own thread inside its own network namespace (a
//! veth into a bridge namespace), and a client namespace asks for the VIP
//! with `arping` and `ndisc6` and with an ARP prober of its own.
//!
//! Needs root (namespaces, CAP_NET_RAW), `ip`, `arping` (Habets) and
//! `ndisc6`, so it is ignored by default:
//!   cargo test -p l2 --test node_netns -- --ignored --nocapture
//! Namespaces are named per PID and deleted on drop, even on failure.
//! Addresses: 192.0.2.0/24 and 2001:db8::/32 only.

#![cfg(target_os = "linux")]

mod node_rig;

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use l2::node::Profile;

use node_rig::*;

/// How the winner goes away.
enum Stop {
    Kill,
    Shutdown,
    /// Its eth0 loses carrier; it stays a live member over eth1.
    CarrierLoss,
}

fn failover(profile: Profile, tag: &str, how: Stop) -> Duration {
    let split = matches!(how, Stop::CarrierLoss);
    let topo = Topo::new(tag, split);
    let mut nodes = start_all(&topo, profile, split);
    let all: BTreeSet<String> = NODES.iter().map(|s| s.to_string()).collect();
    let (winner, candidates) = converged(&nodes, &all);
    assert_eq!(candidates.len(), 3, "{candidates:?}");
    let winner_mac = topo.mac(&winner);

    // The winner answers arping and ndisc6 with its MAC; nobody else does.
    let macs = arping(&topo);
    assert!(!macs.is_empty());
    assert!(
        macs.iter().all(|m| *m == winner_mac),
        "replies {macs:?}, winner {winner} has {winner_mac}"
    );
    assert_eq!(ndisc6(&topo), winner_mac);
    for (n, t) in &nodes {
        let status = t.status();
        let v4 = vip_status(&status, VIP4);
        if *n == winner {
            assert!(v4.responses_sent >= 1, "{n}: {v4:?}");
            assert!(v4.gratuitous_sent >= 1, "{n}: {v4:?}");
        } else {
            // It saw the requests and let them go: not its VIP.
            let not_announced = status.drops.iter().find(|(r, _)| *r == "not_announced");
            assert!(
                not_announced.is_some_and(|(_, c)| *c >= 1),
                "{n} saw no request: {:?}",
                status.drops
            );
            assert_eq!(v4.responses_sent, 0, "loser {n} answered: {v4:?}");
            assert!(v4.announcing_on.is_empty(), "{n}: {v4:?}");
        }
    }

    // Stop the winner; the next candidate takes over.
    let next = candidates[1].clone();
    let (probe, ready) = probe_until_moved(&topo, parse_mac(&winner_mac), Duration::from_secs(10));
    ready.recv().expect("prober started");
    thread::sleep(Duration::from_millis(100));
    let stopped = Instant::now();
    let rest: BTreeSet<String> = match how {
        Stop::Kill | Stop::Shutdown => {
            let cmd = if matches!(how, Stop::Kill) {
                Cmd::Kill
            } else {
                Cmd::Shutdown
            };
            nodes.remove(&winner).expect("winner runs").stop(cmd);
            all.iter().filter(|n| **n != winner).cloned().collect()
        }
        Stop::CarrierLoss => {
            topo.cut_carrier(&winner);
            all.clone()
        }
    };
    let (at, mac) = probe
        .join()
        .expect("prober")
        .expect("no reply from another MAC within 10 s");
    let took = at.duration_since(stopped);
    assert_eq!(
        fmt_mac(mac),
        topo.mac(&next),
        "the next candidate {next} answers"
    );
    let (second, _) = converged(&nodes, &rest);
    assert_eq!(second, next);
    let macs = arping(&topo);
    assert!(macs.iter().all(|m| *m == topo.mac(&next)), "{macs:?}");
    assert_eq!(ndisc6(&topo), topo.mac(&next));
    let samples = nodes[&next].status().failover_seconds;
    assert!(!samples.is_empty(), "the new winner records its takeover");
    eprintln!("{profile:?} {tag}: stop -> first reply from the new MAC {took:?}; new winner's own sample {samples:?}");
    for (_, t) in std::mem::take(&mut nodes) {
        t.stop(Cmd::Shutdown);
    }
    took
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_winner_that_loses_the_majority_stops_answering() {
    let topo = Topo::new("m", false);
    let mut nodes = start_all(&topo, Profile::Default, false);
    let all: BTreeSet<String> = NODES.iter().map(|s| s.to_string()).collect();
    let (winner, _) = converged(&nodes, &all);
    assert!(arping(&topo).iter().all(|m| *m == topo.mac(&winner)));
    let losers: Vec<String> = all.iter().filter(|n| **n != winner).cloned().collect();
    for n in &losers {
        nodes.remove(n).expect("loser runs").stop(Cmd::Kill);
    }
    // 1 of 3 is no majority: fenced after fence_after (0.3 s).
    thread::sleep(Duration::from_millis(800));
    let status = nodes[&winner].status();
    assert!(
        status
            .fenced
            .as_deref()
            .is_some_and(|f| f.contains("1 of 3")),
        "{status:?}"
    );
    assert!(
        vip_status(&status, VIP4).announcing_on.is_empty(),
        "{status:?}"
    );
    let ns = topo.ns("cl");
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns, "arping", "-c", "3", "-i", "eth0", VIP4,
        ])
        .output()
        .expect("arping runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && !text.contains("bytes from"),
        "a fenced node answered: {text}"
    );
    for (_, t) in nodes {
        t.stop(Cmd::Shutdown);
    }
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_reload_that_keeps_the_winner_sends_nothing_and_a_new_vip_gets_its_own_burst() {
    let topo = Topo::new("h", false);
    let nodes = start_all(&topo, Profile::Fast, false);
    let all: BTreeSet<String> = NODES.iter().map(|s| s.to_string()).collect();
    let (winner, _) = converged(&nodes, &all);
    // MetalLB's burst: at once, then every 1.1 s for 5 s. Wait until it
    // is over (no announcement for longer than one period).
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut before = vip_status(&nodes[&winner].status(), VIP4).gratuitous_sent;
    loop {
        thread::sleep(Duration::from_millis(1300));
        let now = vip_status(&nodes[&winner].status(), VIP4).gratuitous_sent;
        if now == before {
            break;
        }
        before = now;
        assert!(Instant::now() < deadline, "the burst never ends: {now}");
    }
    assert!(before >= 5, "a whole burst: {before}");
    let mut more = desired(false);
    let mut extra = more.vips[0].clone();
    extra.ip = "192.0.2.51".parse().unwrap();
    extra.election_ip = extra.ip;
    more.vips.push(extra);
    for t in nodes.values() {
        t.cmds.send(Cmd::Desire(desired(false))).expect("node runs");
        t.cmds.send(Cmd::Desire(more.clone())).expect("node runs");
    }
    thread::sleep(Duration::from_millis(500));
    let status = nodes[&winner].status();
    assert_eq!(
        vip_status(&status, VIP4).gratuitous_sent,
        before,
        "an unchanged winner announces nothing"
    );
    let owners: Vec<(String, u64)> = nodes
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                vip_status(&t.status(), "192.0.2.51").gratuitous_sent,
            )
        })
        .filter(|(_, g)| *g > 0)
        .collect();
    assert_eq!(
        owners.len(),
        1,
        "the new VIP is announced by one node: {owners:?}"
    );
    for (_, t) in nodes {
        t.stop(Cmd::Shutdown);
    }
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_killed_winner_hands_the_vip_to_the_next_candidate() {
    // How fast is a benchmark (e2e/bench/l2-failover.sh, docs/benchmarks.md
    // §8), not this test: here the next candidate must answer at all (the
    // probe gives up after 10 s), and `failover` checks it is the right one.
    let took = failover(Profile::Default, "k", Stop::Kill);
    eprintln!("default profile, kill: {took:?}");
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_killed_winner_hands_the_vip_to_the_next_candidate_in_the_fast_profile() {
    let took = failover(Profile::Fast, "f", Stop::Kill);
    eprintln!("fast profile, kill: {took:?}");
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_winner_that_shuts_down_hands_over_faster_than_detection() {
    // The signed leave lets the others re-elect without waiting for
    // dead_after (0.5 s in the default profile).
    // Less than dead_after is the proof that detection was not waited for.
    let took = failover(Profile::Default, "s", Stop::Shutdown);
    assert!(took < Profile::Default.timing().dead_after, "{took:?}");
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_winner_whose_interface_loses_carrier_hands_over_without_waiting_for_detection() {
    // The winner stays a live member (membership on eth1), tells the
    // others that eth0 lost carrier, and they re-elect at once; the
    // default profile would take 0.5 s to declare it dead.
    let took = failover(Profile::Default, "c", Stop::CarrierLoss);
    assert!(took < Profile::Default.timing().dead_after, "{took:?}");
}

#[test]
#[ignore = "needs root: network namespaces and CAP_NET_RAW"]
fn a_takeover_moves_the_client_kernels_neighbour_entries_by_itself() {
    // No probe after the kill: only the new winner's gratuitous ARP and
    // unsolicited NA (Override) can move the client's cached entries.
    let topo = Topo::new("n", false);
    let mut nodes = start_all(&topo, Profile::Fast, false);
    let all: BTreeSet<String> = NODES.iter().map(|s| s.to_string()).collect();
    let (winner, candidates) = converged(&nodes, &all);
    assert_eq!(resolve(&topo, VIP4), topo.mac(&winner));
    assert_eq!(resolve(&topo, VIP6), topo.mac(&winner));
    let next = topo.mac(&candidates[1]);
    let stopped = Instant::now();
    nodes.remove(&winner).expect("winner runs").stop(Cmd::Kill);
    let deadline = stopped + Duration::from_secs(3);
    let moved = |ip: &str| neighbour(&topo, ip).is_some_and(|(mac, _)| mac == next);
    while !(moved(VIP4) && moved(VIP6)) {
        assert!(
            Instant::now() < deadline,
            "client entries not moved to {next}: {:?} {:?}",
            neighbour(&topo, VIP4),
            neighbour(&topo, VIP6)
        );
        thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "Fast: kill -> both client entries on the new MAC {:?}",
        stopped.elapsed()
    );
    for (_, t) in nodes {
        t.stop(Cmd::Shutdown);
    }
}
