//! The route table every session exports from: built once per change of
//! the routes, shared by all peers that carry the same routes.
//!
//! Prefixes are kept sorted in one vector with, aligned to it, the index
//! of each route's (interned) attributes, so 100k routes with the same
//! communities cost 100k prefixes plus 100k `u32`s and one attribute set.
//! A table built from a previous one remembers which prefixes differ from
//! it, so a peer moving from the previous generation to this one looks at
//! those prefixes only instead of comparing the whole table.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use ipnet::IpNet;

use super::RouteSpec;
use crate::attribute::{Community, LargeCommunity};

/// The session-independent attributes of a route, normalized: communities
/// sorted and without duplicates, so equal routes intern to one value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// Sent on iBGP sessions only; 100 when unset.
    pub local_pref: Option<u32>,
}

/// Every table gets a number no other table in the process has, so a peer
/// can tell "the table this one was built from" without holding it.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Sorted prefixes, each with its interned attributes (see module docs).
#[derive(Debug, Default)]
pub struct RouteTable {
    generation: u64,
    prefixes: Vec<IpNet>,
    /// `attrs[attr_ids[i]]` belongs to `prefixes[i]`.
    attr_ids: Vec<u32>,
    attrs: Vec<Arc<RouteAttrs>>,
    /// The generation this table was built from and the prefixes whose
    /// route differs from it (added, removed or changed), sorted. Kept only
    /// when that is a small part of the table; otherwise a peer compares
    /// the whole table, which costs the same.
    parent: Option<(u64, Vec<IpNet>)>,
}

impl RouteTable {
    /// An empty table.
    pub fn empty() -> Arc<RouteTable> {
        Arc::new(RouteTable::default())
    }

    /// Builds the table of `routes`. A prefix given twice keeps the union
    /// of its communities and the highest local preference. With `parent`,
    /// equal attribute sets reuse the parent's allocation and the table
    /// records which prefixes changed since it.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = &'a RouteSpec>,
        parent: Option<&RouteTable>,
    ) -> RouteTable {
        let mut sorted: Vec<&RouteSpec> = routes.into_iter().collect();
        sorted.sort_by_key(|r| r.prefix.trunc());
        let mut interned: HashMap<Arc<RouteAttrs>, u32> = HashMap::new();
        let mut attrs: Vec<Arc<RouteAttrs>> = Vec::new();
        let reuse: HashMap<&RouteAttrs, &Arc<RouteAttrs>> = parent
            .map(|p| p.attrs.iter().map(|a| (a.as_ref(), a)).collect())
            .unwrap_or_default();
        let mut prefixes = Vec::with_capacity(sorted.len());
        let mut attr_ids = Vec::with_capacity(sorted.len());
        let mut i = 0;
        while i < sorted.len() {
            let prefix = sorted[i].prefix.trunc();
            let mut j = i + 1;
            while j < sorted.len() && sorted[j].prefix.trunc() == prefix {
                j += 1;
            }
            let mut a = RouteAttrs {
                communities: sorted[i].communities.clone(),
                large_communities: sorted[i].large_communities.clone(),
                local_pref: sorted[i].local_pref,
            };
            for r in &sorted[i + 1..j] {
                a.communities.extend_from_slice(&r.communities);
                a.large_communities.extend_from_slice(&r.large_communities);
                a.local_pref = a.local_pref.max(r.local_pref);
            }
            a.communities.sort_unstable();
            a.communities.dedup();
            a.large_communities.sort_unstable();
            a.large_communities.dedup();
            let id = match interned.get(&a) {
                Some(id) => *id,
                None => {
                    let arc = match reuse.get(&a) {
                        Some(old) => Arc::clone(old),
                        None => Arc::new(a),
                    };
                    let id = u32::try_from(attrs.len()).unwrap_or(u32::MAX);
                    attrs.push(arc.clone());
                    interned.insert(arc, id);
                    id
                }
            };
            prefixes.push(prefix);
            attr_ids.push(id);
            i = j;
        }
        drop(reuse);
        let mut table = RouteTable {
            generation: GENERATION.fetch_add(1, AtomicOrdering::Relaxed),
            prefixes,
            attr_ids,
            attrs,
            parent: None,
        };
        if let Some(p) = parent {
            let mut changed = Vec::new();
            let small = (p.len().max(table.len()) / 4).max(64);
            let mut complete = true;
            merge_walk(p, &table, |prefix, old, new| {
                let old = old.and_then(|i| p.attrs_at(i));
                let new = new.and_then(|i| table.attrs_at(i));
                let same = match (old, new) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    if changed.len() >= small {
                        complete = false;
                        return false;
                    }
                    changed.push(prefix);
                }
                true
            });
            if complete {
                table.parent = Some((p.generation, changed));
            }
        }
        table
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The prefixes that differ from table `generation`, if this table was
    /// built from it and kept the list.
    pub fn changed_since(&self, generation: u64) -> Option<&[IpNet]> {
        match &self.parent {
            Some((g, changed)) if *g == generation => Some(changed),
            _ => None,
        }
    }

    /// The attributes of `prefix`, if the table has it.
    pub fn get(&self, prefix: &IpNet) -> Option<&Arc<RouteAttrs>> {
        let i = self.prefixes.binary_search(prefix).ok()?;
        self.attrs_at(i)
    }

    pub fn prefix_at(&self, i: usize) -> Option<&IpNet> {
        self.prefixes.get(i)
    }

    pub fn attrs_at(&self, i: usize) -> Option<&Arc<RouteAttrs>> {
        let id = *self.attr_ids.get(i)?;
        self.attrs.get(id as usize)
    }

    /// Index of the attribute set of entry `i` in [`attr_sets`](Self::attr_sets).
    pub fn attr_id_at(&self, i: usize) -> Option<u32> {
        self.attr_ids.get(i).copied()
    }

    /// The distinct attribute sets of the table.
    pub fn attr_sets(&self) -> &[Arc<RouteAttrs>] {
        &self.attrs
    }

    /// The index of the first prefix after `after` (0 for `None`).
    pub fn position_after(&self, after: Option<&IpNet>) -> usize {
        match after {
            None => 0,
            Some(p) => self.prefixes.partition_point(|x| x <= p),
        }
    }

    /// The index of the first prefix not below `from`.
    pub fn position_from(&self, from: &IpNet) -> usize {
        self.prefixes.partition_point(|x| x < from)
    }

    /// True if both tables hold the same routes (whatever their
    /// generations).
    pub fn same_routes(&self, other: &RouteTable) -> bool {
        self.prefixes == other.prefixes
            && (0..self.len()).all(|i| match (self.attrs_at(i), other.attrs_at(i)) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            })
    }

    pub fn prefixes(&self) -> &[IpNet] {
        &self.prefixes
    }
}

/// Calls `f(prefix, index in old, index in new)` for every prefix of
/// either table, in order, until `f` returns false.
pub(super) fn merge_walk(
    old: &RouteTable,
    new: &RouteTable,
    mut f: impl FnMut(IpNet, Option<usize>, Option<usize>) -> bool,
) {
    let (mut i, mut j) = (0, 0);
    loop {
        let (a, b) = (old.prefixes.get(i), new.prefixes.get(j));
        let go = match (a, b) {
            (None, None) => return,
            (Some(a), None) => {
                i += 1;
                f(*a, Some(i - 1), None)
            }
            (None, Some(b)) => {
                j += 1;
                f(*b, None, Some(j - 1))
            }
            (Some(a), Some(b)) => match a.cmp(b) {
                Ordering::Less => {
                    i += 1;
                    f(*a, Some(i - 1), None)
                }
                Ordering::Greater => {
                    j += 1;
                    f(*b, None, Some(j - 1))
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                    f(*a, Some(i - 1), Some(j - 1))
                }
            },
        };
        if !go {
            return;
        }
    }
}
