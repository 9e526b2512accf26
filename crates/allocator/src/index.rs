//! Internal indexing helpers: a fast, deterministic hasher for the
//! allocator's lookup tables, and the service table (interned service ids).
//!
//! Hash tables are used only for *lookups* (service key -> id, address ->
//! users). Nothing the allocator returns ever depends on their iteration
//! order: every ordered answer is sorted by service key explicitly.

use crate::request::ServiceKey;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// FxHash-style hasher (as used in rustc) with a final avalanche step so
/// both hashbrown's bucket index (low bits) and tag (top 7 bits) are well
/// distributed. Deterministic: same
/// input, same hash, in every process.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            // Length in the top byte so "a" and "a\0" differ.
            buf[7] ^= rest.len() as u8;
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64: every input bit affects every output bit
        // (Fx alone leaves the low bits blind to high input bits, e.g. the
        // last byte of an IPv6 address).
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// `BuildHasher` for [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// Hash of a service key (namespace, then name).
#[inline]
pub(crate) fn key_hash(key: &ServiceKey) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_hash_differently() {
        let a = key_hash(&ServiceKey::new("ns", "a"));
        let b = key_hash(&ServiceKey::new("ns", "b"));
        let c = key_hash(&ServiceKey::new("nsa", ""));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, key_hash(&ServiceKey::new("ns", "a")));
    }

    #[test]
    fn sequential_ipv6_addresses_spread_over_the_low_bits() {
        use std::collections::BTreeSet;
        use std::net::{IpAddr, Ipv6Addr};
        let buckets: BTreeSet<u64> = (0u128..1024)
            .map(|i| {
                let ip = IpAddr::V6(Ipv6Addr::from((0xfd00u128 << 112) | i));
                let mut h = FxHasher::default();
                ip.hash(&mut h);
                h.finish() & 0xfff
            })
            .collect();
        assert!(buckets.len() > 700, "{} distinct buckets", buckets.len());
    }
}
