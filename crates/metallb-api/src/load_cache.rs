//! Reusing per-file parses across reloads.

use crate::diag::{Diagnostic, Diagnostics, LoadErrors, Source};
use crate::load::{config_files, ItemRecords, Loader, Objects, Options};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Parse results per file, reused while a file's size and modification time
/// stay the same, so a reload after editing one file of a large
/// configuration re-reads only that file; after [`LoadCache::invalidate`]
/// every file is re-read and re-parsed only if its content changed.
/// Holds one configuration's files (always use it with the same
/// [`Options`]).
#[derive(Debug, Default)]
pub struct LoadCache {
    files: BTreeMap<PathBuf, CachedFile>,
    /// Size and mtime are not trusted on the next call.
    verify: bool,
    parses: u64,
    item_parses: u64,
}

impl LoadCache {
    /// Makes the next [`load_cached`] re-read every file and compare its
    /// content with what was parsed: size and modification time miss an
    /// edit that keeps the length and restores the mtime (`rsync -t`,
    /// `touch -r`), so an explicit reload (SIGHUP) must not trust them.
    /// A file whose content is unchanged keeps its parse.
    pub fn invalidate(&mut self) {
        self.verify = true;
    }

    /// How many file parses this cache has done (a reused parse is not
    /// counted).
    pub fn parses(&self) -> u64 {
        self.parses
    }

    /// How many `kind: List` items this cache has parsed: when a List file
    /// changes, only the items whose text changed are parsed again.
    pub fn item_parses(&self) -> u64 {
        self.item_parses
    }
}

#[derive(Debug)]
struct CachedFile {
    modified: Option<std::time::SystemTime>,
    len: u64,
    /// Hash of the content that was parsed.
    hash: u64,
    result: Result<Objects, Vec<Diagnostic>>,
    /// The Services of the file's List items by item text hash (see
    /// [`Loader::with_items`]), shared with `result`.
    items: ItemRecords,
}

/// See [`crate::fast_hash`] for why an unkeyed fast hash is enough.
fn content_hash(text: &str) -> u64 {
    crate::fast_hash::hash_str(text)
}

/// [`load_with`], reusing the parse of every file that did not change since
/// the last call with the same `cache`. Duplicate objects across files are
/// still reported, as [`load_with`] does.
pub fn load_cached(
    path: impl AsRef<Path>,
    opts: &Options,
    cache: &mut LoadCache,
) -> Result<Objects, LoadErrors> {
    let path = path.as_ref();
    let files = config_files(path)?;
    cache.files.retain(|p, _| files.contains(p));
    for file in &files {
        let meta = std::fs::metadata(file).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        let len = meta.as_ref().map_or(0, |m| m.len());
        if let Some(c) = cache.files.get(file) {
            let same = c.modified == modified && c.len == len && modified.is_some();
            if same && !cache.verify {
                continue;
            }
        }
        let previous = cache
            .files
            .get_mut(file)
            .map(|c| std::mem::take(&mut c.items))
            .unwrap_or_default();
        let (len, hash, result, items) = match std::fs::read_to_string(file) {
            Ok(text) => {
                let (len, hash) = (text.len() as u64, content_hash(&text));
                // Same content as what was parsed: the parse stands (only a
                // successful one: errors are cheap to redo).
                if let Some(c) = cache.files.get_mut(file) {
                    if c.hash == hash && c.len == len && c.result.is_ok() {
                        c.modified = modified;
                        c.items = previous;
                        continue;
                    }
                }
                cache.parses += 1;
                let mut loader = Loader::with_items(opts, previous);
                loader.add_str(&text, file);
                cache.item_parses += loader.item_parses();
                let (result, items) = loader.finish_with_items();
                (len, hash, result.map_err(|d| d.errors), items)
            }
            Err(e) => (
                len,
                0,
                Err(vec![Diagnostic::new(
                    None,
                    None,
                    "",
                    format!("{}: {e}", file.display()),
                )]),
                previous,
            ),
        };
        cache.files.insert(
            file.clone(),
            CachedFile {
                modified,
                len,
                hash,
                result,
                items,
            },
        );
    }
    cache.verify = false;

    // Merge in file order, finding duplicates across files.
    let mut out = Objects::default();
    let mut errors = Vec::new();
    // Borrowed keys: nothing is allocated per object. Hashed with the
    // fast fixed hash (see `fast_hash`: local input, a collision costs only
    // a compare): with Services in two files every one of 100k is inserted,
    // and SipHash was most of that.
    let mut seen: HashMap<(&str, &str, &str), &Source, crate::fast_hash::FastBuild> =
        HashMap::default();
    // A kind found in one file only has no duplicate across files (those
    // within a file were found by its load): copied without the map.
    let loaded: Vec<&Objects> = files
        .iter()
        .filter_map(|f| cache.files.get(f)?.result.as_ref().ok())
        .collect();
    macro_rules! in_one_file {
        ($field:ident) => {
            loaded.iter().filter(|o| !o.$field.is_empty()).count() <= 1
        };
    }
    let single = [
        in_one_file!(ip_address_pools),
        in_one_file!(l2_advertisements),
        in_one_file!(bgp_advertisements),
        in_one_file!(bgp_peers),
        in_one_file!(bfd_profiles),
        in_one_file!(communities),
        in_one_file!(services),
        in_one_file!(secrets),
        in_one_file!(nodes),
        in_one_file!(namespaces),
        in_one_file!(endpoint_slices),
    ];
    macro_rules! merge {
        ($objs:expr, $field:ident, $kind:expr, $single:expr) => {
            if single[$single] {
                out.$field.extend($objs.$field.iter().cloned());
            } else {
                for o in &$objs.$field {
                    let key = ($kind, o.namespace.as_str(), o.name.as_str());
                    if let Some(first) = seen.get(&key) {
                        errors.push(Diagnostic::new(
                            Some(o.object_ref($kind)),
                            Some(o.source.clone()),
                            "metadata.name",
                            format!("duplicate object: already defined in {first}"),
                        ));
                        continue;
                    }
                    seen.insert(key, &o.source);
                    out.$field.push(o.clone());
                }
            }
        };
    }
    for file in &files {
        let Some(c) = cache.files.get(file) else {
            continue;
        };
        match &c.result {
            Err(e) => errors.extend(e.iter().cloned()),
            Ok(objs) => {
                merge!(objs, ip_address_pools, "IPAddressPool", 0);
                merge!(objs, l2_advertisements, "L2Advertisement", 1);
                merge!(objs, bgp_advertisements, "BGPAdvertisement", 2);
                merge!(objs, bgp_peers, "BGPPeer", 3);
                merge!(objs, bfd_profiles, "BFDProfile", 4);
                merge!(objs, communities, "Community", 5);
                merge!(objs, services, "Service", 6);
                merge!(objs, secrets, "Secret", 7);
                merge!(objs, nodes, "Node", 8);
                merge!(objs, namespaces, "Namespace", 9);
                merge!(objs, endpoint_slices, "EndpointSlice", 10);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics {
            errors,
            warnings: Vec::new(),
        })
    }
}
