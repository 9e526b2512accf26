//! Graceful restart as the restarting speaker (RFC 4724, RFC 8538): the
//! capability in our OPEN and the NOTIFICATION each kind of stop sends
//! (part of the `fsm` test binary; helpers from there).

use super::{config, sends, sent_notification, REMOTE_ID};
use bgp_proto::capability::{Capability, GracefulRestart, GracefulRestartFamily};
use bgp_proto::fsm::*;
use bgp_proto::*;
use std::time::Instant;

fn gr_config() -> SessionConfig {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig::default());
    c
}

/// The peer's OPEN with a graceful restart capability (helper only, no
/// restart of its own), with or without the N bit; `None`: no capability.
fn helper_open(n_bit: Option<bool>) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::FourOctetAs(64513),
    ];
    if let Some(n) = n_bit {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restarting: false,
            notification: n,
            other_flags: 0,
            restart_time: 120,
            families: vec![],
        }));
    }
    Open::new(64513, 90, REMOTE_ID, caps)
}

fn up(cfg: SessionConfig, peer: Open, restarting: bool) -> (SessionFsm, Vec<Action>) {
    let t = Instant::now();
    let mut p = SessionFsm::new(cfg);
    p.set_restarting(restarting);
    p.handle(t, FsmEvent::Start);
    let first = p.handle(t, FsmEvent::Connected(ConnId(1)));
    p.handle(t, FsmEvent::Received(ConnId(1), Message::Open(peer)));
    let a = p.handle(t, FsmEvent::Received(ConnId(1), Message::Keepalive));
    assert!(a.iter().any(|a| matches!(a, Action::Established { .. })));
    (p, first)
}

fn our_gr(actions: &[Action]) -> Option<GracefulRestart> {
    sends(actions).into_iter().find_map(|m| match m {
        Message::Open(o) => o.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        }),
        _ => None,
    })
}

fn sent(actions: &[Action]) -> Option<Notification> {
    sends(actions).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n.clone()),
        _ => None,
    })
}

#[test]
fn without_graceful_restart_configured_the_open_carries_no_capability() {
    let (_, first) = up(config(), helper_open(Some(true)), true);
    assert_eq!(our_gr(&first), None);
}

#[test]
fn the_capability_offers_the_restart_time_the_n_bit_and_forwarding_state_per_family() {
    let mut cfg = gr_config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 5,
        forwarding_preserved: true,
    });
    let (_, first) = up(cfg, helper_open(Some(true)), false);
    let gr = our_gr(&first).expect("graceful restart capability in our OPEN");
    assert_eq!(gr.restart_time, 5);
    assert!(gr.notification, "RFC 8538 N bit");
    assert!(!gr.restarting, "no R bit on a fresh start");
    assert_eq!(
        gr.families,
        vec![
            GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
                other_flags: 0
            },
            GracefulRestartFamily {
                family: Family::IPV6_UNICAST,
                forwarding_preserved: true,
                other_flags: 0
            },
        ]
    );
}

#[test]
fn a_restart_time_beyond_twelve_bits_is_sent_as_4095() {
    let mut cfg = gr_config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 9999,
        forwarding_preserved: false,
    });
    let gr = match cfg.open().capabilities().find(|c| c.code() == 64) {
        Some(Capability::GracefulRestart(g)) => g.clone(),
        other => panic!("expected the graceful restart capability, got {other:?}"),
    };
    assert_eq!(gr.restart_time, 4095);
    assert!(gr.families.iter().all(|f| !f.forwarding_preserved));
}

#[test]
fn a_restarting_speaker_sets_the_r_bit_until_its_session_is_established() {
    let (mut p, first) = up(gr_config(), helper_open(Some(true)), true);
    assert!(our_gr(&first).expect("capability").restarting);
    assert!(!p.restarting());
    // The session drops; the next OPEN is an ordinary one.
    let t = Instant::now();
    p.handle(t, FsmEvent::Closed(ConnId(1)));
    p.handle(t, FsmEvent::TimerExpired(Timer::ConnectRetry));
    let again = p.handle(t, FsmEvent::Connected(ConnId(2)));
    assert!(!our_gr(&again).expect("capability").restarting);
}

#[test]
fn stop_with_the_n_bit_on_both_sides_sends_a_hard_reset_around_the_shutdown() {
    let (mut p, _) = up(gr_config(), helper_open(Some(true)), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::Stop {
            reason: "bye".into(),
        },
    );
    let n = sent(&a).expect("a NOTIFICATION");
    assert_eq!((n.code.code(), n.code.subcode()), (6, 9));
    let inner = n.hard_reset_inner().expect("an encapsulated NOTIFICATION");
    assert_eq!((inner.code.code(), inner.code.subcode()), (6, 2));
    assert_eq!(inner.shutdown_communication(), Some("bye"));
}

#[test]
fn stop_without_the_peers_n_bit_sends_a_plain_administrative_shutdown() {
    let (mut p, _) = up(gr_config(), helper_open(Some(false)), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::Stop {
            reason: "bye".into(),
        },
    );
    assert_eq!(sent_notification(&a), Some((6, 2)));
}

#[test]
fn stop_without_graceful_restart_configured_never_sends_a_hard_reset() {
    let (mut p, _) = up(config(), helper_open(Some(true)), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::Stop {
            reason: "bye".into(),
        },
    );
    assert_eq!(sent_notification(&a), Some((6, 2)));
}

#[test]
fn a_stop_for_restart_with_the_n_bit_sends_an_administrative_reset_not_a_hard_reset() {
    let (mut p, _) = up(gr_config(), helper_open(Some(true)), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::StopForRestart {
            reason: "restarting".into(),
        },
    );
    let n = sent(&a).expect("a NOTIFICATION");
    assert_eq!((n.code.code(), n.code.subcode()), (6, 4));
    assert_eq!(n.shutdown_communication(), Some("restarting"));
    assert!(a.contains(&Action::Close(ConnId(1))));
    assert!(a.contains(&Action::Down(DownReason::Stopped)));
    assert_eq!(p.state(), SessionState::Idle);
}

#[test]
fn a_stop_for_restart_without_the_n_bit_closes_tcp_without_a_notification() {
    let (mut p, _) = up(gr_config(), helper_open(Some(false)), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::StopForRestart {
            reason: "restarting".into(),
        },
    );
    assert_eq!(sent(&a), None);
    assert!(a.contains(&Action::Close(ConnId(1))));
}

#[test]
fn a_stop_for_restart_to_a_peer_without_graceful_restart_is_a_plain_shutdown() {
    let (mut p, _) = up(gr_config(), helper_open(None), false);
    let a = p.handle(
        Instant::now(),
        FsmEvent::StopForRestart {
            reason: "restarting".into(),
        },
    );
    assert_eq!(sent_notification(&a), Some((6, 2)));
}

#[test]
fn an_error_notification_with_the_n_bit_is_sent_unwrapped_so_routes_stay_stale() {
    let (mut p, _) = up(gr_config(), helper_open(Some(true)), false);
    // A hold timer expiry is not one of RFC 8538 §5's Hard Reset cases.
    let t = Instant::now() + std::time::Duration::from_secs(91);
    let a = p.handle(t, FsmEvent::TimerExpired(Timer::Hold(ConnId(1))));
    assert_eq!(sent_notification(&a), Some((4, 0)));
}

#[test]
fn a_received_hard_reset_holds_redial_off_as_its_inner_shutdown_does() {
    let inner = Notification::admin_shutdown("maintenance");
    assert_eq!(
        redial::hold_down_after(&Notification::hard_reset(&inner)),
        redial::SHUTDOWN_HOLD_DOWN
    );
    // A Hard Reset holding a Hard Reset asks for nothing more.
    let nested = Notification::hard_reset(&Notification::hard_reset(&inner));
    assert_eq!(redial::hold_down_after(&nested), std::time::Duration::ZERO);
}

#[test]
fn bfd_down_with_the_n_bit_is_sent_inside_a_hard_reset_so_the_helper_flushes_at_once() {
    let (mut p, _) = up(gr_config(), helper_open(Some(true)), false);
    let a = p.handle(Instant::now(), FsmEvent::BfdDown);
    let n = sent(&a).expect("a NOTIFICATION");
    assert_eq!(
        (n.code.code(), n.code.subcode()),
        (6, 9),
        "not a Hard Reset: {n:?}"
    );
    let inner = n.hard_reset_inner().expect("an encapsulated NOTIFICATION");
    assert_eq!((inner.code.code(), inner.code.subcode()), (6, 10));
}

#[test]
fn bfd_down_without_the_n_bit_is_a_plain_cease_bfd_down() {
    let (mut p, _) = up(gr_config(), helper_open(Some(false)), false);
    let a = p.handle(Instant::now(), FsmEvent::BfdDown);
    let n = sent(&a).expect("a NOTIFICATION");
    assert_eq!((n.code.code(), n.code.subcode()), (6, 10));
}
