//! docs/metrics.md, the code and deploy/monitoring/ agree on metric names.
//!
//! * The code's names: every string literal `"metallb_…"` / `"oxlb_…"` (the
//!   whole literal a metric name) in `crates/*/src`, which is where every
//!   metric of the speaker, the controller and the L2 crate is registered.
//! * The doc's names: the first backticked name of each table row of
//!   docs/metrics.md.
//! * deploy/monitoring/: every `metallb_…` / `oxlb_…` token of the
//!   PrometheusRule and the Grafana dashboard (a histogram's `_bucket`,
//!   `_sum` and `_count` series count as the histogram).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PREFIXES: [&str; 2] = ["metallb_", "oxlb_"];
const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Each `"name"` literal in `text` that is a whole metric name.
fn quoted_names(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut names = Vec::new();
    for (i, _) in text.match_indices('"') {
        let rest = &text[i + 1..];
        if !PREFIXES.iter().any(|p| rest.starts_with(p)) {
            continue;
        }
        let len = rest.bytes().take_while(|&c| is_name_char(c)).count();
        if b.get(i + 1 + len) == Some(&b'"') {
            names.push(rest[..len].to_string());
        }
    }
    names
}

/// Every metric name in the code, with the first file that names it.
fn code_names() -> BTreeMap<String, PathBuf> {
    let mut files = Vec::new();
    let crates = root().join("crates");
    let entries =
        std::fs::read_dir(&crates).unwrap_or_else(|e| panic!("{}: {e}", crates.display()));
    for entry in entries {
        let src = entry
            .unwrap_or_else(|e| panic!("{}: {e}", crates.display()))
            .path()
            .join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.sort();
    let mut names = BTreeMap::new();
    for f in files {
        for n in quoted_names(&read(&f)) {
            names.entry(n).or_insert_with(|| f.clone());
        }
    }
    names
}

/// The metric names of docs/metrics.md's table rows.
fn doc_names() -> BTreeSet<String> {
    read(&root().join("docs/metrics.md"))
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| PREFIXES.iter().any(|p| n.starts_with(p)))
        .map(str::to_string)
        .collect()
}

/// Every metric-looking token of `text` (not preceded by a name character).
fn tokens(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    for p in PREFIXES {
        for (i, _) in text.match_indices(p) {
            if i > 0 && (is_name_char(b[i - 1]) || b[i - 1].is_ascii_uppercase()) {
                continue;
            }
            let len = text[i..].bytes().take_while(|&c| is_name_char(c)).count();
            out.insert(text[i..i + len].to_string());
        }
    }
    out
}

/// The documented metric a series name belongs to, if any.
fn documented<'a>(series: &str, doc: &'a BTreeSet<String>) -> Option<&'a String> {
    doc.get(series).or_else(|| {
        HISTOGRAM_SERIES
            .iter()
            .find_map(|s| series.strip_suffix(s).and_then(|base| doc.get(base)))
    })
}

#[test]
fn the_scan_finds_the_metrics_every_speaker_exports() {
    let code = code_names();
    for n in [
        "metallb_bgp_session_up",
        "metallb_k8s_client_config_stale_bool",
        "metallb_speaker_announced",
        "metallb_layer2_requests_received",
        "oxlb_layer2_failover_seconds",
    ] {
        assert!(
            code.contains_key(n),
            "the scan of crates/*/src missed {n}: {code:?}"
        );
    }
    let doc = doc_names();
    assert!(
        doc.contains("metallb_bgp_session_up"),
        "the scan of docs/metrics.md found {doc:?}"
    );
}

#[test]
fn every_metric_the_code_registers_is_in_docs_metrics_md() {
    let doc = doc_names();
    let missing: Vec<String> = code_names()
        .into_iter()
        .filter(|(n, _)| !doc.contains(n))
        .map(|(n, f)| format!("{n} (named in {})", f.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md: no table row for {missing:#?}"
    );
}

#[test]
fn every_metric_docs_metrics_md_lists_is_in_the_code() {
    let code = code_names();
    let stale: Vec<String> = doc_names()
        .into_iter()
        .filter(|n| !code.contains_key(n))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md lists metrics no crate registers: {stale:#?}"
    );
}

#[test]
fn the_prometheus_rule_and_the_dashboard_use_only_documented_metrics() {
    let doc = doc_names();
    for file in [
        "deploy/monitoring/prometheusrule.yaml",
        "deploy/monitoring/grafana-dashboard.json",
    ] {
        let text = read(&root().join(file));
        let used = tokens(&text);
        assert!(!used.is_empty(), "{file}: names no metric");
        let unknown: Vec<&String> = used
            .iter()
            .filter(|t| documented(t, &doc).is_none())
            .collect();
        assert!(
            unknown.is_empty(),
            "{file}: metrics not in docs/metrics.md: {unknown:?}"
        );
    }
}

#[test]
fn the_dashboard_is_json_whose_panels_all_query_something() {
    let path = root().join("deploy/monitoring/grafana-dashboard.json");
    let dash: serde_json::Value = serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let panels = dash["panels"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no panels array", path.display()));
    let mut queried = 0;
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().unwrap_or("(untitled)");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: panel {title:?} has no targets", path.display()));
        assert!(
            !targets.is_empty(),
            "{}: panel {title:?} has no targets",
            path.display()
        );
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or("");
            assert!(
                !tokens(expr).is_empty(),
                "{}: panel {title:?} queries no oxlb/MetalLB metric: {expr:?}",
                path.display()
            );
        }
        queried += 1;
    }
    assert!(queried >= 5, "{}: only {queried} panels", path.display());
}

#[test]
fn a_histogram_series_counts_as_its_histogram_and_other_suffixes_do_not() {
    let doc: BTreeSet<String> = ["oxlb_layer2_failover_seconds".to_string()].into();
    assert!(documented("oxlb_layer2_failover_seconds_bucket", &doc).is_some());
    assert!(documented("oxlb_layer2_failover_seconds_total", &doc).is_none());
    assert_eq!(
        tokens("rate(oxlb_a_b[5m]) / metallb_c and xoxlb_d OxlbAlert"),
        ["metallb_c".to_string(), "oxlb_a_b".to_string()].into()
    );
    assert_eq!(
        quoted_names(r#"opts("oxlb_x", "h") "oxlb_y{a=\"b\"}" "metallb_z""#),
        ["oxlb_x", "metallb_z"]
    );
}
