//! Redial damping, the states after a lost connection, collision rules and
//! connection floods (part of the `fsm` test binary; helpers from there).

use super::{armed, config, established, peer_open, sent_notification, LOCAL_ID, REMOTE_ID};
use bgp_proto::fsm::*;
use bgp_proto::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn retry_after(a: &[Action]) -> Duration {
    armed(a, Timer::ConnectRetry).expect("ConnectRetry armed")
}

/// Brings an already started, non-established peer up on `conn` at `t`.
/// `n` sessions that each die 1 s after coming up (connections 1, 11, 21,
/// ...), each redialled when the FSM says; returns the time after the last
/// came up again.
fn flap_quickly(p: &mut SessionFsm, mut t: Instant, n: u64) -> Instant {
    for i in 0..n {
        t += Duration::from_secs(1);
        let a = p.handle(t, FsmEvent::Closed(ConnId(1 + 10 * i)));
        t += retry_after(&a);
        bring_up(p, t, ConnId(11 + 10 * i));
    }
    t
}

fn bring_up(p: &mut SessionFsm, t: Instant, conn: ConnId) {
    p.handle(t, FsmEvent::TimerExpired(Timer::ConnectRetry));
    p.handle(t, FsmEvent::Connected(conn));
    p.handle(
        t,
        FsmEvent::Received(conn, Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    p.handle(t, FsmEvent::Received(conn, Message::Keepalive));
    assert_eq!(p.state(), SessionState::Established);
}

#[test]
fn an_administrative_shutdown_from_the_peer_holds_off_the_redial_for_a_minute() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::admin_shutdown("maintenance");
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Notification(n)));
    assert!(retry_after(&a) >= Duration::from_secs(60), "{a:?}");
}

#[test]
fn a_maximum_prefix_cease_holds_off_the_redial_and_a_reset_for_thirty_seconds() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::cease(notification::CeaseSubcode::MaximumPrefixesReached);
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Notification(n)));
    assert!(retry_after(&a) >= Duration::from_secs(60), "{a:?}");

    let mut p = established(config(), t0);
    let n = Notification::admin_reset("clear");
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Notification(n)));
    let d = retry_after(&a);
    assert!(
        d >= Duration::from_secs(30) && d < Duration::from_secs(60),
        "{d:?}"
    );
}

#[test]
fn the_cease_hold_down_never_exceeds_the_configured_connect_time() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.connect_retry_max = Duration::from_secs(2);
    let mut p = established(cfg, t0);
    let n = Notification::admin_shutdown("maintenance");
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Notification(n)));
    assert_eq!(retry_after(&a), Duration::from_secs(2));
}

#[test]
fn a_collision_cease_does_not_hold_off_the_redial() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::cease(notification::CeaseSubcode::ConnectionCollisionResolution);
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Notification(n)));
    assert!(retry_after(&a) <= Duration::from_secs(1), "{a:?}");
}

#[test]
fn a_flapping_session_is_redialled_with_doubling_delays() {
    let mut t = Instant::now();
    let mut p = established(config(), t);
    let mut delays = Vec::new();
    for i in 0..6u64 {
        t += Duration::from_secs(2);
        let a = p.handle(t, FsmEvent::Closed(ConnId(1 + 10 * i)));
        let d = retry_after(&a);
        delays.push(d);
        t += d;
        bring_up(&mut p, t, ConnId(11 + 10 * i));
    }
    // Nominal 1, 2, 4, 8, 16, 32 s (the cap is the 120 s connect time).
    for (d, n) in delays.iter().zip([1, 2, 4, 8, 16, 32]) {
        let n = Duration::from_secs(n);
        assert!(*d >= n.mul_f64(0.75) && *d <= n, "{delays:?}");
    }
}

#[test]
fn a_session_that_stayed_up_a_minute_resets_the_flap_damping() {
    let mut t = Instant::now();
    let mut p = established(config(), t);
    t = flap_quickly(&mut p, t, 4);
    t += Duration::from_secs(61);
    let a = p.handle(t, FsmEvent::Closed(ConnId(41)));
    assert!(retry_after(&a) <= Duration::from_secs(1), "{a:?}");
}

#[test]
fn a_tcp_failure_in_opensent_goes_active_with_the_retry_timer_armed() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    assert_eq!(p.state(), SessionState::OpenSent);
    let a = p.handle(t0, FsmEvent::Closed(ConnId(1)));
    // RFC 4271 §8.2.2, OpenSent, TcpConnectionFails -> Active.
    assert_eq!(p.state(), SessionState::Active);
    assert!(a.contains(&Action::StateChanged {
        from: SessionState::OpenSent,
        to: SessionState::Active
    }));
    retry_after(&a);
}

#[test]
fn an_error_in_opensent_or_a_lost_established_session_goes_idle() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    assert_eq!(sent_notification(&a), Some((5, 1)));
    assert_eq!(p.state(), SessionState::Idle);
    retry_after(&a);

    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::Closed(ConnId(1)));
    assert_eq!(p.state(), SessionState::Idle);
    retry_after(&a);
}

#[test]
fn a_passive_peer_goes_back_to_active_after_any_loss() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.passive = true;
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Accepted(ConnId(1)));
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    assert_eq!(sent_notification(&a), Some((5, 1)));
    assert_eq!(p.state(), SessionState::Active);
    assert!(armed(&a, Timer::ConnectRetry).is_none());
}

#[test]
fn a_connection_whose_open_has_not_arrived_takes_no_part_in_a_collision() {
    let t0 = Instant::now();
    // We have the higher identifier: once both OPENs are in, the incoming
    // connection would lose; but its OPEN never comes.
    let mut cfg = config();
    cfg.router_id = Ipv4Addr::new(192, 0, 2, 9);
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Accepted(ConnId(2)));
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    assert!(!a.contains(&Action::Close(ConnId(2))), "{a:?}");
    assert_eq!(sent_notification(&a), None);
    assert_eq!(p.state(), SessionState::OpenConfirm);
}

/// Equal BGP identifiers on an eBGP session: connection 1 is ours, 2 is
/// theirs; both OPENs arrive.
fn equal_id_collision(local_as: u32) -> Vec<Action> {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(local_as, RemoteAs::Fixed(64513), LOCAL_ID);
    cfg.jitter_seed = 42;
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    p.handle(t0, FsmEvent::Accepted(ConnId(2)));
    let open = || Message::Open(peer_open(64513, 90, LOCAL_ID));
    let mut a = p.handle(t0, FsmEvent::Received(ConnId(1), open()));
    a.extend(p.handle(t0, FsmEvent::Received(ConnId(2), open())));
    a
}

#[test]
fn with_equal_identifiers_the_larger_as_keeps_the_connection_it_initiated() {
    // RFC 6286 §2.3: we are AS 65000 > 64513: our dialled connection stays.
    let a = equal_id_collision(65000);
    assert!(a.contains(&Action::Close(ConnId(2))), "{a:?}");
    assert!(!a.contains(&Action::Close(ConnId(1))), "{a:?}");
    // We are AS 64512 < 64513: the peer's connection stays.
    let a = equal_id_collision(64512);
    assert!(a.contains(&Action::Close(ConnId(1))), "{a:?}");
    assert!(!a.contains(&Action::Close(ConnId(2))), "{a:?}");
}

#[test]
fn a_second_inbound_connection_is_closed_at_once_and_counted() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Accepted(ConnId(1)));
    for id in 2..=1000 {
        let a = p.handle(t0, FsmEvent::Accepted(ConnId(id)));
        assert!(a.contains(&Action::Close(ConnId(id))), "{a:?}");
        assert_eq!(sent_notification(&a), Some((6, 5)));
    }
    assert_eq!(p.rejected_connections(), 999);
    // The first inbound connection is unaffected and comes up.
    p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Established {
            conn: ConnId(1),
            ..
        }
    )));
}

#[test]
fn a_family_listed_twice_in_the_config_is_negotiated_once() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.families = vec![
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::IPV4_UNICAST,
    ];
    let p = established(cfg, t0);
    let (_, n) = p.established().expect("established");
    // One End-of-RIB per entry of this list (AdjRibOut::initial).
    assert_eq!(n.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
}

#[test]
fn without_a_multiprotocol_capability_only_ipv4_unicast_is_negotiated() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let open = Open::new(
        64513,
        90,
        REMOTE_ID,
        vec![capability::Capability::FourOctetAs(64513)],
    );
    p.handle(t0, FsmEvent::Received(ConnId(1), Message::Open(open)));
    p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    let (_, n) = p.established().expect("established");
    assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
}

#[test]
fn dials_failing_after_a_damped_redial_keep_the_longer_backoff() {
    let mut t = Instant::now();
    let mut p = established(config(), t);
    t = flap_quickly(&mut p, t, 3);
    // Fourth flap: redial after 8 s; that dial fails: the next try waits
    // about 16 s, not 1 s.
    t += Duration::from_secs(1);
    let a = p.handle(t, FsmEvent::Closed(ConnId(31)));
    assert!(retry_after(&a) >= Duration::from_secs(8), "{a:?}");
    p.handle(t, FsmEvent::TimerExpired(Timer::ConnectRetry));
    let a = p.handle(t, FsmEvent::ConnectFailed);
    assert!(retry_after(&a) >= Duration::from_secs(12), "{a:?}");
}

#[test]
fn a_restart_forgets_the_flap_damping() {
    let mut t = Instant::now();
    let mut p = established(config(), t);
    t = flap_quickly(&mut p, t, 4);
    p.handle(
        t,
        FsmEvent::Stop {
            reason: "reconfigured".into(),
        },
    );
    p.handle(t, FsmEvent::Start);
    bring_up(&mut p, t, ConnId(100));
    let a = p.handle(t + Duration::from_secs(1), FsmEvent::Closed(ConnId(100)));
    assert!(retry_after(&a) <= Duration::from_secs(1), "{a:?}");
}

#[test]
fn a_maximum_prefix_cease_we_send_holds_off_our_redial_too() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::cease(notification::CeaseSubcode::MaximumPrefixesReached);
    let a = p.handle(t0, FsmEvent::DecodeError(ConnId(1), n));
    assert_eq!(sent_notification(&a), Some((6, 1)));
    assert!(retry_after(&a) >= Duration::from_secs(60), "{a:?}");
}
