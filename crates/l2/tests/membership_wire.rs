//! The membership datagram: strict decoding, the tag, and config checks.

use std::net::IpAddr;

use l2::membership::wire::{Datagram, Key, Kind, WireError, MAX_LEN};
use l2::membership::{Fencing, Member, Membership, MembershipConfig, Timing, DEFAULT_PORT};
use proptest::prelude::*;

fn sample() -> Datagram {
    Datagram {
        kind: Kind::Ping,
        from: "node-a".into(),
        to: "node-b".into(),
        epoch: 1_700_000_000_000,
        seq: 42,
        echo_epoch: 1_700_000_000_001,
        echo_seq: 41,
        links: vec!["eth3".into(), "eth4".into()],
        seen: vec![("node-c".into(), 42)],
    }
}

fn key() -> Key {
    Key::from_secret(b"shared secret")
}

#[test]
fn datagram_round_trips_with_the_same_key() {
    let bytes = sample().encode(&key());
    assert_eq!(Datagram::decode(&bytes, &key()), Ok(sample()));
}

#[test]
fn every_truncation_and_every_flipped_bit_is_rejected() {
    let bytes = sample().encode(&key());
    for len in 0..bytes.len() {
        assert!(
            Datagram::decode(&bytes[..len], &key()).is_err(),
            "truncated to {len}"
        );
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(Datagram::decode(&b, &key()).is_err(), "octet {i} bit {bit}");
        }
    }
}

#[test]
fn datagram_signed_with_another_key_is_rejected_as_a_bad_hmac() {
    let bytes = sample().encode(&Key::from_secret(b"guessed"));
    let e = Datagram::decode(&bytes, &key()).unwrap_err();
    assert_eq!(e, WireError::BadMac);
    assert!(e.to_string().contains("field `hmac`"), "{e}");
}

#[test]
fn length_bounds_are_checked_before_the_tag() {
    assert_eq!(
        Datagram::decode(&[0; 10], &key()),
        Err(WireError::TooShort { len: 10 })
    );
    let big = vec![0; MAX_LEN + 1];
    assert_eq!(
        Datagram::decode(&big, &key()),
        Err(WireError::TooLong { len: MAX_LEN + 1 })
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_decode_without_the_key(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(Datagram::decode(&bytes, &key()).is_err());
    }
}

fn config() -> MembershipConfig {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    MembershipConfig {
        me: "node-a".into(),
        members: vec![
            Member {
                name: "node-a".into(),
                addr: ip("198.51.100.1"),
            },
            Member {
                name: "node-b".into(),
                addr: ip("198.51.100.2"),
            },
        ],
        secret: b"s".to_vec(),
        epoch: 1,
        port: DEFAULT_PORT,
        timing: Timing::DEFAULT,
        fencing: Fencing::Majority,
    }
}

fn error_of(c: MembershipConfig) -> String {
    match Membership::new(c) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_the_field() {
    assert!(Membership::new(config()).is_ok());
    let mut c = config();
    c.me = "node-z".into();
    assert!(error_of(c).contains("field `me` \"node-z\" is not one of the members"));
    let mut c = config();
    c.members[1].name = "node-a".into();
    assert!(error_of(c).contains("field `members[1].name` \"node-a\" is listed twice"));
    let mut c = config();
    c.members[1].addr = c.members[0].addr;
    assert!(error_of(c).contains("field `members[1].addr` 198.51.100.1 is listed twice"));
    let mut c = config();
    c.secret.clear();
    assert!(error_of(c).contains("field `secret`"));
    let mut c = config();
    c.timing.fence_after = c.timing.dead_after;
    assert!(error_of(c).contains("field `timing.fence_after`"));
    let mut c = config();
    c.timing.fence_hold = c.timing.interval;
    assert!(error_of(c).contains("field `timing.fence_hold`"));
}

#[test]
fn both_timing_profiles_pass_their_own_checks() {
    for t in [Timing::DEFAULT, Timing::FAST] {
        let mut c = config();
        c.timing = t;
        assert!(Membership::new(c).is_ok(), "{t:?}");
    }
}

/// The body of `sample()` without its tag.
fn body() -> Vec<u8> {
    let b = sample().encode(&key());
    b[..b.len() - 32].to_vec()
}

#[test]
fn signed_but_malformed_bodies_name_the_field_at_fault() {
    let k = key();
    let mut b = body();
    b[4] = 2;
    assert_eq!(
        Datagram::decode(&k.seal(&b), &k),
        Err(WireError::BadVersion { got: 2 })
    );
    let mut b = body();
    b[5] = 9;
    assert!(Datagram::decode(&k.seal(&b), &k)
        .unwrap_err()
        .to_string()
        .contains("field `kind` 9"));
    let mut b = body();
    b[0] = b'X';
    assert_eq!(Datagram::decode(&k.seal(&b), &k), Err(WireError::BadMagic));
    let mut b = body();
    b.push(0);
    assert_eq!(
        Datagram::decode(&k.seal(&b), &k),
        Err(WireError::TrailingBytes { count: 1 })
    );
    let mut b = body();
    b[6] = 200; // the from name claims 200 octets
    assert!(matches!(
        Datagram::decode(&k.seal(&b), &k),
        Err(WireError::Truncated { .. })
    ));
    let mut b = body();
    b.truncate(b.len() - 1);
    assert_eq!(
        Datagram::decode(&k.seal(&b), &k),
        Err(WireError::Truncated { field: "seen age" })
    );
}

proptest! {
    #[test]
    fn arbitrary_signed_bodies_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..600), keep_head in any::<bool>()) {
        if keep_head && b.len() >= 6 {
            b[..6].copy_from_slice(&[b'O', b'X', b'L', b'2', 1, 1]);
        }
        let k = key();
        let _ = Datagram::decode(&k.seal(&b), &k);
    }
}
