//! Membership on a virtual clock: detection bounds, loss, leave, fencing in
//! partitions, and what a host without the key or a replay can do.

mod membership_sim;

use std::time::Duration;

use l2::membership::wire::{Datagram, Key, Kind};
use l2::membership::{Action, DownReason, FenceReason, FenceState, Fencing, Rejection, Timing};
use membership_sim::{addr, name, Sim};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn is_down(node: usize, who: usize) -> impl Fn(usize, &Action) -> bool {
    move |i, a| i == node && matches!(a, Action::Down { node: n, .. } if *n == name(who))
}

#[test]
fn members_come_up_fenced_and_clear_fencing_within_0_6_s() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 7);
    // The last node starts within one interval, and counts its peers
    // fence_hold (400 ms) after their first proof.
    sim.run_for(ms(600));
    // At start a node sees only itself: fenced, it answers nothing.
    for i in 0..3 {
        let first = sim.log.iter().find(|(_, n, _)| *n == i);
        assert!(
            matches!(first, Some((_, _, Action::Fence(FenceState::Fenced(_))))),
            "node {i}: {first:?}"
        );
    }
    for i in 0..3 {
        assert_eq!(sim.nodes[i].m.alive().len(), 3, "node {i}");
        assert!(
            sim.nodes[i].m.may_answer(),
            "node {i}: {:?}",
            sim.nodes[i].m.fence()
        );
    }
    for v in sim.vips.clone() {
        assert_eq!(sim.answering(v), vec![sim.winner_of(v)]);
    }
}

/// Kills the winner of 192.0.2.1 at a few phases of the ping interval and
/// returns the worst time until another node answers it.
fn worst_failover(timing: Timing) -> Duration {
    let mut worst = Duration::ZERO;
    for phase in (0..timing.interval.as_millis() as u64).step_by(7) {
        let mut sim = Sim::new(3, timing, Fencing::Majority, 11 + phase);
        sim.run_for(ms(1000 + phase));
        let vip = sim.vips[0];
        let old = sim.winner_of(vip);
        let killed_at = sim.elapsed();
        sim.kill(old);
        let mut took = None;
        for _ in 0..2000 {
            sim.step();
            let who = sim.answering(vip);
            assert!(!who.contains(&old));
            if who.len() == 1 {
                took = Some(sim.elapsed() - killed_at);
                break;
            }
        }
        let took = took.expect("someone takes over");
        eprintln!("failover {timing:?} phase {phase} ms: {took:?}");
        // No detection earlier than the tolerance for lost pings allows.
        assert!(
            took >= timing.dead_after - timing.interval - ms(2),
            "phase {phase}: {took:?}"
        );
        worst = worst.max(took);
    }
    worst
}

#[test]
fn killed_announcer_is_replaced_within_dead_after_in_the_default_profile() {
    let worst = worst_failover(Timing::DEFAULT);
    assert!(
        worst <= Timing::DEFAULT.dead_after + ms(2),
        "worst failover {worst:?}"
    );
}

#[test]
fn killed_announcer_is_replaced_within_dead_after_in_the_fast_profile() {
    let worst = worst_failover(Timing::FAST);
    assert!(
        worst <= Timing::FAST.dead_after + ms(2),
        "worst failover {worst:?}"
    );
}

#[test]
fn five_percent_loss_causes_no_false_down_or_fence_in_ten_seconds() {
    for timing in [Timing::DEFAULT, Timing::FAST] {
        let mut sim = Sim::new(5, timing, Fencing::Majority, 99);
        sim.run_for(ms(1000));
        let settled = sim.elapsed();
        sim.loss_permille = 50;
        sim.run_checked(Duration::from_secs(10));
        let bad = sim.log.iter().find(|(t, _, a)| {
            *t >= settled
                && matches!(
                    a,
                    Action::Down { .. } | Action::Fence(FenceState::Fenced(_))
                )
        });
        assert_eq!(bad, None, "{timing:?}");
    }
}

#[test]
fn leaving_member_stops_answering_first_and_peers_drop_it_within_one_latency() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 5);
    sim.run_for(ms(1000));
    let vip = sim.vips[0];
    let old = sim.winner_of(vip);
    let at = sim.elapsed();
    let out = sim.nodes[old]
        .m
        .handle(sim.now, l2::membership::Event::Shutdown);
    assert_eq!(
        out.first(),
        Some(&Action::Fence(FenceState::Fenced(FenceReason::Leaving)))
    );
    sim.carry_out(old, out);
    sim.nodes[old].running = false;
    sim.run_checked(ms(3));
    for i in (0..3).filter(|i| *i != old) {
        let t = sim.first_after(at, |n, a| {
            n == i
                && *a
                    == Action::Down {
                        node: name(old),
                        reason: DownReason::Left,
                    }
        });
        assert_eq!(t, Some(at + ms(1)), "node {i}");
    }
    assert_eq!(
        sim.answering(vip).len(),
        1,
        "handed over without detection delay"
    );
    // Reports from a peer that had not yet heard the leave do not bring it
    // back.
    sim.run_for(ms(600));
    let up = sim.first_after(at, |_, a| *a == Action::Up { node: name(old) });
    assert_eq!(up, None);
}

#[test]
fn partition_never_yields_two_answering_nodes_with_majority_fencing() {
    for (n, minority) in [(3usize, vec![0usize]), (5, vec![0, 1]), (5, vec![3, 4])] {
        let majority: Vec<usize> = (0..n).filter(|i| !minority.contains(i)).collect();
        for phase in (0..100).step_by(17) {
            for timing in [Timing::DEFAULT, Timing::FAST] {
                let mut sim = Sim::new(n, timing, Fencing::Majority, 3 + phase);
                sim.run_checked(ms(1000 + phase));
                sim.partition(&minority, &majority);
                sim.run_checked(ms(1000));
                // The majority answers every VIP again; the minority none.
                for v in sim.vips.clone() {
                    let who = sim.answering(v);
                    assert_eq!(who.len(), 1, "VIP {v} after the partition");
                    assert!(majority.contains(&who[0]));
                }
                sim.heal();
                sim.run_checked(ms(1000));
                for v in sim.vips.clone() {
                    assert_eq!(
                        sim.answering(v),
                        vec![sim.winner_of(v)],
                        "VIP {v} after healing"
                    );
                }
            }
        }
    }
}

#[test]
fn without_fencing_a_partition_yields_two_answering_nodes() {
    // The counter-check of the test above: the invariant it asserts does
    // break when fencing is off (MetalLB's behaviour).
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Off, 3);
    sim.run_for(ms(1000));
    sim.partition(&[0], &[1, 2]);
    sim.run_for(ms(1000));
    let doubled = sim
        .vips
        .clone()
        .into_iter()
        .filter(|v| sim.answering(*v).len() == 2)
        .count();
    assert!(
        doubled > 0,
        "node-a and the majority both answer what node-a wins"
    );
}

#[test]
fn two_node_cluster_fences_the_survivor_unless_fencing_is_off() {
    for (fencing, answers) in [(Fencing::Majority, false), (Fencing::Off, true)] {
        let mut sim = Sim::new(2, Timing::DEFAULT, fencing, 1);
        sim.run_for(ms(1000));
        assert!(sim.nodes[1].m.may_answer(), "{fencing:?}: both up");
        sim.kill(0);
        sim.run_for(ms(1000));
        assert_eq!(sim.nodes[1].m.may_answer(), answers, "{fencing:?}");
        if !answers {
            let reason = sim.nodes[1].m.fence().unwrap().to_string();
            assert!(
                reason.contains("1 of 2 members reachable, a majority needs 2"),
                "{reason}"
            );
        }
    }
}

#[test]
fn host_without_the_key_can_neither_join_nor_declare_a_member_dead() {
    let mut sim = Sim::new(4, Timing::DEFAULT, Fencing::Majority, 8);
    // node-d runs with the wrong secret: it is configured, but not trusted.
    let mut cfg = membership_sim::config(3, 4, 1000, Timing::DEFAULT, Fencing::Majority);
    cfg.secret = b"guessed".to_vec();
    sim.nodes[3].m = l2::membership::Membership::new(cfg).unwrap();
    let out = sim.nodes[3].m.handle(sim.now, l2::membership::Event::Start);
    sim.carry_out(3, out);
    sim.run_for(ms(1000));
    for i in 0..3 {
        assert!(
            !sim.nodes[i].m.alive().contains(&name(3)),
            "node {i} let node-d in"
        );
    }
    assert!(sim.log.iter().any(|(_, i, a)| *i == 0
        && matches!(a, Action::Rejected(Rejection::Wire { error, .. }) if error.to_string().contains("`hmac`"))));
    // A forged leave "from node-b" signed with a guessed key.
    let forged = Datagram {
        kind: Kind::Leave,
        from: name(1),
        to: name(0),
        epoch: 1000,
        seq: u64::MAX,
        echo_epoch: 1000,
        echo_seq: 1,
        links: vec![],
        seen: vec![],
    }
    .encode(&Key::from_secret(b"guessed"));
    for _ in 0..100 {
        sim.inject(0, addr(1), &forged);
        sim.step();
    }
    assert!(sim.nodes[0].m.alive().contains(&name(1)));
    assert_eq!(sim.first_after(Duration::ZERO, is_down(0, 1)), None);
}

#[test]
fn replayed_datagrams_are_rejected_and_do_not_keep_a_dead_member_alive() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 4);
    sim.run_for(ms(1000));
    sim.tap = Some(Vec::new());
    sim.run_for(ms(1000));
    let recorded: Vec<_> = sim
        .tap
        .take()
        .unwrap()
        .into_iter()
        .filter(|d| d.0 == 1 && d.1 == addr(0))
        .collect();
    assert!(recorded.len() > 10);
    let killed = sim.elapsed();
    sim.kill(0);
    for (_, from, bytes) in &recorded {
        sim.inject(1, *from, bytes);
        sim.step();
    }
    sim.run_for(ms(600));
    let replays = sim
        .log
        .iter()
        .filter(|(t, i, a)| {
            *t >= killed && *i == 1 && matches!(a, Action::Rejected(Rejection::Replay { .. }))
        })
        .count();
    assert_eq!(replays, recorded.len());
    let down = sim
        .first_after(killed, is_down(1, 0))
        .expect("node-a declared dead");
    assert!(
        down - killed <= Timing::DEFAULT.dead_after + ms(2),
        "{:?}",
        down - killed
    );
}

#[test]
fn recording_replayed_to_a_restarted_member_never_brings_back_a_dead_one() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 6);
    sim.run_for(ms(1000));
    sim.tap = Some(Vec::new());
    sim.run_for(ms(1000));
    let recorded: Vec<_> = sim
        .tap
        .take()
        .unwrap()
        .into_iter()
        .filter(|d| d.0 == 1 && d.1 == addr(0))
        .collect();
    sim.kill(0);
    // Until node-c too has seen node-a silent for dead_after, its genuine
    // reports would (rightly) keep node-a alive for node-b.
    sim.run_for(ms(600));
    sim.restart(1, 2000);
    let restarted = sim.elapsed();
    for _ in 0..3 {
        for (_, from, bytes) in &recorded {
            sim.inject(1, *from, bytes);
            sim.step();
        }
    }
    assert!(!sim.nodes[1].m.alive().contains(&name(0)));
    let up = sim.first_after(restarted, |i, a| {
        i == 1 && *a == Action::Up { node: name(0) }
    });
    assert_eq!(up, None);
    assert!(
        sim.nodes[1].m.alive().contains(&name(2)),
        "the live peer is back"
    );
}

#[test]
fn replayed_leave_does_not_drop_a_member_that_came_back() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 9);
    sim.run_for(ms(1000));
    sim.tap = Some(Vec::new());
    sim.shutdown(0);
    sim.run_for(ms(5));
    let key = Key::from_secret(membership_sim::SECRET);
    let leave: Vec<_> = sim
        .tap
        .take()
        .unwrap()
        .into_iter()
        .filter(|d| d.0 == 1 && d.1 == addr(0))
        .filter(|d| Datagram::decode(&d.2, &key).is_ok_and(|d| d.kind == Kind::Leave))
        .collect();
    assert_eq!(leave.len(), 1);
    sim.restart(0, 3000);
    sim.run_for(ms(1000));
    assert!(sim.nodes[1].m.alive().contains(&name(0)));
    let back = sim.elapsed();
    sim.inject(1, leave[0].1, &leave[0].2);
    sim.run_for(ms(10));
    assert!(sim.nodes[1].m.alive().contains(&name(0)));
    assert_eq!(sim.first_after(back, is_down(1, 0)), None);
}

#[test]
fn member_whose_epoch_went_backwards_is_taken_back_once_it_echoes_a_fresh_ping() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 10);
    sim.run_for(ms(1000));
    sim.kill(0);
    sim.run_for(ms(600));
    sim.restart(0, 10);
    let restarted = sim.elapsed();
    sim.run_for(ms(500));
    let up = sim.first_after(restarted, |i, a| {
        i == 1 && *a == Action::Up { node: name(0) }
    });
    assert!(up.is_some_and(|t| t - restarted <= ms(250)), "{up:?}");
}

#[test]
fn datagram_from_a_member_at_the_wrong_address_is_rejected() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 12);
    sim.tap = Some(Vec::new());
    sim.run_for(ms(200));
    let (_, _, bytes) = sim
        .tap
        .take()
        .unwrap()
        .into_iter()
        .find(|d| d.0 == 1 && d.1 == addr(0))
        .unwrap();
    sim.inject(1, addr(2), &bytes);
    let last = sim.log.last().unwrap();
    assert!(
        matches!(&last.2, Action::Rejected(r @ Rejection::WrongSource { .. }) if r.to_string().contains("198.51.100.3"))
    );
}

#[test]
fn links_down_reaches_every_peer_within_one_latency() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 13);
    sim.run_for(ms(1000));
    let at = sim.elapsed();
    let links = vec!["eth3".to_string()];
    let out = sim.nodes[0]
        .m
        .handle(sim.now, l2::membership::Event::LinksDown(&links));
    sim.carry_out(0, out);
    sim.run_for(ms(1));
    for i in 1..3 {
        assert_eq!(sim.nodes[i].m.links_down_of(&name(0)), ["eth3".to_string()]);
        assert_eq!(
            sim.first_after(at, |n, a| n == i
                && *a == Action::LinksChanged { node: name(0) }),
            Some(at + ms(1))
        );
    }
}

/// The winner of `vip` in node `i`'s own view, with link health for `iface`.
fn winner_in_view_of(sim: &Sim, i: usize, vip: std::net::IpAddr, iface: &str) -> Option<String> {
    use l2::election::{elect, ElectionInputs};
    let m = &sim.nodes[i].m;
    let live = m.alive();
    let down = m.without_carrier_on(iface);
    let all: Vec<String> = (0..sim.nodes.len()).map(name).collect();
    let inputs = ElectionInputs {
        live: Some(&live),
        link_down: Some(&down),
        ..Default::default()
    };
    elect(vip, all.iter().map(String::as_str), inputs)
        .winner()
        .map(str::to_owned)
}

#[test]
fn announcer_whose_link_loses_carrier_leaves_the_candidates_at_once_and_peers_follow_within_one_latency(
) {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 14);
    sim.run_for(ms(1000));
    let vip = sim.vips[0];
    let old = sim.winner_of(vip);
    assert_eq!(winner_in_view_of(&sim, old, vip, "eth3"), Some(name(old)));
    let links = vec!["eth3".to_string()];
    let out = sim.nodes[old]
        .m
        .handle(sim.now, l2::membership::Event::LinksDown(&links));
    // Its own view changes within the same handle() call.
    let own = winner_in_view_of(&sim, old, vip, "eth3");
    assert!(own.is_some() && own != Some(name(old)), "{own:?}");
    // Another interface is not affected.
    assert_eq!(winner_in_view_of(&sim, old, vip, "eth4"), Some(name(old)));
    sim.carry_out(old, out);
    sim.run_for(ms(1));
    for i in 0..3 {
        assert_eq!(winner_in_view_of(&sim, i, vip, "eth3"), own, "node {i}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        #[test]
        fn any_sequence_of_clean_partitions_and_heals_never_yields_two_answering_nodes(
            seed in any::<u64>(),
            fast in any::<bool>(),
            steps in proptest::collection::vec((any::<u8>(), 50u64..1500), 1..5),
        ) {
            let timing = if fast { Timing::FAST } else { Timing::DEFAULT };
            let mut sim = Sim::new(5, timing, Fencing::Majority, seed);
            sim.run_checked(ms(800));
            for (mask, dur) in steps {
                // Bit i set: node i on side one; 0 or all: healed.
                let one: Vec<usize> = (0..5).filter(|i| mask & (1 << i) != 0).collect();
                let two: Vec<usize> = (0..5).filter(|i| mask & (1 << i) == 0).collect();
                sim.heal();
                sim.partition(&one, &two);
                sim.run_checked(ms(dur));
            }
        }
    }
}

#[test]
fn traffic_per_node_is_two_datagrams_per_peer_per_interval_of_at_most_128_octets() {
    for (n, timing) in [
        (3usize, Timing::DEFAULT),
        (5, Timing::DEFAULT),
        (5, Timing::FAST),
    ] {
        let mut sim = Sim::new(n, timing, Fencing::Majority, 21);
        sim.run_for(ms(1000));
        let before = sim.sent.clone();
        sim.run_for(Duration::from_secs(10));
        let intervals = (Duration::from_secs(10).as_millis() / timing.interval.as_millis()) as u64;
        for (i, (now, then)) in sim.sent.iter().zip(&before).enumerate() {
            let count = now.0 - then.0;
            let octets = now.1 - then.1;
            let want = 2 * (n as u64 - 1) * intervals;
            assert!(
                count.abs_diff(want) <= 2 * n as u64,
                "node {i}: {count} datagrams, expected {want}"
            );
            assert!(
                octets <= count * 128,
                "node {i}: {octets} octets in {count} datagrams"
            );
            eprintln!(
                "n={n} {:?}: node {i} sent {} datagrams/s, {} octets/s",
                timing.interval,
                count / 10,
                octets / 10
            );
        }
    }
}
