//! Replays every fuzz seed (captured frames, hostile variants, and any
//! crash the fuzzer ever found) through the fuzz entry points, so a
//! regression fails `cargo test` without needing cargo-fuzz.

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
fn every_arp_seed_decodes_without_panicking() {
    assert!(
        replay("arp_decode", l2::fuzzing::arp_decode) >= 10,
        "seeds missing"
    );
}

#[test]
fn every_ndp_seed_decodes_without_panicking() {
    assert!(
        replay("ndp_decode", l2::fuzzing::ndp_decode) >= 10,
        "seeds missing"
    );
}

#[test]
fn every_responder_seed_is_decided_without_panicking() {
    assert!(
        replay("responder_frame", l2::fuzzing::responder_frame) >= 20,
        "seeds missing"
    );
}

/// The hostile seeds must reach the rule they are named after (not fail
/// earlier, e.g. on a checksum make-seeds.py got wrong).
#[test]
fn hostile_ndp_seeds_fail_at_the_rule_they_are_named_after() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/ndp_decode");
    let cases = [
        ("hop_limit_254", "ndp.ipv6.hop_limit"),
        ("option_length_0", "ndp.option.length"),
        ("option_length_2", "ndp.option"),
        ("multicast_target", "ndp.target"),
        ("code_1", "ndp.icmp.code"),
        ("bad_checksum", "ndp.icmp.checksum"),
        ("dad_with_slla", "ndp.option.source_lla"),
        ("solicited_to_all_nodes", "ndp.flags.solicited"),
        ("payload_len_40", "ipv6.payload"),
        ("truncated_60", "ipv6.payload"),
    ];
    for (name, field) in cases {
        let data = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        match l2::wire::NdpPacket::parse_frame(&data) {
            Err(e) => assert_eq!(e.field(), field, "{name}: {e}"),
            Ok(p) => panic!("{name} accepted: {p:?}"),
        }
    }
    for name in [
        "golden_ns",
        "golden_na",
        "no_source_lla",
        "other_target",
        "own_mac_slla",
    ] {
        let data = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        assert!(
            matches!(l2::wire::NdpPacket::parse_frame(&data), Ok(Some(_))),
            "{name} does not parse"
        );
    }
}
