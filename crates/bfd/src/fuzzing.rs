//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus
//! replay test (`tests/fuzz_corpus.rs`).

use std::time::{Duration, Instant};

use crate::packet::ControlPacket;
use crate::session::{BfdConfig, BfdSession, Event, Timer};

/// Decodes one datagram; an accepted packet must encode back to the same
/// 24 octets (flags the decoder ignores aside).
pub fn control_decode(data: &[u8]) {
    if let Ok(p) = ControlPacket::decode(data) {
        let again = ControlPacket::decode(&p.encode()).expect("re-encoded packet decodes");
        assert_eq!(p, again, "decode(encode(p)) != p");
    }
}

/// Feeds every 24-octet chunk that decodes to one session, with a timer
/// expiry between chunks.
pub fn session_packets(data: &[u8]) {
    let t0 = Instant::now();
    let mut s = BfdSession::new(BfdConfig::default(), 0x1234, 7);
    let _ = s.handle(t0, Event::Start);
    for (i, chunk) in data.chunks(24).enumerate() {
        let now = t0 + Duration::from_millis(50 * i as u64);
        if let Ok(mut p) = ControlPacket::decode(chunk) {
            if chunk[0] & 1 == 1 {
                p.your_discriminator = 0x1234;
            }
            let _ = s.handle(now, Event::Received(p));
        }
        let t = if i % 2 == 0 {
            Timer::Detect
        } else {
            Timer::Transmit
        };
        let _ = s.handle(now, Event::TimerExpired(t));
    }
}
