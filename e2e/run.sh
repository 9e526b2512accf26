#!/usr/bin/env bash
# Runs every e2e/tests/*.sh in order, each in its own process, and prints
# PASS/FAIL per test and a final "N passed, N failed" line. Exit status is
# non-zero if any test failed. Needs root (network namespaces).
#   e2e/run.sh [PATTERN]   only tests whose file name contains PATTERN
# Env: E2E_KEEP=1 keeps each test's temp dir; E2E_VERBOSE=1 streams test output.
set -uo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "e2e/run.sh: must run as root (the tests create network namespaces)" >&2
  exit 1
fi
cd "$(dirname "$0")"
pattern=${1:-}
passed=0 failed=0
failed_names=()
outdir=$(mktemp -d /tmp/oxlb-e2e-run.XXXXXX)
shopt -s nullglob
tests=(tests/*.sh)
if ((${#tests[@]} == 0)); then
  echo "e2e/run.sh: no tests found in $(pwd)/tests" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
for t in "${tests[@]}"; do
  name=$(basename "$t" .sh)
  [[ -n $pattern && $name != *"$pattern"* ]] && continue
  start=$SECONDS
  out="$outdir/$name.log"
  # each test is its own process; a TERM/INT to run.sh is forwarded to it so its
  # cleanup trap removes its namespaces and daemons
  if [[ ${E2E_VERBOSE:-0} == 1 ]]; then
    bash "$t" > >(tee "$out") 2>&1 &
  else
    bash "$t" >"$out" 2>&1 &
  fi
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; echo "e2e/run.sh: interrupted during $name" >&2; exit 130' INT TERM
  wait "$child"; rc=$?
  trap - INT TERM
  dur=$((SECONDS - start))
  if ((rc == 0)); then
    passed=$((passed + 1))
    printf 'PASS %s (%ss)\n' "$name" "$dur"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL %s (%ss, exit %s)\n' "$name" "$dur" "$rc"
    if [[ ${E2E_VERBOSE:-0} != 1 ]]; then
      echo "---- output of $name (last 60 lines; full log: $out) ----"
      tail -n 60 "$out"
      echo "---- end of $name ----"
    fi
  fi
done
if ((passed + failed == 0)); then
  echo "e2e/run.sh: no test matched '$pattern'" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
((failed == 0)) && rm -rf "$outdir"
echo "${passed} passed, ${failed} failed"
((failed == 0))
