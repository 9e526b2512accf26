//! Control packets captured from BIRD 2.0.12 and FRR bfdd 8.4.4 talking to
//! each other (tests/golden/capture.sh): every one decodes to the fields
//! the daemons were configured with, re-encodes to the same octets, and
//! was sent with TTL 255 (RFC 5881 §5).

use std::path::Path;

use bfd::{ControlPacket, Diag, State};

fn golden(name: &str) -> (Vec<u8>, ControlPacket) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let data = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    let ttl = std::fs::read_to_string(dir.join(format!("{name}.ttl"))).unwrap();
    assert_eq!(ttl.trim(), "255", "{name}: sent with TTL {ttl}");
    let p = ControlPacket::decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        p.encode().as_slice(),
        data.as_slice(),
        "{name}: re-encoding differs"
    );
    (data, p)
}

const BIRD: u32 = 0x6358_ab23;
const FRR: u32 = 0x3432_178d;

#[test]
fn bird_down_packet_has_no_peer_discriminator_and_the_slow_rate() {
    let (_, p) = golden("bird_down");
    assert_eq!((p.state, p.diag), (State::Down, Diag::None));
    assert_eq!((p.my_discriminator, p.your_discriminator), (BIRD, 0));
    assert_eq!(p.detect_mult, 5, "BIRD's default multiplier");
    assert_eq!(p.desired_min_tx, 1_000_000);
    assert_eq!(p.required_min_rx, 300_000, "interval 300 ms");
}

#[test]
fn bird_up_packets_carry_poll_and_final_one_at_a_time() {
    for (name, poll, fin) in [
        ("bird_up", false, false),
        ("bird_up_poll", true, false),
        ("bird_up_final", false, true),
    ] {
        let (_, p) = golden(name);
        assert_eq!(p.state, State::Up, "{name}");
        assert_eq!((p.poll, p.final_), (poll, fin), "{name}");
        assert_eq!((p.my_discriminator, p.your_discriminator), (BIRD, FRR));
        assert_eq!((p.desired_min_tx, p.required_min_rx), (300_000, 300_000));
    }
}

#[test]
fn frr_packets_decode_with_its_configured_intervals() {
    let (_, init) = golden("frr_init");
    assert_eq!((init.state, init.your_discriminator), (State::Init, BIRD));
    assert_eq!(init.desired_min_tx, 1_000_000, "slow rate until Up");
    assert_eq!(init.required_min_echo_rx, 50_000, "FRR's echo default");
    for name in ["frr_up", "frr_up_poll", "frr_up_final"] {
        let (_, p) = golden(name);
        assert_eq!(p.state, State::Up, "{name}");
        assert_eq!(p.detect_mult, 3);
        assert_eq!((p.desired_min_tx, p.required_min_rx), (200_000, 200_000));
    }
}

#[test]
fn frr_reports_detection_time_expired_after_bird_stops() {
    let (_, p) = golden("frr_down_diag1");
    assert_eq!(
        (p.state, p.diag),
        (State::Down, Diag::ControlDetectionTimeExpired)
    );
    assert_eq!(p.your_discriminator, 0, "FRR forgot BIRD's discriminator");
    assert_eq!(
        p.desired_min_tx, 400_000,
        "the reconfigured transmit-interval"
    );
}
