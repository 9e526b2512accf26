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

/// An odd constant with well-spread bits (2^64 / golden ratio).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hasher: one folded multiply (the 128-bit product's halves XORed,
/// as aHash's fallback does) per 8-byte word, then a final mix. (FxHash's
/// rotate-xor-multiply was tried first: texts differing in two digits,
/// `svc-048200` and `svc-040900`, collided by the thousand.)
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

/// For `HashMap`s and `hash_one`.
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

impl FastHasher {
    fn step(&mut self, w: u64) {
        let p = u128::from(self.0 ^ w) * u128::from(K);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
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

    #[test]
    fn the_items_of_a_generated_list_all_hash_differently() {
        // Names that differ in a few digits, at every alignment of the
        // number within the 8-byte words.
        for prefix in ["", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg"] {
            let mut seen = std::collections::HashSet::new();
            for i in 0..200_000 {
                let item = format!("{{apiVersion: v1, kind: Service, metadata: {{name: {prefix}svc-{i:06}, namespace: bench}}}}\n");
                assert!(seen.insert(hash_str(&item)), "collision at {prefix} {i}");
            }
        }
    }
}
