//! Reusing per-file parses across reloads.

use crate::diag::{Diagnostic, Diagnostics, LoadErrors, Source};
use crate::load::{config_files, Loader, Objects, Options};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Parse results per file, reused while a file's size and modification time
/// stay the same, so a reload after editing one file of a large
/// configuration re-reads only that file. Holds one configuration's files
/// (always use it with the same [`Options`]).
#[derive(Debug, Default)]
pub struct LoadCache {
    files: BTreeMap<PathBuf, CachedFile>,
}

impl LoadCache {
    /// Forgets every parse, so the next [`load_cached`] re-reads and
    /// re-parses every file. Size and modification time miss an edit that
    /// keeps the length and restores the mtime (`rsync -t`, `touch -r`), so
    /// an explicit reload (SIGHUP) must not trust them.
    pub fn invalidate(&mut self) {
        self.files.clear();
    }
}

#[derive(Debug)]
struct CachedFile {
    modified: Option<std::time::SystemTime>,
    len: u64,
    result: Result<Objects, Vec<Diagnostic>>,
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
            if c.modified == modified && c.len == len && modified.is_some() {
                continue;
            }
        }
        let result = match std::fs::read_to_string(file) {
            Ok(text) => {
                let mut loader = Loader::new(opts);
                loader.add_str(&text, file);
                loader.finish().map_err(|d| d.errors)
            }
            Err(e) => Err(vec![Diagnostic::new(
                None,
                None,
                "",
                format!("{}: {e}", file.display()),
            )]),
        };
        cache.files.insert(
            file.clone(),
            CachedFile {
                modified,
                len,
                result,
            },
        );
    }

    // Merge in file order, finding duplicates across files.
    let mut out = Objects::default();
    let mut errors = Vec::new();
    let mut seen: HashMap<(String, String, String), Source> = HashMap::new();
    macro_rules! merge {
        ($objs:expr, $field:ident, $kind:expr) => {
            for o in &$objs.$field {
                let key = ($kind.to_string(), o.namespace.clone(), o.name.clone());
                if let Some(first) = seen.get(&key) {
                    errors.push(Diagnostic::new(
                        Some(o.object_ref($kind)),
                        Some(o.source.clone()),
                        "metadata.name",
                        format!("duplicate object: already defined in {first}"),
                    ));
                    continue;
                }
                seen.insert(key, o.source.clone());
                out.$field.push(o.clone());
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
                merge!(objs, ip_address_pools, "IPAddressPool");
                merge!(objs, l2_advertisements, "L2Advertisement");
                merge!(objs, bgp_advertisements, "BGPAdvertisement");
                merge!(objs, bgp_peers, "BGPPeer");
                merge!(objs, bfd_profiles, "BFDProfile");
                merge!(objs, communities, "Community");
                merge!(objs, services, "Service");
                merge!(objs, secrets, "Secret");
                merge!(objs, nodes, "Node");
                merge!(objs, namespaces, "Namespace");
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
