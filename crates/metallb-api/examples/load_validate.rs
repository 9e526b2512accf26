//! Loads and validates a configuration, printing the time of each step:
//! `cargo run --release -p metallb-api --example load_validate -- DIR`
//! (with `/usr/bin/time -v` for the peak RSS).

use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: load_validate CONFIG_FILE_OR_DIR");
        std::process::exit(2);
    };
    let opts = metallb_api::Options::default();
    let t = Instant::now();
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
