//! A member list replaced while the cores run (`Event::Members`, fed by
//! the speaker Pods in Kubernetes mode): joins and leaves without a
//! restart, kept peers keep their proofs, bad lists are refused.

mod membership_sim;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use l2::membership::{Action, DownReason, Event, FenceState, Fencing, Member, Rejection, Timing};
use membership_sim::{members, name, Sim};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Hands node `i` the list `list` and carries out what it returns.
fn set(sim: &mut Sim, i: usize, list: &[Member]) -> Vec<Action> {
    let now = sim.now;
    let out = sim.nodes[i].m.handle(now, Event::Members(list));
    sim.carry_out(i, out.clone());
    out
}

#[test]
fn a_removed_member_goes_down_and_its_datagrams_are_refused() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Off, 3);
    sim.run_for(ms(800));
    assert_eq!(sim.nodes[0].m.alive().len(), 3);
    let two = members(2);
    let out0 = set(&mut sim, 0, &two);
    set(&mut sim, 1, &two);
    assert!(
        out0.iter().any(
            |a| matches!(a, Action::Down { node, reason: DownReason::Removed } if *node == name(2))
        ),
        "{out0:?}"
    );
    sim.log.clear();
    sim.run_for(ms(500));
    let alive: Vec<String> = sim.nodes[0].m.alive().into_iter().collect();
    assert_eq!(alive, vec![name(0), name(1)]);
    // Node c still pings: refused as not a member, never brought back up.
    assert!(sim.log.iter().any(|(_, n, a)| *n == 0
        && matches!(a, Action::Rejected(Rejection::UnknownMember { name: who, .. }) if *who == name(2))));
    assert!(!sim
        .log
        .iter()
        .any(|(_, n, a)| *n == 0 && matches!(a, Action::Up { node } if *node == name(2))));
    assert!(matches!(
        sim.nodes[0].m.fence(),
        Some(FenceState::Clear { configured: 2, .. })
    ));
}

#[test]
fn an_added_member_comes_up_without_the_others_going_down() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Majority, 5);
    let two = members(2);
    // a and b start with a list of two; c knows all three.
    set(&mut sim, 0, &two);
    set(&mut sim, 1, &two);
    sim.run_for(ms(800));
    assert_eq!(sim.nodes[0].m.alive().len(), 2);
    sim.log.clear();
    let three = members(3);
    set(&mut sim, 0, &three);
    set(&mut sim, 1, &three);
    sim.run_for(ms(800));
    for i in 0..3 {
        assert_eq!(sim.nodes[i].m.alive().len(), 3, "node {i}");
        assert!(
            sim.nodes[i].m.may_answer(),
            "node {i}: {:?}",
            sim.nodes[i].m.fence()
        );
    }
    // The kept peer never went down, and nobody fenced on the way.
    assert!(
        !sim.log.iter().any(|(_, n, a)| *n < 2
            && matches!(
                a,
                Action::Down { .. } | Action::Fence(FenceState::Fenced(_))
            )),
        "{:?}",
        sim.log
    );
    assert!(sim
        .log
        .iter()
        .any(|(_, n, a)| *n == 0 && matches!(a, Action::Up { node } if *node == name(2))));
}

#[test]
fn a_member_whose_address_changed_must_prove_itself_again() {
    let mut sim = Sim::new(2, Timing::DEFAULT, Fencing::Off, 9);
    sim.run_for(ms(800));
    assert_eq!(sim.nodes[0].m.alive().len(), 2);
    let mut moved = members(2);
    moved[1].addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99));
    let out = set(&mut sim, 0, &moved);
    assert!(
        out.iter().any(
            |a| matches!(a, Action::Down { node, reason: DownReason::Removed } if *node == name(1))
        ),
        "{out:?}"
    );
    sim.log.clear();
    sim.run_for(ms(300));
    // b still sends from its old address: refused, and b stays down.
    assert!(sim.log.iter().any(|(_, n, a)| *n == 0
        && matches!(a, Action::Rejected(Rejection::WrongSource { member, .. }) if *member == name(1))));
    assert_eq!(sim.nodes[0].m.alive().len(), 1);
}

#[test]
fn a_list_without_this_node_is_refused_and_the_old_one_kept() {
    let mut sim = Sim::new(3, Timing::DEFAULT, Fencing::Off, 13);
    sim.run_for(ms(800));
    let others: Vec<Member> = members(3).into_iter().skip(1).collect();
    let out = set(&mut sim, 0, &others);
    assert!(
        matches!(&out[..], [Action::MembersRejected(e)] if e.field == "me"),
        "{out:?}"
    );
    let mut twice = members(3);
    twice[2].addr = twice[1].addr;
    let out = set(&mut sim, 0, &twice);
    assert!(
        matches!(&out[..], [Action::MembersRejected(e)] if e.field == "members[2].addr"),
        "{out:?}"
    );
    sim.run_for(ms(300));
    assert_eq!(sim.nodes[0].m.alive().len(), 3);
}
