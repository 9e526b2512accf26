//! `IPAddressPool` specs, their validation, and the validated [`Pool`].

use crate::family::{to_u128, Family};
use crate::selector::{LabelSelector, Labels};
use crate::space::Space;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use thiserror::Error;

/// An `IPAddressPool`: its name (`metadata.name`) and spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddressPool {
    /// `metadata.name`.
    pub name: String,
    /// `spec`.
    pub spec: PoolSpec,
}

/// Mirrors MetalLB's `IPAddressPool.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    /// CIDRs (`10.0.0.0/24`, host bits masked) or ranges (`a-b`), IPv4 and
    /// IPv6 mixed.
    pub addresses: Vec<String>,
    /// Whether the pool is used for services that name no pool/IP.
    #[serde(default = "default_true")]
    pub auto_assign: bool,
    /// Never hand out IPv4 addresses ending in .0 or .255.
    #[serde(default, rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: bool,
    /// Restricts and orders the pool for matching services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

fn default_true() -> bool {
    true
}

/// Mirrors `spec.serviceAllocation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Lower is preferred; 0 (unset) sorts after every positive priority.
    #[serde(default)]
    pub priority: i32,
    /// Namespaces allowed to use the pool.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces (by their labels) allowed to use the pool.
    #[serde(default)]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Services (by their labels) allowed to use the pool; OR across selectors.
    #[serde(default)]
    pub service_selectors: Vec<LabelSelector>,
}

impl PoolSpec {
    /// A pool with the given addresses and default settings.
    pub fn new<S: Into<String>>(addresses: impl IntoIterator<Item = S>) -> Self {
        PoolSpec {
            addresses: addresses.into_iter().map(Into::into).collect(),
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        }
    }
}

impl IpAddressPool {
    /// Convenience constructor.
    pub fn new(name: impl Into<String>, spec: PoolSpec) -> Self {
        IpAddressPool {
            name: name.into(),
            spec,
        }
    }
}

/// A configuration error. Each names the pool and the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `metadata.name` is empty.
    #[error("IPAddressPool {pool:?}: metadata.name: must not be empty")]
    EmptyName {
        /// The pool.
        pool: String,
    },
    /// Two pools have the same name.
    #[error("IPAddressPool {pool:?}: metadata.name: duplicate pool name")]
    DuplicatePool {
        /// The pool.
        pool: String,
    },
    /// `spec.addresses` is empty.
    #[error("IPAddressPool {pool:?}: spec.addresses: pool has no prefixes defined")]
    NoAddresses {
        /// The pool.
        pool: String,
    },
    /// An address entry does not parse, or is a range with start after end.
    #[error("IPAddressPool {pool:?}: spec.addresses[{index}]: {value:?}: {reason}")]
    InvalidAddress {
        /// The pool.
        pool: String,
        /// Index in `spec.addresses`.
        index: usize,
        /// The entry as written.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Two entries (of the same or different pools) share addresses.
    #[error(
        "IPAddressPool {pool:?}: spec.addresses[{index}]: {value:?} overlaps with IPAddressPool {other_pool:?}: spec.addresses[{other_index}]: {other_value:?}"
    )]
    Overlap {
        /// The pool whose entry was found overlapping.
        pool: String,
        /// Index of its entry.
        index: usize,
        /// The entry as written.
        value: String,
        /// The other pool.
        other_pool: String,
        /// Index of the other entry.
        other_index: usize,
        /// The other entry as written.
        other_value: String,
    },
    /// A namespace appears twice in `serviceAllocation.namespaces`.
    #[error(
        "IPAddressPool {pool:?}: spec.serviceAllocation.namespaces[{index}]: duplicate definition in namespaces field: {namespace:?}"
    )]
    DuplicateNamespace {
        /// The pool.
        pool: String,
        /// Index of the duplicate.
        index: usize,
        /// The namespace.
        namespace: String,
    },
    /// A label selector is malformed or duplicated.
    #[error("IPAddressPool {pool:?}: spec.serviceAllocation.{field}: {reason}")]
    InvalidSelector {
        /// The pool.
        pool: String,
        /// e.g. `serviceSelectors[0].matchExpressions[1].values`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The IPv6 part of the pool holds 2^128 addresses (`::/0`).
    #[error(
        "IPAddressPool {pool:?}: spec.addresses: the pool's IPv6 addresses number 2^128, which cannot be counted; split it"
    )]
    TooLarge {
        /// The pool.
        pool: String,
    },
}

/// One parsed `spec.addresses` entry: an inclusive range of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) family: Family,
    pub(crate) first: u128,
    pub(crate) last: u128,
}

/// Parses one `spec.addresses` entry. Errors are the reason text only.
pub(crate) fn parse_entry(raw: &str) -> Result<Entry, String> {
    let text = raw.trim();
    if let Some((a, b)) = text.split_once('-') {
        let start: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("invalid IP range: invalid start IP {:?}", a.trim()))?;
        let end: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| format!("invalid IP range: invalid end IP {:?}", b.trim()))?;
        let family = Family::of(&start);
        if family != Family::of(&end) {
            return Err("invalid IP range: start and end are of different IP families".into());
        }
        let (first, last) = (to_u128(&start), to_u128(&end));
        if first > last {
            return Err(format!("start is after end ({start} > {end})"));
        }
        return Ok(Entry {
            family,
            first,
            last,
        });
    }
    let net: IpNet = text.parse().map_err(|_| {
        if text.parse::<IpAddr>().is_ok() {
            "invalid CIDR: a single address must be written with a prefix length (/32 or /128)"
                .to_string()
        } else {
            "invalid CIDR".to_string()
        }
    })?;
    let net = net.trunc();
    let (first, last) = (to_u128(&net.network()), to_u128(&net.broadcast()));
    Ok(Entry {
        family: Family::of(&net.network()),
        first,
        last,
    })
}

/// A validated pool, ready for allocation.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(crate) name: String,
    pub(crate) spec: PoolSpec,
    /// Parsed entries, in spec order (index = spec index).
    pub(crate) entries: Vec<Entry>,
    /// Slot spaces, `[v4, v6]`.
    pub(crate) spaces: [Space; 2],
}

impl Pool {
    /// The pool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The spec the pool was built from.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// True if the pool has at least one usable address of `family`.
    pub fn has_family(&self, family: Family) -> bool {
        self.spaces[family.index()].total() > 0
    }

    /// True if the pool has an entry of `family` at all (even one left empty
    /// by `avoidBuggyIPs`).
    pub(crate) fn declares_family(&self, family: Family) -> bool {
        self.entries.iter().any(|e| e.family == family)
    }

    /// True if the pool would hand out `ip` (inside an entry and, with
    /// `avoidBuggyIPs`, not ending in .0/.255).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.space(Family::of(ip)).slot_of(to_u128(ip)).is_some()
    }

    pub(crate) fn space(&self, family: Family) -> &Space {
        &self.spaces[family.index()]
    }

    /// True if the pool has a `serviceAllocation` ("pinned" pool).
    pub fn is_pinned(&self) -> bool {
        self.spec.service_allocation.is_some()
    }

    /// MetalLB's `isPoolCompatibleWithService`: the namespace restriction
    /// (namespaces + namespaceSelectors) and the service selectors (OR) must
    /// both allow the service. A pool without `serviceAllocation`, or with an
    /// empty one, allows every service.
    pub fn allows(&self, namespace: &str, namespace_labels: &Labels, labels: &Labels) -> bool {
        let Some(sa) = &self.spec.service_allocation else {
            return true;
        };
        let ns_restricted = !sa.namespaces.is_empty() || !sa.namespace_selectors.is_empty();
        if ns_restricted
            && !sa.namespaces.iter().any(|n| n == namespace)
            && !sa
                .namespace_selectors
                .iter()
                .any(|s| s.matches(namespace_labels))
        {
            return false;
        }
        sa.service_selectors.is_empty() || sa.service_selectors.iter().any(|s| s.matches(labels))
    }

    /// Sort key among pinned pools: positive priorities ascending, then
    /// priority 0 (or negative, i.e. unset), then the name.
    pub(crate) fn order_key(&self) -> (bool, i32, &str) {
        let p = self
            .spec
            .service_allocation
            .as_ref()
            .map_or(0, |s| s.priority);
        if p > 0 {
            (false, p, &self.name)
        } else {
            (true, 0, &self.name)
        }
    }
}

fn check_selectors(pool: &str, kind: &str, sels: &[LabelSelector]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, sel) in sels.iter().enumerate() {
        sel.validate().map_err(|msg| {
            let (field, reason) = msg.split_once(": ").unwrap_or(("", msg.as_str()));
            ConfigError::InvalidSelector {
                pool: pool.into(),
                field: format!("{kind}[{i}].{field}"),
                reason: reason.to_string(),
            }
        })?;
        if !seen.insert(sel) {
            return Err(ConfigError::InvalidSelector {
                pool: pool.into(),
                field: format!("{kind}[{i}]"),
                reason: format!("duplicate definition of {kind}"),
            });
        }
    }
    Ok(())
}

fn build_pool(p: &IpAddressPool) -> Result<Pool, ConfigError> {
    let pool = &p.name;
    if pool.is_empty() {
        return Err(ConfigError::EmptyName { pool: pool.clone() });
    }
    if p.spec.addresses.is_empty() {
        return Err(ConfigError::NoAddresses { pool: pool.clone() });
    }
    let mut entries = Vec::with_capacity(p.spec.addresses.len());
    for (index, raw) in p.spec.addresses.iter().enumerate() {
        let entry = parse_entry(raw).map_err(|reason| ConfigError::InvalidAddress {
            pool: pool.clone(),
            index,
            value: raw.clone(),
            reason,
        })?;
        entries.push(entry);
    }
    if let Some(sa) = &p.spec.service_allocation {
        let mut seen = BTreeSet::new();
        for (index, ns) in sa.namespaces.iter().enumerate() {
            if !seen.insert(ns) {
                return Err(ConfigError::DuplicateNamespace {
                    pool: pool.clone(),
                    index,
                    namespace: ns.clone(),
                });
            }
        }
        check_selectors(pool, "namespaceSelectors", &sa.namespace_selectors)?;
        check_selectors(pool, "serviceSelectors", &sa.service_selectors)?;
    }
    let space = |family: Family| {
        let ranges: Vec<(u128, u128)> = entries
            .iter()
            .filter(|e| e.family == family)
            .map(|e| (e.first, e.last))
            .collect();
        Space::new(family, p.spec.avoid_buggy_ips, &ranges)
            .map_err(|_| ConfigError::TooLarge { pool: pool.clone() })
    };
    let spaces = [space(Family::V4)?, space(Family::V6)?];
    Ok(Pool {
        name: pool.clone(),
        spec: p.spec.clone(),
        entries,
        spaces,
    })
}

/// Validates a set of pools: each pool on its own, unique names, and no
/// overlap between any two entries (of the same or different pools).
/// Overlaps are checked before the 2^128 size limit so the user sees the
/// more useful error first. O(e log e) in the number of entries.
pub fn validate_pools(pools: &[IpAddressPool]) -> Result<BTreeMap<String, Pool>, ConfigError> {
    let mut out = BTreeMap::new();
    // (family, first, last, pool index, entry index)
    let mut all: Vec<(Family, u128, u128, usize, usize)> = Vec::new();
    for (pi, p) in pools.iter().enumerate() {
        // Parse entries first so overlap errors come before size errors.
        for (ei, raw) in p.spec.addresses.iter().enumerate() {
            if let Ok(e) = parse_entry(raw) {
                all.push((e.family, e.first, e.last, pi, ei));
            }
        }
    }
    for p in pools {
        let built = match build_pool(p) {
            Err(ConfigError::TooLarge { .. }) => None,
            other => Some(other?),
        };
        if out.contains_key(&p.name) {
            return Err(ConfigError::DuplicatePool {
                pool: p.name.clone(),
            });
        }
        if let Some(b) = built {
            out.insert(p.name.clone(), b);
        }
    }
    all.sort();
    // Sweep: remember the entry reaching furthest so far within a family.
    let mut reach: Option<(Family, u128, usize, usize)> = None;
    for &(family, first, last, pi, ei) in &all {
        if let Some((f, end, rpi, rei)) = reach {
            if f == family && first <= end {
                let (a, b) = ((pi, ei), (rpi, rei));
                // Name the later pool first (in spec order), deterministically.
                let ((pi, ei), (opi, oei)) = if a > b { (a, b) } else { (b, a) };
                return Err(ConfigError::Overlap {
                    pool: pools[pi].name.clone(),
                    index: ei,
                    value: pools[pi].spec.addresses[ei].clone(),
                    other_pool: pools[opi].name.clone(),
                    other_index: oei,
                    other_value: pools[opi].spec.addresses[oei].clone(),
                });
            }
        }
        if !reach.is_some_and(|(f, end, _, _)| f == family && last <= end) {
            reach = Some((family, last, pi, ei));
        }
    }
    if let Some(p) = pools.iter().find(|p| !out.contains_key(&p.name)) {
        return Err(ConfigError::TooLarge {
            pool: p.name.clone(),
        });
    }
    Ok(out)
}
