//! Loads and validates a configuration and prints the time taken:
//! `cargo run --release -p metallb-api --example load_validate -- DIR [split|reload]`
//! (under `/usr/bin/time -v` for the peak RSS). Without `split` it runs
//! [`metallb_api::load_config`] as `oxlb-speaker check` does; with `split`
//! it times [`metallb_api::load_with`] and [`metallb_api::validate`] apart
//! (the loaded objects stay alive beside the config); with `reload` it
//! times a reload (SIGHUP) of the unchanged files through a `LoadCache`;
//! with `append FILE TEXT` it loads, appends TEXT to FILE (e.g. one more
//! List item) and times the reload that follows.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: load_validate CONFIG_FILE_OR_DIR [split|reload]");
        std::process::exit(2);
    };
    let opts = metallb_api::Options::default();
    let t = Instant::now();
    let mode = args.next();
    if mode.as_deref() == Some("append") {
        let (Some(file), Some(text)) = (args.next(), args.next()) else {
            eprintln!("usage: load_validate DIR append FILE TEXT");
            std::process::exit(2);
        };
        append(&path, &opts, &file, &text);
        return;
    }
    if mode.as_deref() == Some("reload") {
        // SIGHUP with nothing changed: every file re-read and hashed,
        // parses reused, then the merge and validation.
        let mut cache = metallb_api::LoadCache::default();
        let fail = |e: metallb_api::Diagnostics| -> ! {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        };
        let o = metallb_api::load_cached(&path, &opts, &mut cache).unwrap_or_else(|e| fail(e));
        let first = t.elapsed();
        drop(o);
        cache.invalidate();
        let t = Instant::now();
        let o = metallb_api::load_cached(&path, &opts, &mut cache).unwrap_or_else(|e| fail(e));
        let loaded = t.elapsed();
        let v = metallb_api::validate(&o, &opts).unwrap_or_else(|e| fail(e));
        println!(
            "LoadBalancer services {}: first load {:.3} s, reload: load {:.3} s + validate {:.3} s",
            v.config.services.len(),
            first.as_secs_f64(),
            loaded.as_secs_f64(),
            (t.elapsed() - loaded).as_secs_f64()
        );
        return;
    }
    if mode.as_deref() != Some("split") {
        match metallb_api::load_config(&path, &opts) {
            Ok(v) => println!(
                "LoadBalancer services {}: load_config {:.3} s",
                v.config.services.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let objects = match metallb_api::load_with(&path, &opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let loaded = t.elapsed();
    let t = Instant::now();
    let config = match metallb_api::validate(&objects, &opts) {
        Ok(v) => v.config,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "services {} (LoadBalancer {}): load {:.3} s, validate {:.3} s",
        objects.services.len(),
        config.services.len(),
        loaded.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
}

/// Load through a cache, append `text` to `file`, reload (as SIGHUP does).
fn append(path: &str, opts: &metallb_api::Options, file: &str, text: &str) {
    use std::io::Write;
    let fail = |e: metallb_api::Diagnostics| -> ! {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    };
    let mut cache = metallb_api::LoadCache::default();
    let t = Instant::now();
    let o = metallb_api::load_cached(path, opts, &mut cache).unwrap_or_else(|e| fail(e));
    let v = metallb_api::validate(&o, opts).unwrap_or_else(|e| fail(e));
    let first = t.elapsed();
    drop((o, v));
    let parses = cache.item_parses();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .unwrap_or_else(|e| {
            eprintln!("{file}: {e}");
            std::process::exit(1)
        });
    if let Err(e) = writeln!(f, "{text}") {
        eprintln!("{file}: {e}");
        std::process::exit(1);
    }
    drop(f);
    cache.invalidate();
    let t = Instant::now();
    let o = metallb_api::load_cached(path, opts, &mut cache).unwrap_or_else(|e| fail(e));
    let loaded = t.elapsed();
    let v = metallb_api::validate(&o, opts).unwrap_or_else(|e| fail(e));
    println!(
        "LoadBalancer services {}: first load+validate {:.3} s; after append: load {:.4} s + validate {:.4} s, items parsed {}",
        v.config.services.len(),
        first.as_secs_f64(),
        loaded.as_secs_f64(),
        (t.elapsed() - loaded).as_secs_f64(),
        cache.item_parses() - parses
    );
}
