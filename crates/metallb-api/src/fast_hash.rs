//! A fast, fixed (unkeyed), non-cryptographic hash for change detection
//! of configuration text (whole files, List items) and for the identity
//! set of the loader.
//!
//! The input is a local configuration file, written by whoever may
//! configure the speaker anyway, so resistance to crafted collisions
//! (what SipHash with a random key buys) is not needed: a collision would
//! only make the loader reuse the parse of an item whose text it matches
//! in hash (64 bits: about one chance in 10^19 per pair), or, for the
//! identity set, cost a scan that confirms the duplicate. SipHash was a
//! third of a reload of a 100k-item List (14.6 MB hashed, then each item
//! again); this reads 8 bytes per step.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the FxHash family (from Firefox / rustc).
const K: u64 = 0x517c_c1b7_2722_0a95;

/// The hasher: FxHash steps over 8-byte words, with a final mix so that
/// every output bit depends on every input bit (hash maps use both the
/// low and the high bits).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

/// For `HashMap`s and `hash_one`.
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

impl FastHasher {
    fn step(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.step(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length tells `ab` + padding from `ab\0`.
            self.step(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.step(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.step(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.step(n);
    }

    fn finish(&self) -> u64 {
        // The 64-bit finaliser of MurmurHash3.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The hash of a text.
pub(crate) fn hash_str(text: &str) -> u64 {
    use std::hash::Hash;
    let mut h = FastHasher::default();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_that_differ_in_one_byte_or_in_length_hash_differently() {
        let base = "- {apiVersion: v1, kind: Service, metadata: {name: svc-000001}}\n";
        let h = hash_str(base);
        for i in 0..base.len() {
            let mut b = base.as_bytes().to_vec();
            b[i] ^= 1;
            let s = String::from_utf8(b).unwrap();
            assert_ne!(hash_str(&s), h, "byte {i}");
        }
        assert_ne!(hash_str("ab"), hash_str("ab\0"));
        assert_ne!(hash_str(""), hash_str("\0"));
        assert_eq!(hash_str(base), h);
    }
}
