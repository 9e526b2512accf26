//! The reload cache gives the same objects as a fresh load, re-reads only
//! changed files, and still finds duplicates across files.

use metallb_api::{load_cached, load_with, LoadCache, Options};

const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/28]}\n";

fn svc(name: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer}}\n")
}

#[test]
fn a_cached_load_equals_a_fresh_load_and_follows_edits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-pool.yaml"), POOL).unwrap();
    std::fs::write(dir.path().join("10-a.yaml"), svc("a")).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    let first = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(first, load_with(dir.path(), &opts).unwrap());

    // A new file and an edited one (different length, so the change is seen
    // even within the same mtime tick).
    std::fs::write(dir.path().join("20-b.yaml"), svc("b")).unwrap();
    std::fs::write(dir.path().join("10-a.yaml"), svc("a-renamed")).unwrap();
    let second = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(second, load_with(dir.path(), &opts).unwrap());
    let names: Vec<&str> = second.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["a-renamed", "b"]);

    // A removed file disappears.
    std::fs::remove_file(dir.path().join("20-b.yaml")).unwrap();
    assert_eq!(
        load_cached(dir.path(), &opts, &mut cache)
            .unwrap()
            .services
            .len(),
        1
    );
}

#[test]
fn a_duplicate_across_files_is_still_an_error_naming_both_places() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), svc("x")).unwrap();
    std::fs::write(dir.path().join("b.yaml"), svc("x")).unwrap();
    let mut cache = LoadCache::default();
    let err = load_cached(dir.path(), &Options::default(), &mut cache).unwrap_err();
    let text = err.errors[0].to_string();
    assert!(
        text.contains("duplicate object") && text.contains("a.yaml") && text.contains("b.yaml"),
        "{text}"
    );
}

#[test]
fn a_same_length_edit_with_the_mtime_restored_is_seen_after_invalidate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("10-a.yaml");
    std::fs::write(dir.path().join("00-pool.yaml"), POOL).unwrap();
    std::fs::write(&file, svc("aaa")).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    let first = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(first.services[0].name, "aaa");

    // `rsync -t` style: same length, the old mtime put back.
    rewrite_keeping_mtime(&file, &svc("bbb"));
    // The file-watcher path keeps trusting size and mtime ...
    let cached = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(cached.services[0].name, "aaa");
    // ... an explicit reload does not.
    cache.invalidate();
    let fresh = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(fresh.services[0].name, "bbb");
    assert_eq!(fresh, load_with(dir.path(), &opts).unwrap());
}

#[test]
fn an_explicit_reload_of_unchanged_files_reuses_their_parse() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-pool.yaml"), POOL).unwrap();
    std::fs::write(dir.path().join("10-a.yaml"), svc("aaa")).unwrap();
    let opts = Options::default();
    let mut cache = LoadCache::default();
    let first = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(cache.parses(), 2);
    cache.invalidate();
    let again = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(again, first);
    assert_eq!(cache.parses(), 2, "unchanged files were parsed again");
    // A changed file (same length, mtime put back) is parsed again, alone.
    let file = dir.path().join("10-a.yaml");
    rewrite_keeping_mtime(&file, &svc("bbb"));
    cache.invalidate();
    let fresh = load_cached(dir.path(), &opts, &mut cache).unwrap();
    assert_eq!(fresh.services[0].name, "bbb");
    assert_eq!(cache.parses(), 3);
}

/// Writes `contents` into `file` and puts its old modification time back
/// (what `rsync -t` does for an edit of the same length).
fn rewrite_keeping_mtime(file: &std::path::Path, contents: &str) {
    let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
    std::fs::write(file, contents).unwrap();
    std::fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}
