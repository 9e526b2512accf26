//! Conservative disjointness of label selectors: used to decide whether two
//! objects' nodeSelectors can select a common node.

use allocator::{LabelSelector, Operator};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
struct KeyConstraint<'a> {
    /// Allowed values (None = any).
    allowed: Option<BTreeSet<&'a str>>,
    excluded: BTreeSet<&'a str>,
    must_exist: bool,
    must_not_exist: bool,
}

impl<'a> KeyConstraint<'a> {
    fn allow(&mut self, values: impl IntoIterator<Item = &'a str>) {
        let set: BTreeSet<&str> = values.into_iter().collect();
        self.allowed = Some(match self.allowed.take() {
            None => set,
            Some(prev) => prev.intersection(&set).copied().collect(),
        });
        self.must_exist = true;
    }
    fn impossible(&self) -> bool {
        if self.must_not_exist && self.must_exist {
            return true;
        }
        self.allowed
            .as_ref()
            .is_some_and(|a| a.iter().all(|v| self.excluded.contains(v)))
    }
}

/// True if provably no label set satisfies both selectors.
pub fn selectors_disjoint(a: &LabelSelector, b: &LabelSelector) -> bool {
    let mut keys: BTreeMap<&str, KeyConstraint> = BTreeMap::new();
    for s in [a, b] {
        for (k, v) in &s.match_labels {
            keys.entry(k).or_default().allow([v.as_str()]);
        }
        for r in &s.match_expressions {
            let c = keys.entry(&r.key).or_default();
            match r.operator {
                Operator::In => c.allow(r.values.iter().map(String::as_str)),
                Operator::NotIn => c.excluded.extend(r.values.iter().map(String::as_str)),
                Operator::Exists => c.must_exist = true,
                Operator::DoesNotExist => c.must_not_exist = true,
            }
        }
    }
    keys.values().any(KeyConstraint::impossible)
}

/// True unless two OR-lists of selectors (empty = everything) are provably
/// disjoint.
pub fn lists_overlap(a: &[LabelSelector], b: &[LabelSelector]) -> bool {
    let all = [LabelSelector::default()];
    let a = if a.is_empty() { &all[..] } else { a };
    let b = if b.is_empty() { &all[..] } else { b };
    a.iter()
        .any(|x| b.iter().any(|y| !selectors_disjoint(x, y)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator::LabelSelectorRequirement;

    fn expr(key: &str, operator: Operator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn different_values_for_one_key_are_disjoint() {
        let a = LabelSelector::labels([("rack", "a")]);
        let b = LabelSelector::labels([("rack", "b")]);
        assert!(selectors_disjoint(&a, &b));
        assert!(!lists_overlap(std::slice::from_ref(&a), &[b]));
        assert!(lists_overlap(&[a], &[]));
    }

    #[test]
    fn unrelated_keys_overlap() {
        let a = LabelSelector::labels([("rack", "a")]);
        let b = LabelSelector::labels([("zone", "b")]);
        assert!(!selectors_disjoint(&a, &b));
    }

    #[test]
    fn set_operators_are_taken_into_account() {
        let a = expr("rack", Operator::In, &["a", "b"]);
        assert!(selectors_disjoint(
            &a,
            &expr("rack", Operator::NotIn, &["a", "b"])
        ));
        assert!(!selectors_disjoint(
            &a,
            &expr("rack", Operator::NotIn, &["a"])
        ));
        assert!(selectors_disjoint(
            &a,
            &expr("rack", Operator::DoesNotExist, &[])
        ));
        assert!(!selectors_disjoint(
            &a,
            &expr("rack", Operator::In, &["b", "c"])
        ));
    }
}
