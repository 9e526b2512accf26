//! The session state machine, one RFC 4271 §8 transition per test, plus a
//! property test that no sequence of events panics or breaks an invariant.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_proto::capability::Capability;
use bgp_proto::fsm::*;
use bgp_proto::*;
use proptest::prelude::*;

#[path = "fsm/bfd.rs"]
mod bfd;
#[path = "fsm/details.rs"]
mod details;
#[path = "fsm/graceful.rs"]
mod graceful;

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const REMOTE_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn config() -> SessionConfig {
    let mut c = SessionConfig::new(64512, RemoteAs::Fixed(64513), LOCAL_ID);
    c.jitter_seed = 42;
    c
}

fn peer_open(asn: u32, hold: u16, id: Ipv4Addr) -> Open {
    Open::new(
        asn,
        hold,
        id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    )
}

fn sends(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(_, m) => Some(m),
            _ => None,
        })
        .collect()
}

fn sent_notification(actions: &[Action]) -> Option<(u8, u8)> {
    sends(actions).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some((n.code.code(), n.code.subcode())),
        _ => None,
    })
}

fn armed(actions: &[Action], t: Timer) -> Option<Duration> {
    actions.iter().find_map(|a| match a {
        Action::ArmTimer(x, d) if *x == t => Some(*d),
        _ => None,
    })
}

/// Drives a fresh peer to Established on connection 1 (outgoing).
fn established(cfg: SessionConfig, t0: Instant) -> SessionFsm {
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    assert!(a.iter().any(|a| matches!(a, Action::Established { .. })));
    assert_eq!(p.state(), SessionState::Established);
    p
}

#[test]
fn start_dials_the_peer_and_enters_connect() {
    let mut p = SessionFsm::new(config());
    let a = p.handle(Instant::now(), FsmEvent::Start);
    assert!(a.contains(&Action::Connect));
    assert_eq!(p.state(), SessionState::Connect);
}

#[test]
fn a_passive_peer_waits_in_active_without_dialling() {
    let mut cfg = config();
    cfg.passive = true;
    let mut p = SessionFsm::new(cfg);
    let a = p.handle(Instant::now(), FsmEvent::Start);
    assert!(!a.contains(&Action::Connect));
    assert_eq!(p.state(), SessionState::Active);
}

#[test]
fn a_failed_dial_goes_active_and_retries_within_about_a_second() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    let a = p.handle(t0, FsmEvent::ConnectFailed);
    assert_eq!(p.state(), SessionState::Active);
    let d = armed(&a, Timer::ConnectRetry).expect("retry armed");
    assert!(
        d >= Duration::from_millis(750) && d <= Duration::from_secs(1),
        "{d:?}"
    );
    let a = p.handle(t0 + d, FsmEvent::TimerExpired(Timer::ConnectRetry));
    assert!(a.contains(&Action::Connect));
    assert_eq!(p.state(), SessionState::Connect);
}

#[test]
fn the_retry_backoff_doubles_with_jitter_and_stops_at_the_connect_time() {
    let mut cfg = config();
    cfg.connect_retry_max = Duration::from_secs(10);
    let mut p = SessionFsm::new(cfg);
    let delays: Vec<Duration> = (0..8).map(|_| p.backoff()).collect();
    let nominal = [1, 2, 4, 8, 10, 10, 10, 10];
    for (d, n) in delays.iter().zip(nominal) {
        let n = Duration::from_secs(n);
        assert!(*d >= n.mul_f64(0.75) && *d <= n, "{d:?} vs {n:?}");
    }
}

#[test]
fn a_connection_sends_open_and_waits_with_the_four_minute_hold_time() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    let a = p.handle(t0, FsmEvent::Connected(ConnId(1)));
    assert!(matches!(sends(&a)[..], [Message::Open(o)] if o.asn() == 64512 && o.hold_time == 90));
    assert_eq!(
        armed(&a, Timer::Hold(ConnId(1))),
        Some(Duration::from_secs(240))
    );
    assert_eq!(p.state(), SessionState::OpenSent);
}

#[test]
fn the_open_exchange_reaches_established_with_negotiated_timers() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 30, REMOTE_ID))),
    );
    assert_eq!(p.state(), SessionState::OpenConfirm);
    assert!(sends(&a).contains(&&Message::Keepalive));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::SetCodec(ConnId(1), s) if s.four_octet_as)));
    // Hold is the smaller of 90 and 30; keepalive a third of it.
    assert_eq!(
        armed(&a, Timer::Hold(ConnId(1))),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        armed(&a, Timer::Keepalive(ConnId(1))),
        Some(Duration::from_secs(10))
    );
    let a = p.handle(t0, FsmEvent::Received(ConnId(1), Message::Keepalive));
    let Some(Action::Established { negotiated, .. }) =
        a.iter().find(|a| matches!(a, Action::Established { .. }))
    else {
        panic!("{a:?}")
    };
    assert_eq!(
        negotiated.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!((negotiated.hold_time, negotiated.keepalive), (30, 10));
    assert!(negotiated.route_refresh);
    assert!(a.contains(&Action::StateChanged {
        from: SessionState::OpenConfirm,
        to: SessionState::Established
    }));
}

#[test]
fn a_configured_keepalive_interval_is_honoured() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.keepalive = Some(5);
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    assert_eq!(
        armed(&a, Timer::Keepalive(ConnId(1))),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn a_zero_hold_time_means_no_keepalives_and_no_hold_timer() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 0, REMOTE_ID))),
    );
    assert_eq!(armed(&a, Timer::Keepalive(ConnId(1))), None);
    assert!(a.contains(&Action::CancelTimer(Timer::Hold(ConnId(1)))));
}

#[test]
fn the_wrong_peer_as_is_refused_with_bad_peer_as() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(65000, 90, REMOTE_ID))),
    );
    assert_eq!(sent_notification(&a), Some((2, 2)));
    assert!(a.contains(&Action::Close(ConnId(1))));
    assert!(armed(&a, Timer::ConnectRetry).is_some(), "retries later");
}

#[test]
fn dynamic_asn_accepts_the_right_class_of_peer() {
    for (remote, peer_as, ok) in [
        (RemoteAs::Internal, 64512, true),
        (RemoteAs::Internal, 64513, false),
        (RemoteAs::External, 64513, true),
        (RemoteAs::External, 64512, false),
    ] {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.remote_as = remote;
        let mut p = SessionFsm::new(cfg);
        p.handle(t0, FsmEvent::Start);
        p.handle(t0, FsmEvent::Connected(ConnId(1)));
        let a = p.handle(
            t0,
            FsmEvent::Received(ConnId(1), Message::Open(peer_open(peer_as, 90, REMOTE_ID))),
        );
        assert_eq!(sent_notification(&a).is_none(), ok, "{remote:?} {peer_as}");
    }
}

#[test]
fn an_unacceptable_hold_time_is_refused() {
    let t0 = Instant::now();
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 2, REMOTE_ID))),
    );
    assert_eq!(sent_notification(&a), Some((2, 6)));
}

#[test]
fn an_ibgp_peer_with_our_own_router_id_is_refused() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.remote_as = RemoteAs::Fixed(64512);
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64512, 90, LOCAL_ID))),
    );
    assert_eq!(sent_notification(&a), Some((2, 3)));
}

#[test]
fn unexpected_messages_get_the_rfc6608_subcode_of_the_state() {
    let t0 = Instant::now();
    // OpenSent: an UPDATE before the OPEN.
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Update(Update::default())),
    );
    assert_eq!(sent_notification(&a), Some((5, 1)));
    // OpenConfirm: an UPDATE before the KEEPALIVE.
    let mut p = SessionFsm::new(config());
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Update(Update::default())),
    );
    assert_eq!(sent_notification(&a), Some((5, 2)));
    // Established: a second OPEN.
    let mut p = established(config(), t0);
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, REMOTE_ID))),
    );
    assert_eq!(sent_notification(&a), Some((5, 3)));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Down(DownReason::Sent(_)))));
}

#[test]
fn the_hold_timer_rearms_for_the_remainder_when_messages_kept_arriving() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    p.handle(
        t0 + Duration::from_secs(60),
        FsmEvent::Received(ConnId(1), Message::Keepalive),
    );
    let a = p.handle(
        t0 + Duration::from_secs(90),
        FsmEvent::TimerExpired(Timer::Hold(ConnId(1))),
    );
    assert_eq!(
        armed(&a, Timer::Hold(ConnId(1))),
        Some(Duration::from_secs(60))
    );
    assert_eq!(p.state(), SessionState::Established);
}

#[test]
fn a_silent_peer_is_dropped_when_the_hold_timer_expires() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(
        t0 + Duration::from_secs(90),
        FsmEvent::TimerExpired(Timer::Hold(ConnId(1))),
    );
    assert_eq!(sent_notification(&a), Some((4, 0)));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Down(DownReason::Sent(_)))));
    assert!(armed(&a, Timer::ConnectRetry).is_some());
    assert_eq!(p.state(), SessionState::Idle);
}

#[test]
fn keepalives_are_sent_each_interval_once_open() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(
        t0 + Duration::from_secs(30),
        FsmEvent::TimerExpired(Timer::Keepalive(ConnId(1))),
    );
    assert_eq!(sends(&a), vec![&Message::Keepalive]);
    assert_eq!(
        armed(&a, Timer::Keepalive(ConnId(1))),
        Some(Duration::from_secs(30))
    );
}

#[test]
fn a_route_refresh_request_asks_the_driver_to_resend_routes() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(
        t0,
        FsmEvent::Received(
            ConnId(1),
            Message::RouteRefresh(RouteRefresh::request(Family::IPV6_UNICAST)),
        ),
    );
    assert_eq!(
        a,
        vec![Action::ResendRoutes {
            family: Family::IPV6_UNICAST,
            enhanced: false
        }]
    );
    // A family that was not negotiated is ignored.
    let a = p.handle(
        t0,
        FsmEvent::Received(
            ConnId(1),
            Message::RouteRefresh(RouteRefresh::request(Family::new(25, 70))),
        ),
    );
    assert!(a.is_empty());
}

#[test]
fn updates_on_an_established_session_are_reported_not_installed() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Update(Update::default())),
    );
    assert!(matches!(a[..], [Action::UpdateReceived(_)]));
}

#[test]
fn a_notification_from_the_peer_brings_the_session_down_and_retries() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::admin_reset("bye");
    let a = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Notification(n.clone())),
    );
    assert!(a.contains(&Action::Down(DownReason::Received(n))));
    assert!(
        sends(&a).is_empty(),
        "no NOTIFICATION answers a NOTIFICATION"
    );
    assert!(armed(&a, Timer::ConnectRetry).is_some());
}

#[test]
fn a_closed_connection_brings_the_session_down_and_retries() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::Closed(ConnId(1)));
    assert!(a.contains(&Action::Down(DownReason::ConnectionClosed)));
    assert!(armed(&a, Timer::ConnectRetry).is_some());
}

#[test]
fn stop_sends_administrative_shutdown_with_the_reason() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(
        t0,
        FsmEvent::Stop {
            reason: "node drained".into(),
        },
    );
    let n = sends(&a).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(n.unwrap().shutdown_communication(), Some("node drained"));
    assert!(a.contains(&Action::Down(DownReason::Stopped)));
    assert_eq!(p.state(), SessionState::Idle);
    // No retry after an administrative stop.
    assert!(armed(&a, Timer::ConnectRetry).is_none());
}

/// Both sides dial at once: connection 1 is ours, 2 is theirs.
fn collision(local: Ipv4Addr, remote: Ipv4Addr) -> (Vec<Action>, Vec<Action>, SessionFsm) {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.router_id = local;
    let mut p = SessionFsm::new(cfg);
    p.handle(t0, FsmEvent::Start);
    p.handle(t0, FsmEvent::Connected(ConnId(1)));
    p.handle(t0, FsmEvent::Accepted(ConnId(2)));
    let a1 = p.handle(
        t0,
        FsmEvent::Received(ConnId(1), Message::Open(peer_open(64513, 90, remote))),
    );
    let a2 = p.handle(
        t0,
        FsmEvent::Received(ConnId(2), Message::Open(peer_open(64513, 90, remote))),
    );
    (a1, a2, p)
}

// RFC 4271 §6.8: only connections whose OPEN has arrived take part, so the
// collision is resolved when the second OPEN arrives, not the first.

#[test]
fn on_collision_the_higher_local_identifier_keeps_its_own_connection() {
    let (a1, a2, mut p) = collision(Ipv4Addr::new(192, 0, 2, 9), Ipv4Addr::new(192, 0, 2, 2));
    assert!(!a1.contains(&Action::Close(ConnId(2))), "{a1:?}");
    // The incoming connection loses with Cease / Connection Collision.
    assert!(a2.contains(&Action::Close(ConnId(2))));
    assert_eq!(sent_notification(&a2), Some((6, 7)));
    let a = p.handle(
        Instant::now(),
        FsmEvent::Received(ConnId(1), Message::Keepalive),
    );
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Established {
            conn: ConnId(1),
            ..
        }
    )));
}

#[test]
fn on_collision_the_lower_local_identifier_yields_to_the_peers_connection() {
    let (a1, a2, mut p) = collision(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(sent_notification(&a1), None);
    // Our outgoing connection loses.
    assert!(a2.contains(&Action::Close(ConnId(1))));
    assert_eq!(sent_notification(&a2), Some((6, 7)));
    let a = p.handle(
        Instant::now(),
        FsmEvent::Received(ConnId(2), Message::Keepalive),
    );
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Established {
            conn: ConnId(2),
            ..
        }
    )));
}

#[test]
fn a_connection_accepted_while_established_is_rejected() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::Accepted(ConnId(7)));
    assert_eq!(sent_notification(&a), Some((6, 5)));
    assert!(a.contains(&Action::Close(ConnId(7))));
    assert_eq!(p.state(), SessionState::Established);
}

#[test]
fn a_peer_that_stops_reading_trips_the_send_hold_timer() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let a = p.handle(t0, FsmEvent::SendBlocked(ConnId(1)));
    // RFC 9687: max(8 minutes, 2 x 90 s).
    assert_eq!(
        armed(&a, Timer::SendHold(ConnId(1))),
        Some(Duration::from_secs(480))
    );
    let a = p.handle(t0, FsmEvent::SendProgress(ConnId(1)));
    assert!(a.contains(&Action::CancelTimer(Timer::SendHold(ConnId(1)))));
    p.handle(t0, FsmEvent::SendBlocked(ConnId(1)));
    let a = p.handle(
        t0 + Duration::from_secs(480),
        FsmEvent::TimerExpired(Timer::SendHold(ConnId(1))),
    );
    assert_eq!(sent_notification(&a), Some((8, 0)));
}

#[test]
fn a_decode_error_sends_its_notification_and_closes() {
    let t0 = Instant::now();
    let mut p = established(config(), t0);
    let n = Notification::update(
        bgp_proto::notification::UpdateSubcode::MalformedAttributeList,
        bytes::Bytes::new(),
    );
    let a = p.handle(t0, FsmEvent::DecodeError(ConnId(1), n));
    assert_eq!(sent_notification(&a), Some((3, 1)));
    assert!(a.contains(&Action::Close(ConnId(1))));
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Keepalive),
        Just(Message::Update(Update::default())),
        (60000u32..=65535, 0u16..200, any::<u32>())
            .prop_map(|(a, h, id)| Message::Open(peer_open(a, h, Ipv4Addr::from(id)))),
        Just(Message::Open(peer_open(64513, 90, REMOTE_ID))),
        any::<bool>().prop_map(|n| {
            let mut o = peer_open(64513, 90, REMOTE_ID);
            o.params
                .push(bgp_proto::open::OptionalParameter::Capabilities(vec![
                    Capability::GracefulRestart(bgp_proto::capability::GracefulRestart {
                        restarting: false,
                        notification: n,
                        other_flags: 0,
                        restart_time: 120,
                        families: vec![],
                    }),
                ]));
            Message::Open(o)
        }),
        Just(Message::Notification(Notification::cease(
            bgp_proto::notification::CeaseSubcode::AdministrativeReset
        ))),
        Just(Message::RouteRefresh(RouteRefresh::request(
            Family::IPV4_UNICAST
        ))),
    ]
}

fn arb_event() -> impl Strategy<Value = FsmEvent> {
    let conn = (1u64..4).prop_map(ConnId);
    let timer = prop_oneof![
        Just(Timer::ConnectRetry),
        conn.clone().prop_map(Timer::Hold),
        conn.clone().prop_map(Timer::Keepalive),
        conn.clone().prop_map(Timer::SendHold),
    ];
    prop_oneof![
        Just(FsmEvent::Start),
        Just(FsmEvent::Stop { reason: "x".into() }),
        Just(FsmEvent::StopForRestart { reason: "x".into() }),
        timer.prop_map(FsmEvent::TimerExpired),
        conn.clone().prop_map(FsmEvent::Connected),
        Just(FsmEvent::ConnectFailed),
        conn.clone().prop_map(FsmEvent::Accepted),
        conn.clone().prop_map(FsmEvent::Closed),
        (conn.clone(), arb_message()).prop_map(|(c, m)| FsmEvent::Received(c, m)),
        conn.clone()
            .prop_map(|c| FsmEvent::DecodeError(c, Notification::hold_timer_expired())),
        conn.clone().prop_map(FsmEvent::SendBlocked),
        conn.prop_map(FsmEvent::SendProgress),
        Just(FsmEvent::BfdDown),
        Just(FsmEvent::BfdUp),
    ]
}

proptest! {
    #[test]
    fn no_event_sequence_panics_or_breaks_the_invariants(
        events in proptest::collection::vec((arb_event(), 0u64..200), 1..60),
        passive in any::<bool>(),
        gr in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.passive = passive;
        cfg.graceful_restart = gr.then(GracefulRestartConfig::default);
        let mut p = SessionFsm::new(cfg);
        p.set_restarting(gr);
        let mut now = Instant::now();
        let mut established_conns = 0usize;
        for (e, dt) in events {
            now += Duration::from_secs(dt);
            let actions = p.handle(now, e);
            for a in &actions {
                match a {
                    Action::Established { .. } => established_conns += 1,
                    Action::Down(_) => established_conns = established_conns.saturating_sub(1),
                    Action::ArmTimer(_, d) => prop_assert!(*d <= Duration::from_secs(600)),
                    _ => {}
                }
            }
            // At most one established session, and the state agrees.
            prop_assert!(established_conns <= 1);
            prop_assert_eq!(p.established().is_some(), p.state() == SessionState::Established);
            if passive {
                prop_assert!(!actions.contains(&Action::Connect));
            }
        }
    }
}
