//! BFD Down / Up (RFC 9384, `fsm/bfd`), part of the `fsm` test binary.

use super::{config, established, sent_notification};
use bgp_proto::fsm::*;
use std::time::{Duration, Instant};

#[test]
fn bfd_down_sends_cease_bfd_down_and_closes_the_session_at_once() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::BfdDown);
    assert_eq!(sent_notification(&a), Some((6, 10)), "{a:?}");
    assert!(a.contains(&Action::Close(ConnId(1))));
    assert!(a.iter().any(|x| matches!(x, Action::Down(_))));
    assert_eq!(p.state(), SessionState::Idle);
    assert!(a.contains(&Action::CancelTimer(Timer::ConnectRetry)));
}

#[test]
fn no_redial_and_no_accept_while_bfd_is_down() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    p.handle(t0, FsmEvent::BfdDown);
    let t = t0 + Duration::from_secs(300);
    let a = p.handle(t, FsmEvent::TimerExpired(Timer::ConnectRetry));
    assert!(!a.contains(&Action::Connect), "{a:?}");
    let a = p.handle(t, FsmEvent::Accepted(ConnId(7)));
    assert!(a.contains(&Action::Close(ConnId(7))), "{a:?}");
    assert_eq!(p.state(), SessionState::Idle);
    assert!(p.bfd_held());
}

#[test]
fn bfd_up_dials_again_at_once() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    p.handle(t0, FsmEvent::BfdDown);
    let a = p.handle(t0 + Duration::from_millis(10), FsmEvent::BfdUp);
    assert!(a.contains(&Action::Connect), "{a:?}");
    assert_eq!(p.state(), SessionState::Connect);
    assert!(!p.bfd_held());
}

#[test]
fn bfd_up_without_an_earlier_down_changes_nothing() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::BfdUp);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(p.state(), SessionState::Established);
}
