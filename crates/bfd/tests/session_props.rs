//! Any sequence of packets, timer expiries and admin events: no panic, and
//! the state machine's invariants hold after every step.

use std::time::{Duration, Instant};

use bfd::{Action, BfdConfig, BfdSession, ControlPacket, Diag, Event, State, Timer};
use proptest::prelude::*;

const OURS: u32 = 0x1111;

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::AdminDown),
        Just(State::Down),
        Just(State::Init),
        Just(State::Up)
    ]
}

fn packet() -> impl Strategy<Value = ControlPacket> {
    (
        state(),
        any::<(bool, bool)>(),
        1u8..=255,
        prop_oneof![Just(0u32), Just(OURS), any::<u32>()],
        prop_oneof![Just(0u32), 1u32..2_000_000, any::<u32>()],
        prop_oneof![Just(0u32), 1u32..2_000_000, any::<u32>()],
        0u8..32,
    )
        .prop_map(
            |(state, (poll, fin), mult, your, tx, rx, diag)| ControlPacket {
                diag: Diag::from_code(diag),
                state,
                poll,
                final_: fin && !poll,
                cpi: false,
                demand: false,
                detect_mult: mult,
                my_discriminator: 0x2222,
                your_discriminator: if your == 0 && !matches!(state, State::Down | State::AdminDown)
                {
                    OURS
                } else {
                    your
                },
                desired_min_tx: tx,
                required_min_rx: rx,
                required_min_echo_rx: 0,
            },
        )
}

fn config() -> impl Strategy<Value = BfdConfig> {
    (10u64..2000, 10u64..2000, 1u8..=255, any::<bool>()).prop_map(|(tx, rx, m, passive)| {
        BfdConfig {
            desired_min_tx: Duration::from_millis(tx),
            required_min_rx: Duration::from_millis(rx),
            detect_mult: m,
            passive,
        }
    })
}

#[derive(Clone, Debug)]
enum Step {
    Rx(ControlPacket),
    Tx,
    Detect,
    AdminDown,
    AdminUp,
    Retire,
    RetireTimer,
    Reconfigure(BfdConfig),
}

fn step() -> impl Strategy<Value = (u64, Step)> {
    (
        0u64..3000,
        prop_oneof![
            6 => packet().prop_map(Step::Rx),
            2 => Just(Step::Tx),
            2 => Just(Step::Detect),
            1 => Just(Step::AdminDown),
            1 => Just(Step::AdminUp),
            1 => Just(Step::Retire),
            1 => Just(Step::RetireTimer),
            1 => config().prop_map(Step::Reconfigure),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_event_sequence_keeps_the_machine_consistent(
        cfg in config(),
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = BfdSession::new(cfg, OURS, 99);
        for a in s.handle(now, Event::Start) {
            prop_assert!(!(cfg.passive && matches!(a, Action::Send(_))));
        }
        for (dt, st) in steps {
            now += Duration::from_millis(dt);
            let ev = match st {
                Step::Rx(p) => Event::Received(p),
                Step::Tx => Event::TimerExpired(Timer::Transmit),
                Step::Detect => Event::TimerExpired(Timer::Detect),
                Step::AdminDown => Event::AdminDown,
                Step::AdminUp => Event::AdminUp,
                Step::Retire => Event::Retire,
                Step::RetireTimer => Event::TimerExpired(Timer::Retire),
                Step::Reconfigure(c) => Event::Reconfigure(c),
            };
            let passive = s.config().passive;
            let remote_known = s.status().remote_discriminator != 0;
            let out = s.handle(now, ev.clone());
            for a in &out {
                match a {
                    Action::StateChanged { from, to, .. } => {
                        // §6.2: Up is entered only from Down (peer Init)
                        // or Init (peer Init/Up).
                        if *to == State::Up {
                            prop_assert!(matches!(from, State::Down | State::Init), "{from:?} -> Up");
                            prop_assert!(matches!(ev, Event::Received(_)), "Up without a packet");
                        }
                        if *to == State::Init {
                            prop_assert_eq!(*from, State::Down);
                        }
                    }
                    Action::Send(p) => {
                        // Passive: nothing before the peer was heard.
                        prop_assert!(!passive || remote_known || matches!(ev, Event::Received(_)),
                            "passive session sent {p:?} before hearing the peer");
                        prop_assert!(!(p.poll && p.final_));
                        prop_assert_eq!(p.my_discriminator, OURS);
                        prop_assert!(ControlPacket::decode(&p.encode()).is_ok(), "we sent an invalid packet: {p:?}");
                        if p.state != State::Up {
                            prop_assert!(p.desired_min_tx >= 1_000_000, "§6.8.3 slow rate: {p:?}");
                        }
                    }
                    Action::ArmTimer(_, at) => prop_assert!(*at >= now, "timer armed in the past"),
                    Action::StopTimer(_) => {}
                    Action::Retired => {
                        // Only a retired session ends, and only in AdminDown.
                        prop_assert!(matches!(ev, Event::Retire | Event::TimerExpired(Timer::Retire)), "Retired on {ev:?}");
                        prop_assert_eq!(s.state(), State::AdminDown);
                    }
                }
            }
            let st = s.status();
            // Detection never shorter than the peer's multiplier times
            // its own desired TX (the negotiated floor).
            if let Some(d) = st.detection_time {
                let floor = Duration::from_micros(u64::from(st.remote_detect_mult) * st.remote_desired_min_tx.as_micros() as u64);
                prop_assert!(d >= floor, "detection {d:?} < {floor:?}");
            }
            if let Some(tx) = st.tx_interval {
                prop_assert!(tx >= st.remote_required_min_rx, "tx {tx:?} faster than the peer takes");
            }
            if st.state == State::AdminDown {
                prop_assert_eq!(st.detection_time, None);
            }
        }
    }

    #[test]
    fn any_datagram_decodes_or_fails_without_panicking(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        bfd::fuzzing::control_decode(&data);
        bfd::fuzzing::session_packets(&data);
    }
}
