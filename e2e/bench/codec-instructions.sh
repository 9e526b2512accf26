#!/usr/bin/env bash
# Instructions per UPDATE decode/encode (1, 100, 500, 810 IPv4 /32s), counted
# by callgrind: repeatable on a busy machine, unlike wall time. Complements
# `cargo bench -p bgp-proto --bench codec`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p bgp-proto --example codec_instructions
bin=target/release/examples/codec_instructions
count() { # op n iters -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| prefixes | decode (instructions) | encode (instructions) | build from prefixes (instructions) |\n|---:|---:|---:|---:|\n'
for n in 1 100 500 810; do
  row="| $n |"
  for op in decode encode build; do
    a=$(count "$op" "$n" 1000); b=$(count "$op" "$n" 2000)
    row+=" $(( (b - a) / 1000 )) |"
  done
  echo "$row"
done
