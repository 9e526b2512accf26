//! Replays every fuzz seed (hand-made packets, captured ones, and any
//! crash the fuzzer ever found) through the fuzz entry points, so a
//! regression fails `cargo test` without cargo-fuzz.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        f(&data);
        n += 1;
    }
    n
}

#[test]
fn every_decode_seed_decodes_without_panicking() {
    assert!(
        replay("control_decode", bfd::fuzzing::control_decode) >= 15,
        "seeds missing"
    );
}

#[test]
fn every_session_seed_runs_without_panicking() {
    assert!(
        replay("session_packets", bfd::fuzzing::session_packets) >= 16,
        "seeds missing"
    );
}

/// Each hostile seed must fail at the rule it is named after.
#[test]
fn hostile_seeds_fail_at_the_rule_they_are_named_after() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/control_decode");
    let cases = [
        ("version_0", "bfd.version"),
        ("length_23", "bfd.length"),
        ("length_30", "bfd.length"),
        ("detect_mult_0", "bfd.detect_mult"),
        ("multipoint", "bfd.multipoint"),
        ("my_discriminator_0", "bfd.my_discriminator"),
        ("your_discriminator_0_up", "bfd.your_discriminator"),
        ("auth", "bfd.authentication"),
        ("truncated_20", "bfd.packet"),
    ];
    for (name, field) in cases {
        let data = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        match bfd::ControlPacket::decode(&data) {
            Err(e) => assert_eq!(e.field(), field, "{name}: {e}"),
            Ok(p) => panic!("{name} accepted: {p:?}"),
        }
    }
    for name in ["up", "down_your_0", "init", "admin_down", "poll", "final"] {
        let data = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        assert!(
            bfd::ControlPacket::decode(&data).is_ok(),
            "{name} does not decode"
        );
    }
}
