//! Reading YAML files into [`Objects`]: the file walk, the [`Loader`] and
//! its duplicate check (the per-kind dispatch is in `load_kinds.rs`, `kind:
//! List` files in `load_list.rs`).

use crate::diag::{Diagnostic, Diagnostics, LoadErrors, ObjectRef, Source};
use crate::endpoints::EndpointSliceRecord;
use crate::list_split;
use crate::service::ServiceRecord;
use crate::types::{
    BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, CommunitySpec, IpAddressPoolSpec,
    L2AdvertisementSpec,
};
use allocator::Labels;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The MetalLB namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// Options shared by loading and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The MetalLB namespace: `metallb.io` objects must be in it (or omit
    /// the namespace), and `passwordSecret`s are looked up in it.
    pub namespace: String,
    /// `--lb-class`: None handles only services without a class; Some(c)
    /// handles only services whose `spec.loadBalancerClass` is `c`.
    pub load_balancer_class: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: DEFAULT_NAMESPACE.into(),
            load_balancer_class: None,
        }
    }
}

/// One loaded object: identity, origin, labels and its spec (or, for core
/// `v1` kinds, the whole Kubernetes object).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, or the configured namespace (metallb.io kinds)
    /// / `default` (Services) / empty (cluster-scoped) when omitted.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// Where it was read from.
    pub source: Source,
    /// The spec (metallb.io kinds) or the full object (core kinds).
    pub spec: T,
}

impl<T> Loaded<T> {
    /// `Kind namespace/name` for messages.
    pub fn object_ref(&self, kind: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Everything read from the configuration files, not yet validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects {
    /// `IPAddressPool`s.
    pub ip_address_pools: Vec<Loaded<IpAddressPoolSpec>>,
    /// `L2Advertisement`s.
    pub l2_advertisements: Vec<Loaded<L2AdvertisementSpec>>,
    /// `BGPAdvertisement`s.
    pub bgp_advertisements: Vec<Loaded<BgpAdvertisementSpec>>,
    /// `BGPPeer`s, v1beta1 ones converted to the v1beta2 model.
    pub bgp_peers: Vec<Loaded<BgpPeerSpec>>,
    /// `BFDProfile`s.
    pub bfd_profiles: Vec<Loaded<BfdProfileSpec>>,
    /// `Community`s.
    pub communities: Vec<Loaded<CommunitySpec>>,
    /// `v1` Services (all types; validation keeps the LoadBalancer ones),
    /// as compact records: the parsed object is dropped after projection.
    /// Shared, so a reload merging cached files copies pointers only.
    pub services: Vec<Arc<Loaded<ServiceRecord>>>,
    /// `v1` Secrets.
    pub secrets: Vec<Loaded<Secret>>,
    /// `v1` Nodes.
    pub nodes: Vec<Loaded<Node>>,
    /// `v1` Namespaces.
    pub namespaces: Vec<Loaded<Namespace>>,
    /// `discovery.k8s.io/v1` EndpointSlices, as compact records.
    pub endpoint_slices: Vec<Loaded<EndpointSliceRecord>>,
    /// True when `endpoint_slices` is every slice of the cluster (the API
    /// server's list): a Service without one has no endpoint. False for
    /// files, which hold what the user put in them: without any slice the
    /// endpoints are unknown.
    pub endpoint_slices_complete: bool,
}

/// Loads a file (multi-document YAML) or a directory of `*.yaml`/`*.yml`
/// files (sorted by name) with the default [`Options`].
pub fn load(path: impl AsRef<Path>) -> Result<Objects, LoadErrors> {
    load_with(path, &Options::default())
}

/// [`load`] with explicit options. All errors are collected.
pub fn load_with(path: impl AsRef<Path>, opts: &Options) -> Result<Objects, LoadErrors> {
    let path = path.as_ref();
    let mut loader = Loader::new(opts);
    let files = config_files(path)?;
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => loader.add_str(&text, &file),
            Err(e) => loader.errors.push(Diagnostic::new(
                None,
                None,
                "",
                format!("{}: {e}", file.display()),
            )),
        }
    }
    loader.finish()
}

/// Loads YAML text; `name` is used as the file name in messages.
pub fn load_str(text: &str, name: &str, opts: &Options) -> Result<Objects, LoadErrors> {
    let mut loader = Loader::new(opts);
    loader.add_str(text, Path::new(name));
    loader.finish()
}

/// The files of a configuration, or the error naming the path.
pub(crate) fn config_files(path: &Path) -> Result<Vec<PathBuf>, LoadErrors> {
    list_files(path).map_err(|e| Diagnostics {
        errors: vec![Diagnostic::new(
            None,
            None,
            "",
            format!("{}: {e}", path.display()),
        )],
        warnings: Vec::new(),
    })
}

fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        let yaml = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// How much a [`Loader`] held before a file, to undo a failed fast path.
struct Mark {
    lens: [usize; 11],
    errors: usize,
}

#[path = "load_kinds.rs"]
mod kinds;
#[path = "load_list.rs"]
mod list;

pub(crate) struct Loader<'a> {
    opts: &'a Options,
    objects: Objects,
    errors: Vec<Diagnostic>,
    /// (kind, namespace, name) -> where first seen (hashed: at 100k
    /// objects a B-tree of string triples cost 15% of the load).
    /// Hashes of (kind, namespace, name) of the objects loaded, with how
    /// many have each hash. A hit is confirmed (and the first place found)
    /// by a scan of that kind's objects, so only a duplicate (an error)
    /// costs more than a lookup; no key strings are kept.
    seen: HashMap<u64, u32, PreHashed>,
    /// Unkeyed and fast: see [`crate::fast_hash`].
    identity: crate::fast_hash::FastBuild,
    /// The per-item cache of a List file, when loading through a
    /// [`crate::LoadCache`].
    items: Option<ItemCache>,
    /// How many List items were parsed (reused ones are not counted).
    item_parses: u64,
}

/// The Services of a List file's items, by the hash of the item's text,
/// each with the hash of its identity in the loader's duplicate set (so
/// that reusing an item does not read its name again).
pub(crate) type ItemRecords = HashMap<u64, (Arc<Loaded<ServiceRecord>>, u64), PreHashed>;

/// For maps whose keys are hashes already: the key is its own hash (a
/// second SipHash per lookup was a third of a 100k-item List reload).
pub(crate) type PreHashed = std::hash::BuildHasherDefault<KeyIsHash>;

/// The [`std::hash::Hasher`] of [`PreHashed`]: keeps the last `u64`
/// written.
#[derive(Default)]
pub(crate) struct KeyIsHash(u64);

impl std::hash::Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; folded in so any key still hashes.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What a [`Loader`] may reuse from a file's previous load, and what it
/// keeps for the next one.
#[derive(Debug, Default)]
pub(crate) struct ItemCache {
    /// From the previous load of the file: what may be reused.
    pub previous: ItemRecords,
    /// From this load: what the next load may reuse.
    pub kept: ItemRecords,
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

impl<'a> Loader<'a> {
    pub(crate) fn new(opts: &'a Options) -> Self {
        Loader {
            opts,
            objects: Objects::default(),
            errors: Vec::new(),
            seen: HashMap::default(),
            identity: Default::default(),
            items: None,
            item_parses: 0,
        }
    }

    /// A loader for one file that reuses the Services of unchanged List
    /// items from `previous` (see [`ItemCache`]).
    pub(crate) fn with_items(opts: &'a Options, previous: ItemRecords) -> Self {
        Loader {
            items: Some(ItemCache {
                kept: HashMap::with_capacity_and_hasher(previous.len(), PreHashed::default()),
                previous,
            }),
            ..Loader::new(opts)
        }
    }

    /// List items parsed so far.
    pub(crate) fn item_parses(&self) -> u64 {
        self.item_parses
    }

    /// [`Loader::finish`], also handing back the item cache: this load's
    /// items if it succeeded, else the previous ones (a bad edit then its
    /// fix costs one parse of the changed items).
    pub(crate) fn finish_with_items(mut self) -> (Result<Objects, LoadErrors>, ItemRecords) {
        let items = self.items.take().unwrap_or_default();
        let ok = self.errors.is_empty();
        let result = self.finish();
        (result, if ok { items.kept } else { items.previous })
    }

    pub(crate) fn finish(self) -> Result<Objects, LoadErrors> {
        if self.errors.is_empty() {
            Ok(self.objects)
        } else {
            Err(Diagnostics {
                errors: self.errors,
                warnings: Vec::new(),
            })
        }
    }

    pub(crate) fn add_str(&mut self, text: &str, file: &Path) {
        // One allocation of the file name, shared by every object's Source.
        let file: Arc<Path> = file.into();
        if let Some(split) = list_split::split(text) {
            let mark = self.mark();
            if self.add_split(&split, &file) {
                return;
            }
            // Some part did not parse on its own: start over on the whole
            // file so that the errors are the whole-file parse's.
            self.rollback(mark);
        }
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let source = Source {
                file: file.clone(),
                doc: crate::diag::index(i + 1),
                item: None,
            };
            match Value::deserialize(doc) {
                Ok(Value::Null) => {}
                Ok(v) => self.add_value(v, source),
                Err(e) => {
                    self.errors.push(Diagnostic::new(
                        None,
                        Some(source),
                        "",
                        format!("invalid YAML: {e}"),
                    ));
                    // The parser cannot resynchronise after a syntax error.
                    break;
                }
            }
        }
    }

    fn mark(&self) -> Mark {
        let o = &self.objects;
        Mark {
            lens: [
                o.ip_address_pools.len(),
                o.l2_advertisements.len(),
                o.bgp_advertisements.len(),
                o.bgp_peers.len(),
                o.bfd_profiles.len(),
                o.communities.len(),
                o.services.len(),
                o.secrets.len(),
                o.nodes.len(),
                o.namespaces.len(),
                o.endpoint_slices.len(),
            ],
            errors: self.errors.len(),
        }
    }

    /// Forgets what was loaded from `file` since `m`.
    fn rollback(&mut self, m: Mark) {
        let [a, b, c, d, e, f, g, h, i, j, k] = m.lens;
        macro_rules! forget {
            ($field:ident, $kind:expr, $from:expr) => {
                for x in &self.objects.$field[$from..] {
                    let key = self.identity.hash_one(($kind, &x.namespace, &x.name));
                    if let Entry::Occupied(mut n) = self.seen.entry(key) {
                        *n.get_mut() -= 1;
                        if *n.get() == 0 {
                            n.remove();
                        }
                    }
                }
            };
        }
        forget!(ip_address_pools, "IPAddressPool", a);
        forget!(l2_advertisements, "L2Advertisement", b);
        forget!(bgp_advertisements, "BGPAdvertisement", c);
        forget!(bgp_peers, "BGPPeer", d);
        forget!(bfd_profiles, "BFDProfile", e);
        forget!(communities, "Community", f);
        forget!(services, "Service", g);
        forget!(secrets, "Secret", h);
        forget!(nodes, "Node", i);
        forget!(namespaces, "Namespace", j);
        forget!(endpoint_slices, "EndpointSlice", k);
        let o = &mut self.objects;
        o.ip_address_pools.truncate(a);
        o.l2_advertisements.truncate(b);
        o.bgp_advertisements.truncate(c);
        o.bgp_peers.truncate(d);
        o.bfd_profiles.truncate(e);
        o.communities.truncate(f);
        o.services.truncate(g);
        o.secrets.truncate(h);
        o.nodes.truncate(i);
        o.namespaces.truncate(j);
        o.endpoint_slices.truncate(k);
        self.errors.truncate(m.errors);
    }

    fn check_name(&mut self, obj: &ObjectRef, source: &Source) -> bool {
        self.check_identity(&obj.kind, &obj.namespace, &obj.name, source)
    }

    /// False (with the error) if the name is missing or the object is
    /// already loaded; the [`ObjectRef`] is built only for an error.
    fn check_identity(&mut self, kind: &str, namespace: &str, name: &str, source: &Source) -> bool {
        let key = self.identity.hash_one((kind, namespace, name));
        self.check_identity_key(key, kind, namespace, name, source)
    }

    /// [`Loader::check_identity`] with the hash of (kind, namespace, name)
    /// known.
    fn check_identity_key(
        &mut self,
        key: u64,
        kind: &str,
        namespace: &str,
        name: &str,
        source: &Source,
    ) -> bool {
        let obj = || ObjectRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        if name.is_empty() || name == "<unnamed>" {
            self.errors.push(Diagnostic::new(
                Some(obj()),
                Some(source.clone()),
                "metadata.name",
                "Required value: name or generateName is required",
            ));
            return false;
        }
        if self.seen.get(&key).is_some_and(|n| *n > 0) {
            if let Some(first) = self.first_place(kind, namespace, name) {
                let msg = format!("duplicate object: already defined in {first}");
                self.errors.push(Diagnostic::new(
                    Some(obj()),
                    Some(source.clone()),
                    "metadata.name",
                    msg,
                ));
                return false;
            }
        }
        // A new object (or a hash shared with another one).
        *self.seen.entry(key).or_insert(0) += 1;
        true
    }

    /// Where the object `kind namespace/name` was loaded, if it was.
    fn first_place(&self, kind: &str, namespace: &str, name: &str) -> Option<&Source> {
        fn find<'o, T: 'o>(
            objects: impl IntoIterator<Item = &'o Loaded<T>>,
            namespace: &str,
            name: &str,
        ) -> Option<&'o Source> {
            objects
                .into_iter()
                .find(|o| o.name == name && o.namespace == namespace)
                .map(|o| &o.source)
        }
        let o = &self.objects;
        match kind {
            "IPAddressPool" => find(&o.ip_address_pools, namespace, name),
            "L2Advertisement" => find(&o.l2_advertisements, namespace, name),
            "BGPAdvertisement" => find(&o.bgp_advertisements, namespace, name),
            "BGPPeer" => find(&o.bgp_peers, namespace, name),
            "BFDProfile" => find(&o.bfd_profiles, namespace, name),
            "Community" => find(&o.communities, namespace, name),
            "Service" => find(o.services.iter().map(|s| &**s), namespace, name),
            "Secret" => find(&o.secrets, namespace, name),
            "Node" => find(&o.nodes, namespace, name),
            "Namespace" => find(&o.namespaces, namespace, name),
            "EndpointSlice" => find(&o.endpoint_slices, namespace, name),
            _ => None,
        }
    }
}
