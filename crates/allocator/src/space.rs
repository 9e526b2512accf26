//! The address space of one pool for one family, numbered as "slots".
//!
//! A pool's `spec.addresses` entries of one family are laid end to end, in
//! spec order, into a contiguous slot space `0..total`. Slot order is the
//! order MetalLB scans addresses in (each entry from its first address, the
//! entries in the order they are written), so "lowest free slot" is exactly
//! MetalLB's first-fit choice.
//!
//! With `avoidBuggyIPs`, IPv4 addresses ending in .0 or .255 are not given a
//! slot at all: an address is first mapped to an *ordinal*
//! `(ip >> 8) * 254 + (ip & 0xff) - 1`, a monotonic bijection between the
//! non-buggy IPv4 addresses and `0..2^24 * 254`. Skipping buggy addresses is
//! then plain arithmetic, never iteration, and counts are exact.
//!
//! Mapping slot <-> address is a binary search over the entries: O(log e).

use crate::family::Family;

/// One `spec.addresses` entry, in ordinal space.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// First ordinal of the entry.
    start: u128,
    /// Number of usable addresses (> 0).
    len: u128,
    /// Slot of `start`.
    base: u128,
}

/// The slot space of one pool for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Space {
    family: Family,
    skip_buggy: bool,
    /// Non-empty segments in spec order; `base` is increasing.
    segments: Vec<Segment>,
    /// Indices into `segments`, sorted by `start` (entries never overlap).
    by_start: Vec<usize>,
    total: u128,
}

/// The space would hold 2^128 or more addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

const PER_24: u128 = 254;

/// Ordinal of a non-buggy IPv4 value (`None` for .0 / .255).
fn ordinal(value: u128) -> Option<u128> {
    let (hi, lo) = (value >> 8, value & 0xff);
    (lo != 0 && lo != 255).then(|| hi * PER_24 + lo - 1)
}

/// Lowest ordinal whose address is >= value.
fn ceil_ordinal(value: u128) -> u128 {
    let (hi, lo) = (value >> 8, value & 0xff);
    match lo {
        0 => hi * PER_24,
        255 => (hi + 1) * PER_24,
        _ => hi * PER_24 + lo - 1,
    }
}

/// Highest ordinal whose address is <= value, if any.
fn floor_ordinal(value: u128) -> Option<u128> {
    let (hi, lo) = (value >> 8, value & 0xff);
    match lo {
        0 => (hi * PER_24).checked_sub(1),
        255 => Some(hi * PER_24 + 253),
        _ => Some(hi * PER_24 + lo - 1),
    }
}

fn from_ordinal(ord: u128) -> u128 {
    ((ord / PER_24) << 8) | (ord % PER_24 + 1)
}

impl Space {
    /// Builds the space from inclusive address ranges (numeric values of
    /// `family`), in spec order. Ranges must not overlap each other.
    pub(crate) fn new(
        family: Family,
        avoid_buggy_ips: bool,
        ranges: &[(u128, u128)],
    ) -> Result<Space, TooLarge> {
        let skip_buggy = avoid_buggy_ips && family == Family::V4;
        let mut segments = Vec::new();
        let mut total: u128 = 0;
        for &(first, last) in ranges {
            let (start, end) = if skip_buggy {
                match floor_ordinal(last) {
                    Some(end) => (ceil_ordinal(first), end),
                    None => continue,
                }
            } else {
                (first, last)
            };
            if end < start {
                continue; // e.g. 10.0.0.255/32 with avoidBuggyIPs: nothing usable
            }
            let len = (end - start).checked_add(1).ok_or(TooLarge)?;
            segments.push(Segment {
                start,
                len,
                base: total,
            });
            total = total.checked_add(len).ok_or(TooLarge)?;
        }
        let mut by_start: Vec<usize> = (0..segments.len()).collect();
        by_start.sort_by_key(|&i| segments[i].start);
        Ok(Space {
            family,
            skip_buggy,
            segments,
            by_start,
            total,
        })
    }

    /// Number of usable addresses.
    pub(crate) fn total(&self) -> u128 {
        self.total
    }

    /// The family of this space.
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// The slot of an address value, or `None` if the pool does not hand it
    /// out (outside every entry, or buggy with `avoidBuggyIPs`).
    pub(crate) fn slot_of(&self, value: u128) -> Option<u128> {
        let ord = if self.skip_buggy {
            ordinal(value)?
        } else {
            value
        };
        let pos = self
            .by_start
            .partition_point(|&i| self.segments[i].start <= ord);
        let seg = &self.segments[*self.by_start.get(pos.checked_sub(1)?)?];
        let offset = ord - seg.start;
        (offset < seg.len).then(|| seg.base + offset)
    }

    /// The address value of a slot, or `None` if `slot >= total`.
    pub(crate) fn value_of(&self, slot: u128) -> Option<u128> {
        let pos = self.segments.partition_point(|s| s.base <= slot);
        let seg = self.segments.get(pos.checked_sub(1)?)?;
        let offset = slot - seg.base;
        if offset >= seg.len {
            return None;
        }
        let ord = seg.start + offset;
        Some(if self.skip_buggy {
            from_ordinal(ord)
        } else {
            ord
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()))
    }

    #[test]
    fn ordinals_skip_exactly_dot_zero_and_dot_255() {
        let mut expected = Vec::new();
        for v in v4("10.0.0.0")..=v4("10.0.2.255") {
            if let Some(o) = ordinal(v) {
                assert_eq!(from_ordinal(o), v);
                expected.push(o);
            }
        }
        assert_eq!(expected.len(), 3 * 254);
        assert!(expected.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn slots_follow_spec_order_not_address_order() {
        let s = Space::new(
            Family::V4,
            false,
            &[
                (v4("10.0.1.0"), v4("10.0.1.1")),
                (v4("10.0.0.0"), v4("10.0.0.3")),
            ],
        )
        .unwrap();
        assert_eq!(s.total(), 6);
        assert_eq!(s.value_of(0), Some(v4("10.0.1.0")));
        assert_eq!(s.value_of(2), Some(v4("10.0.0.0")));
        assert_eq!(s.value_of(6), None);
        assert_eq!(s.slot_of(v4("10.0.0.3")), Some(5));
        assert_eq!(s.slot_of(v4("10.0.0.4")), None);
    }

    #[test]
    fn avoid_buggy_ips_counts_exactly_for_any_range() {
        // /23 = 512 addresses, 4 of them buggy.
        let s = Space::new(Family::V4, true, &[(v4("10.0.0.0"), v4("10.0.1.255"))]).unwrap();
        assert_eq!(s.total(), 508);
        assert_eq!(s.value_of(0), Some(v4("10.0.0.1")));
        assert_eq!(s.value_of(254), Some(v4("10.0.1.1")));
        assert_eq!(s.slot_of(v4("10.0.1.0")), None);
        // A range that only holds buggy addresses is empty.
        let s = Space::new(Family::V4, true, &[(v4("10.0.0.255"), v4("10.0.1.0"))]).unwrap();
        assert_eq!(s.total(), 0);
        let s = Space::new(Family::V4, true, &[(v4("0.0.0.0"), v4("0.0.0.0"))]).unwrap();
        assert_eq!(s.total(), 0);
        let s = Space::new(Family::V4, true, &[(0, u128::from(u32::MAX))]).unwrap();
        assert_eq!(s.total(), (1 << 24) * 254);
    }

    #[test]
    fn the_whole_ipv6_space_is_too_large_but_half_is_fine() {
        assert_eq!(
            Space::new(Family::V6, false, &[(0, u128::MAX)]),
            Err(TooLarge)
        );
        let s = Space::new(Family::V6, false, &[(0, u128::MAX >> 1)]).unwrap();
        assert_eq!(s.total(), 1 << 127);
        assert_eq!(s.slot_of(u128::MAX >> 1), Some((1 << 127) - 1));
    }
}
