//! A set of `u128` values stored as merged, disjoint runs.
//!
//! This is the allocator's "used slots" set. Memory is O(number of runs)
//! (at most the number of members, usually far fewer since first-fit packs
//! allocations together), and every operation is O(log runs):
//!
//! * `insert` / `remove` touch at most the two neighbouring runs;
//! * `first_free_from(x)` answers "lowest value >= x that is not a member":
//!   because runs are merged, the answer is either `x` itself or the end of
//!   the run covering `x`, plus one. No scanning is ever needed.

use std::collections::BTreeMap;

/// A set of `u128` values, stored as merged inclusive runs `start..=end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    /// start -> end (inclusive). Runs are disjoint and never adjacent.
    runs: BTreeMap<u128, u128>,
    /// Number of members.
    len: u128,
}

impl IntervalSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of members.
    pub fn len(&self) -> u128 {
        self.len
    }

    /// True when the set has no member.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs (memory use is proportional to this).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The run containing `x`, if any.
    fn run_containing(&self, x: u128) -> Option<(u128, u128)> {
        let (&start, &end) = self.runs.range(..=x).next_back()?;
        (end >= x).then_some((start, end))
    }

    /// True if `x` is a member.
    pub fn contains(&self, x: u128) -> bool {
        self.run_containing(x).is_some()
    }

    /// Adds `x`. Returns false if it was already a member. Two or three
    /// B-tree searches; run ends are updated in place.
    pub fn insert(&mut self, x: u128) -> bool {
        // The run starting right after x, if any.
        let right = x
            .checked_add(1)
            .and_then(|n| self.runs.get(&n).map(|&e| (n, e)));
        // The run starting at or before x: covers x, ends right before it,
        // or is unrelated.
        let merged_left = match self.runs.range_mut(..=x).next_back() {
            Some((_, end)) if *end >= x => return false,
            Some((_, end)) if *end + 1 == x => {
                *end = right.map_or(x, |(_, re)| re);
                true
            }
            _ => false,
        };
        match (merged_left, right) {
            (true, Some((rs, _))) => {
                self.runs.remove(&rs);
            }
            (true, None) => {}
            (false, Some((rs, re))) => {
                self.runs.remove(&rs);
                self.runs.insert(x, re);
            }
            (false, None) => {
                self.runs.insert(x, x);
            }
        }
        self.len += 1;
        true
    }

    /// Removes `x`. Returns false if it was not a member. One or two B-tree
    /// searches; run ends are updated in place.
    pub fn remove(&mut self, x: u128) -> bool {
        let (start, end) = match self.runs.range_mut(..=x).next_back() {
            Some((&start, end)) if *end >= x => {
                let old_end = *end;
                if start < x {
                    // Keep start..=x-1 in place.
                    *end = x - 1;
                }
                (start, old_end)
            }
            _ => return false,
        };
        if start == x {
            self.runs.remove(&start);
        }
        if x < end {
            self.runs.insert(x + 1, end);
        }
        self.len -= 1;
        true
    }

    /// The lowest value `>= x` that is not a member, or `None` if every value
    /// from `x` to `u128::MAX` is a member. O(log runs).
    pub fn first_free_from(&self, x: u128) -> Option<u128> {
        match self.run_containing(x) {
            // Runs are merged, so end + 1 is never the start of another run.
            Some((_, end)) => end.checked_add(1),
            None => Some(x),
        }
    }

    /// Iterates the members in ascending order (for tests and debugging).
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.runs.iter().flat_map(|(&s, &e)| s..=e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn adjacent_inserts_merge_into_one_run() {
        let mut s = IntervalSet::new();
        for x in [5, 7, 6, 4, 8] {
            assert!(s.insert(x));
        }
        assert_eq!(s.runs(), 1);
        assert_eq!(s.len(), 5);
        assert!(!s.insert(6));
        assert_eq!(s.first_free_from(0), Some(0));
        assert_eq!(s.first_free_from(4), Some(9));
    }

    #[test]
    fn removing_from_the_middle_splits_a_run() {
        let mut s = IntervalSet::new();
        for x in 0..10 {
            s.insert(x);
        }
        assert!(s.remove(4));
        assert!(!s.remove(4));
        assert_eq!(s.runs(), 2);
        assert_eq!(s.first_free_from(0), Some(4));
        assert_eq!(s.first_free_from(5), Some(10));
    }

    #[test]
    fn the_extremes_of_u128_do_not_overflow() {
        let mut s = IntervalSet::new();
        assert!(s.insert(u128::MAX));
        assert!(s.insert(0));
        assert_eq!(s.first_free_from(u128::MAX), None);
        assert_eq!(s.first_free_from(0), Some(1));
        assert!(s.insert(u128::MAX - 1));
        assert_eq!(s.runs(), 2);
        assert!(s.remove(u128::MAX));
        assert_eq!(s.first_free_from(u128::MAX), Some(u128::MAX));
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u128..64), 0..200)) {
            let mut s = IntervalSet::new();
            let mut model = BTreeSet::new();
            for (ins, x) in ops {
                if ins {
                    prop_assert_eq!(s.insert(x), model.insert(x));
                } else {
                    prop_assert_eq!(s.remove(x), model.remove(&x));
                }
                prop_assert_eq!(s.len(), model.len() as u128);
                for probe in 0u128..66 {
                    let expected = (probe..).find(|v| !model.contains(v));
                    prop_assert_eq!(s.first_free_from(probe), expected);
                }
            }
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), model.into_iter().collect::<Vec<_>>());
        }
    }
}
