//! Kubernetes label selectors (`matchLabels` + `matchExpressions`).
//!
//! The serde shape matches Kubernetes' JSON/YAML (`metav1.LabelSelector`), so
//! MetalLB YAML deserializes straight into [`LabelSelector`]. An empty
//! selector matches everything, as `metav1.LabelSelectorAsSelector` does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Labels of an object: key -> value, ordered so iteration is deterministic.
pub type Labels = BTreeMap<String, String>;

/// A label selector: all `matchLabels` and all `matchExpressions` must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact key=value requirements.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the key relates to `values`.
    pub operator: Operator,
    /// Values for `In` / `NotIn`; must be empty for `Exists` / `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A label selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present (any value).
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        })
    }
}

impl LabelSelector {
    /// A selector with only `matchLabels`.
    pub fn labels<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        LabelSelector {
            match_labels: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// True when the selector has no requirement (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Checks the selector is well formed, as Kubernetes' validation does:
    /// `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` none.
    /// The error names the offending field relative to the selector.
    pub fn validate(&self) -> Result<(), String> {
        for (i, req) in self.match_expressions.iter().enumerate() {
            match req.operator {
                Operator::In | Operator::NotIn if req.values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}].values: must be specified when `operator` is 'In' or 'NotIn'"
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !req.values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    ));
                }
                _ => {}
            }
            if req.key.is_empty() {
                return Err(format!("matchExpressions[{i}].key: must not be empty"));
            }
        }
        Ok(())
    }

    /// True if `labels` satisfies every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl LabelSelectorRequirement {
    /// True if `labels` satisfies this requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => !value.is_some_and(|v| self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_selector_matches_everything() {
        assert!(LabelSelector::default().matches(&Labels::new()));
        assert!(LabelSelector::default().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_require_every_pair() {
        let sel = LabelSelector::labels([("app", "web"), ("tier", "front")]);
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn each_operator_follows_kubernetes_semantics() {
        let yaml_like = r#"{"matchExpressions":[
            {"key":"env","operator":"In","values":["prod","staging"]},
            {"key":"team","operator":"NotIn","values":["blue"]},
            {"key":"owner","operator":"Exists"},
            {"key":"legacy","operator":"DoesNotExist"}]}"#;
        let sel: LabelSelector = serde_json::from_str(yaml_like).unwrap();
        assert!(sel.validate().is_ok());
        assert!(sel.matches(&labels(&[("env", "prod"), ("owner", "me")])));
        assert!(sel.matches(&labels(&[
            ("env", "staging"),
            ("owner", "me"),
            ("team", "red")
        ])));
        assert!(!sel.matches(&labels(&[("env", "dev"), ("owner", "me")])));
        assert!(!sel.matches(&labels(&[
            ("env", "prod"),
            ("owner", "me"),
            ("team", "blue")
        ])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        assert!(!sel.matches(&labels(&[
            ("env", "prod"),
            ("owner", "me"),
            ("legacy", "1")
        ])));
    }

    #[test]
    fn malformed_expressions_are_rejected() {
        let sel: LabelSelector =
            serde_json::from_str(r#"{"matchExpressions":[{"key":"a","operator":"In"}]}"#).unwrap();
        assert!(sel
            .validate()
            .unwrap_err()
            .contains("matchExpressions[0].values"));
        let sel: LabelSelector = serde_json::from_str(
            r#"{"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}"#,
        )
        .unwrap();
        assert!(sel.validate().is_err());
        assert!(serde_json::from_str::<LabelSelector>(
            r#"{"matchExpressions":[{"key":"a","operator":"Maybe"}]}"#
        )
        .is_err());
    }
}
