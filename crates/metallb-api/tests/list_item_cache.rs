//! A changed `kind: List` file is re-parsed item by item: only the items
//! whose text changed are parsed again, and the result is exactly that of
//! a cold load. Only Services are remembered per item (they are the
//! many); an item of another kind (here the pool) is parsed on every load
//! of its file.

use metallb_api::{load_cached, load_config, load_with, validate, LoadCache, Options};
use std::path::Path;

const POOL_ITEM: &str = "- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: p, namespace: metallb-system}\n  spec: {addresses: [192.0.2.0/26]}\n";

fn svc_item(name: &str, port: &str) -> String {
    format!("- {{apiVersion: v1, kind: Service, metadata: {{name: {name}, namespace: shop}}, spec: {{type: LoadBalancer, ports: [{{port: {port}}}]}}}}\n")
}

/// A List file with the pool and Services `s0..s<n>` (port 80), with
/// `edit` applied to the item texts.
fn list(n: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut text = format!("apiVersion: v1\nkind: List\nitems:\n{POOL_ITEM}");
    for i in 0..n {
        text.push_str(&edit(i, svc_item(&format!("s{i}"), "80")));
    }
    text
}

/// Loads through the cache after an explicit reload and checks that the
/// result is a cold load's, objects and validated config alike.
fn reload_equals_cold(dir: &Path, cache: &mut LoadCache) {
    let opts = Options::default();
    cache.invalidate();
    let cached = load_cached(dir, &opts, cache).unwrap();
    assert_eq!(cached, load_with(dir, &opts).unwrap());
    assert_eq!(
        validate(&cached, &opts).unwrap(),
        load_config(dir, &opts).unwrap()
    );
}

#[test]
fn a_list_reload_with_one_changed_item_parses_only_that_item() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, list(20, |_, t| t)).unwrap();
    let mut cache = LoadCache::default();
    load_cached(dir.path(), &Options::default(), &mut cache).unwrap();
    assert_eq!(cache.item_parses(), 21);

    // One Service's port changes: that item alone is parsed again (and
    // the pool).
    let edited = list(20, |i, t| if i == 7 { svc_item("s7", "8080") } else { t });
    std::fs::write(&file, edited).unwrap();
    reload_equals_cold(dir.path(), &mut cache);
    assert_eq!(cache.item_parses(), 21 + 2);
    let o = load_cached(dir.path(), &Options::default(), &mut cache).unwrap();
    let s7 = o.services.iter().find(|s| s.name == "s7").unwrap();
    assert_eq!(*s7.spec.ports, [(None, 8080)]);
}

#[test]
fn an_item_inserted_before_the_others_moves_them_without_a_parse() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, list(10, |_, t| t)).unwrap();
    let mut cache = LoadCache::default();
    load_cached(dir.path(), &Options::default(), &mut cache).unwrap();
    let before = cache.item_parses();

    // A new first Service shifts every other item's index (and so its
    // Source); those records are reused with their new place.
    let edited = list(10, |i, t| {
        if i == 0 {
            format!("{}{t}", svc_item("new", "443"))
        } else {
            t
        }
    });
    std::fs::write(&file, edited).unwrap();
    reload_equals_cold(dir.path(), &mut cache);
    assert_eq!(cache.item_parses(), before + 2);
}

#[test]
fn a_bad_item_is_reported_and_its_fix_parses_no_service_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, list(10, |_, t| t)).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    load_cached(dir.path(), &opts, &mut cache).unwrap();

    let bad = list(10, |i, t| if i == 3 { svc_item("s3", "\"x\"") } else { t });
    std::fs::write(&file, bad).unwrap();
    cache.invalidate();
    let err = load_cached(dir.path(), &opts, &mut cache).unwrap_err();
    let text = err.errors[0].to_string();
    assert!(
        text.starts_with("Service shop/s3 (")
            && text.contains("list.yaml doc 1")
            && text.contains("spec.ports[0].port: invalid type"),
        "{text}"
    );

    // The fix puts the old text back: every Service is still remembered
    // from the good load, so only the pool is parsed.
    let before = cache.item_parses();
    std::fs::write(&file, list(10, |_, t| t)).unwrap();
    reload_equals_cold(dir.path(), &mut cache);
    assert_eq!(cache.item_parses(), before + 1);
}

#[test]
fn a_copy_of_an_unchanged_item_is_still_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, list(5, |_, t| t)).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    load_cached(dir.path(), &opts, &mut cache).unwrap();

    let mut text = list(5, |_, t| t);
    text.push_str(&svc_item("s2", "80"));
    std::fs::write(&file, text).unwrap();
    cache.invalidate();
    let err = load_cached(dir.path(), &opts, &mut cache).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    let text = err.errors[0].to_string();
    assert!(
        text.starts_with("Service shop/s2 (")
            && text.contains("items[6]): metadata.name: duplicate object: already defined in")
            && text.ends_with("items[3]"),
        "{text}"
    );
    assert_eq!(err, load_with(dir.path(), &opts).unwrap_err());
}
