//! Replays every fuzz seed (captured sessions, and any crash the fuzzer
//! ever found) through the fuzz entry points, so a regression fails
//! `cargo test` without needing cargo-fuzz.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        f(&data);
        n += 1;
    }
    n
}

#[test]
fn every_message_seed_decodes_without_panicking() {
    assert!(
        replay("message_decode", bgp_proto::fuzzing::message_decode) > 0,
        "no seeds"
    );
}

#[test]
fn every_update_seed_decodes_without_panicking() {
    assert!(
        replay("update_decode", bgp_proto::fuzzing::update_decode) > 0,
        "no seeds"
    );
}

#[test]
fn every_attribute_seed_decodes_without_panicking() {
    assert!(
        replay("attribute_decode", bgp_proto::fuzzing::attribute_decode) > 0,
        "no seeds"
    );
}
