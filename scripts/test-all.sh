#!/usr/bin/env bash
# The one command that runs every test of oxlb: style gates, unit and property
# tests, fuzz-corpus replays, and the interop tests against real routing
# daemons in network namespaces. Needs root for the namespaces; installs what
# it needs from Debian's packages on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s ====\n' "$*"; }

step "install test dependencies"
./scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, property and corpus tests"
cargo test --workspace --locked

step "tests that need root (network namespaces; #[ignore]d for a plain cargo test)"
cargo test --workspace --locked -- --ignored

step "the speaker's Kubernetes mode (cargo feature kube, off in the lean default build)"
cargo clippy -p speaker --features kube --all-targets --locked -- -D warnings
cargo test -p speaker --features kube --locked
cargo build --locked -p speaker --features kube --bin oxlb-speaker

step "release binaries for the interop tests"
cargo build --release --locked -p bgp-session --bin oxlb-bgp -p speaker --bin oxlb-speaker
cargo build --locked -p controller --bin oxlb-controller

step "Kubernetes test rig: kube-apiserver, etcd, kubectl (built once into ~/.cache/oxlb-kube)"
./scripts/kube-rig.sh install

step "interop tests against real daemons (network namespaces)"
./e2e/run.sh

echo
echo "all test stages passed"
