//! The session machine, one test per RFC 5880 rule it implements.

use std::time::{Duration, Instant};

use bfd::{Action, BfdConfig, BfdSession, ControlPacket, Diag, Event, State, Timer};

const OURS: u32 = 0x1111;
const THEIRS: u32 = 0x2222;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn peer(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: THEIRS,
        your_discriminator: your,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
    }
}

fn sent(actions: &[Action]) -> Vec<ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn armed(actions: &[Action], t: Timer) -> Option<Instant> {
    actions.iter().rev().find_map(|a| match a {
        Action::ArmTimer(x, at) if *x == t => Some(*at),
        _ => None,
    })
}

/// A session brought Up by the three-way handshake, at `t0`.
fn up(cfg: BfdConfig) -> (BfdSession, Instant) {
    let t0 = Instant::now();
    let mut s = BfdSession::new(cfg, OURS, 42);
    s.handle(t0, Event::Start);
    s.handle(t0, Event::Received(peer(State::Down, 0)));
    assert_eq!(s.state(), State::Init);
    s.handle(t0, Event::Received(peer(State::Init, OURS)));
    assert_eq!(s.state(), State::Up);
    (s, t0)
}

#[test]
fn active_session_sends_at_once_and_then_at_the_slow_rate_while_down() {
    let t0 = Instant::now();
    let mut s = BfdSession::new(BfdConfig::default(), OURS, 1);
    let a = s.handle(t0, Event::Start);
    assert_eq!(armed(&a, Timer::Transmit), Some(t0));
    let a = s.handle(t0, Event::TimerExpired(Timer::Transmit));
    let p = sent(&a)[0];
    assert_eq!((p.state, p.your_discriminator), (State::Down, 0));
    assert_eq!(p.desired_min_tx, 1_000_000, "§6.8.3: 1 s while not Up");
    let next = armed(&a, Timer::Transmit).unwrap() - t0;
    assert!(next >= ms(750) && next <= ms(1000), "{next:?}");
}

#[test]
fn passive_session_sends_nothing_until_the_peer_speaks() {
    let t0 = Instant::now();
    let cfg = BfdConfig {
        passive: true,
        ..BfdConfig::default()
    };
    let mut s = BfdSession::new(cfg, OURS, 1);
    assert_eq!(armed(&s.handle(t0, Event::Start), Timer::Transmit), None);
    assert!(sent(&s.handle(t0, Event::TimerExpired(Timer::Transmit))).is_empty());
    let a = s.handle(t0, Event::Received(peer(State::Down, 0)));
    assert_eq!(s.state(), State::Init);
    assert!(!sent(&a).is_empty(), "a state change is announced at once");
}

#[test]
fn three_way_handshake_reaches_up_and_restores_the_configured_rate_with_a_poll() {
    let (s, _) = up(BfdConfig::default());
    let st = s.status();
    assert_eq!(st.remote_discriminator, THEIRS);
    assert!(st.polling, "§6.8.3: DesiredMinTx fell from 1 s: poll");
    assert_eq!(st.tx_interval, Some(ms(300)));
    assert_eq!(st.detection_time, Some(ms(900)));
    assert_eq!(st.counters.up_events, 1);
}

#[test]
fn down_session_goes_straight_up_on_a_peer_in_init() {
    let t0 = Instant::now();
    let mut s = BfdSession::new(BfdConfig::default(), OURS, 1);
    let a = s.handle(t0, Event::Received(peer(State::Init, OURS)));
    assert_eq!(s.state(), State::Up);
    assert!(a.contains(&Action::StateChanged {
        from: State::Down,
        to: State::Up,
        diag: Diag::None
    }));
}

#[test]
fn down_session_ignores_a_peer_claiming_up() {
    let t0 = Instant::now();
    let mut s = BfdSession::new(BfdConfig::default(), OURS, 1);
    s.handle(t0, Event::Received(peer(State::Up, OURS)));
    assert_eq!(s.state(), State::Down);
}

#[test]
fn up_session_goes_down_with_diag_3_when_the_peer_says_down() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0 + ms(10), Event::Received(peer(State::Down, OURS)));
    assert_eq!(s.state(), State::Down);
    assert!(a.contains(&Action::StateChanged {
        from: State::Up,
        to: State::Down,
        diag: Diag::NeighborSignaledSessionDown
    }));
    assert_eq!(sent(&a)[0].diag, Diag::NeighborSignaledSessionDown);
}

#[test]
fn peer_admin_down_takes_an_up_session_down_with_diag_3() {
    let (mut s, t0) = up(BfdConfig::default());
    s.handle(t0 + ms(10), Event::Received(peer(State::AdminDown, OURS)));
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.status().local_diag, Diag::NeighborSignaledSessionDown);
}

#[test]
fn detection_time_expiry_takes_the_session_down_with_diag_1() {
    let (mut s, t0) = up(BfdConfig::default());
    // Early wake-up: nothing happens, the deadline is kept.
    let a = s.handle(t0 + ms(899), Event::TimerExpired(Timer::Detect));
    assert_eq!(armed(&a, Timer::Detect), Some(t0 + ms(900)));
    assert_eq!(s.state(), State::Up);
    let a = s.handle(t0 + ms(900), Event::TimerExpired(Timer::Detect));
    assert_eq!(s.state(), State::Down);
    assert!(a.contains(&Action::StateChanged {
        from: State::Up,
        to: State::Down,
        diag: Diag::ControlDetectionTimeExpired
    }));
    assert_eq!(s.status().counters.down_events, 1);
    // §6.8.1: the peer's discriminator is forgotten.
    assert_eq!(s.status().remote_discriminator, 0);
}

#[test]
fn every_valid_packet_pushes_the_detection_deadline_out() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0 + ms(600), Event::Received(peer(State::Up, OURS)));
    assert_eq!(armed(&a, Timer::Detect), Some(t0 + ms(1500)));
    s.handle(t0 + ms(900), Event::TimerExpired(Timer::Detect));
    assert_eq!(s.state(), State::Up);
}

#[test]
fn detection_time_uses_the_slower_of_our_rx_and_the_peer_tx() {
    let (mut s, t0) = up(BfdConfig::default());
    let mut p = peer(State::Up, OURS);
    p.desired_min_tx = 500_000;
    p.detect_mult = 4;
    s.handle(t0, Event::Received(p));
    assert_eq!(s.status().detection_time, Some(ms(2000)));
}

#[test]
fn transmit_interval_is_the_slower_of_our_tx_and_the_peer_rx() {
    let (mut s, t0) = up(BfdConfig::default());
    let mut p = peer(State::Up, OURS);
    p.required_min_rx = 700_000;
    p.final_ = true;
    s.handle(t0, Event::Received(p));
    assert_eq!(s.status().tx_interval, Some(ms(700)));
    let a = s.handle(t0 + ms(2000), Event::TimerExpired(Timer::Transmit));
    let gap = armed(&a, Timer::Transmit).unwrap() - (t0 + ms(2000));
    assert!(gap >= ms(525) && gap <= ms(700), "jitter 75-100 %: {gap:?}");
}

#[test]
fn jitter_stays_within_75_to_90_percent_with_multiplier_1() {
    let cfg = BfdConfig {
        detect_mult: 1,
        ..BfdConfig::default()
    };
    let (mut s, t0) = up(cfg);
    let mut now = t0 + ms(2000);
    for _ in 0..200 {
        let a = s.handle(now, Event::TimerExpired(Timer::Transmit));
        let next = armed(&a, Timer::Transmit).unwrap();
        let gap = next - now;
        assert!(gap >= ms(225) && gap <= ms(270), "{gap:?}");
        now = next;
    }
}

#[test]
fn poll_is_answered_with_a_final_at_once() {
    let (mut s, t0) = up(BfdConfig::default());
    let mut p = peer(State::Up, OURS);
    p.poll = true;
    let a = s.handle(t0, Event::Received(p));
    let f = sent(&a);
    assert_eq!(f.len(), 1);
    assert!(f[0].final_ && !f[0].poll, "§6.8.7: never P and F together");
}

#[test]
fn periodic_packets_carry_the_poll_bit_until_the_final_arrives() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0 + ms(1), Event::TimerExpired(Timer::Transmit));
    assert!(sent(&a)[0].poll);
    let mut f = peer(State::Up, OURS);
    f.final_ = true;
    s.handle(t0 + ms(2), Event::Received(f));
    assert!(!s.status().polling);
    let a = s.handle(t0 + ms(1000), Event::TimerExpired(Timer::Transmit));
    assert!(!sent(&a)[0].poll);
}

#[test]
fn slower_tx_on_reconfigure_waits_for_the_final() {
    let (mut s, t0) = up(BfdConfig::default());
    let mut f = peer(State::Up, OURS);
    f.final_ = true;
    s.handle(t0, Event::Received(f));
    let slower = BfdConfig {
        desired_min_tx: ms(800),
        required_min_rx: ms(100),
        ..BfdConfig::default()
    };
    let a = s.handle(t0 + ms(5), Event::Reconfigure(slower));
    let p = sent(&a)[0];
    assert!(p.poll);
    assert_eq!((p.desired_min_tx, p.required_min_rx), (800_000, 100_000));
    // §6.8.3: the old TX and the old (larger) RX stay in force.
    assert_eq!(s.status().tx_interval, Some(ms(300)));
    s.handle(t0 + ms(6), Event::Received(peer(State::Up, OURS)));
    assert_eq!(s.status().detection_time, Some(ms(900)));
    s.handle(t0 + ms(7), Event::Received(f));
    assert_eq!(s.status().tx_interval, Some(ms(800)));
    s.handle(t0 + ms(8), Event::Received(peer(State::Up, OURS)));
    assert_eq!(
        s.status().detection_time,
        Some(ms(900)),
        "peer tx 300 ms × 3"
    );
    assert_eq!(s.state(), State::Up, "no flap");
}

#[test]
fn packet_for_another_discriminator_is_discarded() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0, Event::Received(peer(State::Down, 0x9999)));
    assert!(a.is_empty());
    assert_eq!(s.state(), State::Up);
    assert_eq!(s.status().counters.discarded, 1);
}

#[test]
fn admin_down_announces_diag_7_and_ignores_the_peer() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0, Event::AdminDown);
    let p = sent(&a)[0];
    assert_eq!(
        (p.state, p.diag),
        (State::AdminDown, Diag::AdministrativelyDown)
    );
    assert!(a.contains(&Action::StopTimer(Timer::Detect)));
    s.handle(t0, Event::Received(peer(State::Up, OURS)));
    assert_eq!(s.state(), State::AdminDown);
    s.handle(t0 + ms(5000), Event::TimerExpired(Timer::Detect));
    assert_eq!(s.state(), State::AdminDown);
    s.handle(t0, Event::AdminUp);
    assert_eq!(s.state(), State::Down);
}

#[test]
fn peer_asking_for_zero_rx_gets_no_periodic_packets() {
    let t0 = Instant::now();
    let mut s = BfdSession::new(BfdConfig::default(), OURS, 1);
    s.handle(t0, Event::Start);
    let mut p = peer(State::Down, 0);
    p.required_min_rx = 0;
    let a = s.handle(t0, Event::Received(p));
    assert!(a.contains(&Action::StopTimer(Timer::Transmit)));
    assert_eq!(s.status().tx_interval, None);
}

#[test]
fn retired_session_keeps_sending_admin_down_at_the_slow_rate_for_a_detection_time() {
    let (mut s, t0) = up(BfdConfig::default());
    let a = s.handle(t0, Event::Retire);
    let p = sent(&a)[0];
    assert_eq!(
        (p.state, p.diag),
        (State::AdminDown, Diag::AdministrativelyDown)
    );
    assert!(!a.contains(&Action::Retired), "gone after one packet");
    // The peer's detection time of us at the slow rate: 3 x 1 s.
    let end = armed(&a, Timer::Retire).expect("retire timer armed");
    assert_eq!(end - t0, ms(3000));
    // Every periodic packet until then is AdminDown, at most 1 s apart;
    // the next 3 at the Up rate (300 ms) the peer still expects.
    let mut now = t0;
    let mut tx = armed(&a, Timer::Transmit).expect("transmit timer armed");
    let mut packets = 1;
    while tx < end {
        let limit = if packets <= 3 { ms(300) } else { ms(1000) };
        assert!(
            tx - now <= limit,
            "gap {:?} before packet {}",
            tx - now,
            packets + 1
        );
        now = tx;
        let a = s.handle(now, Event::TimerExpired(Timer::Transmit));
        let p = sent(&a)[0];
        assert_eq!((p.state, p.desired_min_tx), (State::AdminDown, 1_000_000));
        packets += 1;
        tx = armed(&a, Timer::Transmit).expect("transmit timer re-armed");
    }
    assert!(packets >= 5, "{packets} AdminDown packets");
    let a = s.handle(end - ms(1), Event::TimerExpired(Timer::Retire));
    assert!(!a.contains(&Action::Retired), "early wake-up retires");
    let a = s.handle(end, Event::TimerExpired(Timer::Retire));
    assert!(a.contains(&Action::Retired));
}

#[test]
fn retire_period_covers_a_detection_time_longer_than_the_slow_rate() {
    let (mut s, t0) = up(BfdConfig::default());
    let mut slow = peer(State::Up, OURS);
    slow.desired_min_tx = 2_000_000;
    slow.required_min_rx = 1_500_000;
    s.handle(t0, Event::Received(slow));
    let a = s.handle(t0, Event::Retire);
    // max(3 x max(1 s, its rx 1.5 s), detection 3 x 2 s) = 6 s.
    assert_eq!(armed(&a, Timer::Retire).map(|at| at - t0), Some(ms(6000)));
}

#[test]
fn admin_up_during_the_retire_period_keeps_the_session() {
    let (mut s, t0) = up(BfdConfig::default());
    s.handle(t0, Event::Retire);
    let a = s.handle(t0 + ms(500), Event::AdminUp);
    assert!(a.contains(&Action::StopTimer(Timer::Retire)));
    assert_eq!(s.state(), State::Down);
    let a = s.handle(t0 + ms(5000), Event::TimerExpired(Timer::Retire));
    assert!(
        !a.contains(&Action::Retired),
        "a stale retire timer dropped a kept session"
    );
}

#[test]
fn passive_session_nobody_heard_retires_at_once() {
    let t0 = Instant::now();
    let cfg = BfdConfig {
        passive: true,
        ..BfdConfig::default()
    };
    let mut s = BfdSession::new(cfg, OURS, 1);
    s.handle(t0, Event::Start);
    let a = s.handle(t0, Event::Retire);
    assert!(a.contains(&Action::Retired));
    assert!(sent(&a).is_empty());
}
