#!/usr/bin/env bash
# Builds the bfd fuzz targets with nightly and libFuzzer and runs each for
# SECONDS (default 60) on a corpus started from seeds/. Works without
# cargo-fuzz (it passes the same flags); with cargo-fuzz installed,
# `cargo +nightly fuzz run control_decode` does the same.
#   crates/l2/fuzz/run.sh [SECONDS] [TARGET...]
# A crash leaves its input in artifacts/<target>/ and fails the script;
# copy it to seeds/<target>/ so tests/fuzz_corpus.rs replays it for ever.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(control_decode session_packets)
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=$PWD/target
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
  cargo +nightly build --release --bins --target "$triple"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  cp -n "seeds/$t"/* "corpus/$t/"
  "target/$triple/release/$t" "corpus/$t" -max_total_time="$secs" -max_len=512 \
    -artifact_prefix="artifacts/$t/"
done
