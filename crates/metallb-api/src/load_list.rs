//! Loading a `kind: List` file cut by [`list_split::split`] item by item:
//! the strict fast parse of its Services (in parallel), the reuse of
//! unchanged items from the previous load, and the full parse of the rest.

use super::{str_field, Loaded, Loader};
use crate::diag::Source;
use crate::fast_service;
use crate::list_split;
use crate::service::ServiceRecord;
use serde_yaml_ng::Value;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

/// Below this many items per thread, a List is parsed on one thread.
const ITEMS_PER_THREAD: usize = 2048;

/// Parses the List items `todo` with the strict fast path
/// ([`fast_service::parse`]), on up to as many threads as there are CPUs,
/// each taking a contiguous run of `todo`. The result has one slot per
/// item of `split`: the record, or None where the fast path declined or
/// the item was not in `todo`. Only the parse runs in parallel; the
/// caller takes the results in file order, so duplicates and errors come
/// out as from a sequential load.
fn parse_items(
    split: &list_split::SplitList<'_>,
    todo: &[usize],
    file: &Arc<Path>,
) -> Vec<Option<Arc<Loaded<ServiceRecord>>>> {
    let one = |i: usize| {
        let f = fast_service::parse_item(split.item_body(i)?, || split.item(i))?;
        Some(Arc::new(Loaded {
            name: f.name,
            namespace: f.namespace,
            labels: f.labels,
            source: Source {
                file: file.clone(),
                doc: 1,
                item: Some(crate::diag::index(i)),
            },
            spec: ServiceRecord::from_fields(f.fields),
        }))
    };
    let mut out: Vec<Option<Arc<Loaded<ServiceRecord>>>> = vec![None; split.len()];
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(todo.len() / ITEMS_PER_THREAD)
        .max(1);
    if threads == 1 {
        for &i in todo {
            out[i] = one(i);
        }
        return out;
    }
    let chunk = todo.len().div_ceil(threads);
    let parsed: Vec<Vec<Option<Arc<Loaded<ServiceRecord>>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|&i| one(i)).collect::<Vec<_>>()))
            .collect();
        // A worker that panicked leaves its items to the full parse.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (part, results) in todo.chunks(chunk).zip(parsed) {
        for (&i, r) in part.iter().zip(results) {
            out[i] = r;
        }
    }
    out
}

impl Loader<'_> {
    /// Loads a List cut by [`list_split::split`], one item at a time.
    /// False (with objects possibly added) if a part does not parse alone
    /// or the document is not a `v1` List.
    pub(super) fn add_split(
        &mut self,
        split: &list_split::SplitList<'_>,
        file: &Arc<Path>,
    ) -> bool {
        let Ok(v) = serde_yaml_ng::from_str::<Value>(&split.rest) else {
            return false;
        };
        let is_list = str_field(&v, "apiVersion") == Some("v1")
            && str_field(&v, "kind") == Some("List")
            && matches!(v.get("items"), Some(Value::Sequence(s)) if s.is_empty());
        if !is_list {
            return false;
        }
        let n = split.len();
        self.seen.reserve(n);
        let hashes: Vec<Option<u64>> = if self.items.is_some() {
            (0..n).map(|i| split.item_hash(i)).collect()
        } else {
            Vec::new()
        };
        let hash_of = |i: usize| hashes.get(i).copied().flatten();
        // The items not taken from the previous load, parsed up front (on
        // several threads for a large List) by the strict fast path.
        let todo: Vec<usize> = (0..n)
            .filter(|&i| match (hash_of(i), self.items.as_ref()) {
                (Some(h), Some(items)) => !items.previous.contains_key(&h),
                _ => true,
            })
            .collect();
        let mut fast = parse_items(split, &todo, file);
        let source = Source {
            file: file.clone(),
            doc: 1,
            item: None,
        };
        for i in 0..n {
            let src = Source {
                item: Some(crate::diag::index(i)),
                ..source.clone()
            };
            let hash = hash_of(i);
            if let Some(h) = hash {
                if self.reuse_item(h, &src) {
                    continue;
                }
            }
            let (services, errors) = (self.objects.services.len(), self.errors.len());
            if let Some(rec) = fast.get_mut(i).and_then(Option::take) {
                self.item_parses += 1;
                if self.check_identity("Service", &rec.namespace, &rec.name, &src) {
                    self.objects.services.push(rec);
                }
            } else {
                // Declined by the fast path: the full parse decides, and
                // words any error.
                let Some(item) = split.value(i) else {
                    return false;
                };
                self.item_parses += 1;
                self.add_value(item, src);
            }
            // One Service and no error from this item: remembered for the
            // next load of this file.
            let one = self.objects.services.len() == services + 1 && self.errors.len() == errors;
            if let (Some(h), true) = (hash, one) {
                if let Some(rec) = self.objects.services.last() {
                    let key = self
                        .identity
                        .hash_one(("Service", &rec.namespace, &rec.name));
                    if let Some(items) = self.items.as_mut() {
                        items.kept.insert(h, (rec.clone(), key));
                    }
                }
            }
        }
        true
    }

    /// Takes the Service of an unchanged List item (same text hash) from
    /// the previous load of the file instead of parsing it again. The
    /// duplicate check runs as for a parsed item.
    fn reuse_item(&mut self, hash: u64, src: &Source) -> bool {
        let Some(items) = self.items.as_mut() else {
            return false;
        };
        let Some((old, key)) = items.previous.get(&hash) else {
            return false;
        };
        let key = *key;
        // Same text at another index: the same record, placed where it is now.
        let rec = if old.source == *src {
            old.clone()
        } else {
            Arc::new(Loaded {
                source: src.clone(),
                ..(**old).clone()
            })
        };
        items.kept.insert(hash, (rec.clone(), key));
        if self.check_identity_key(key, "Service", &rec.namespace, &rec.name, src) {
            self.objects.services.push(rec);
        }
        true
    }
}
