#!/usr/bin/env bash
# Runs e2e/tests/*.sh, each in its own process, up to N at a time, and prints
# PASS/FAIL per test as it ends, then a summary (every test with its time, in
# file-name order) and a final "N passed, N failed" line. Exit status is
# non-zero if any test failed. Needs root (network namespaces).
#   e2e/run.sh [-j N] [PATTERN]   only tests whose file name contains PATTERN
# -j N: tests run side by side (default: E2E_JOBS, else nproc + 1; the tests
# mostly sleep on daemons). Tests share no names (per-PID namespaces and temp
# dirs). A test with the line `# e2e: serial` in its first 30 lines is
# timing-sensitive (latency / failover measurements, floods, BFD timers): it
# runs alone, after the parallel ones. -j 1 is the old serial run.
# If any selected test uses the Kubernetes rig (lib/kube.sh), its binaries are
# built once (scripts/kube-rig.sh install) before any test starts.
# Env: E2E_KEEP=1 keeps each test's temp dir; E2E_VERBOSE=1 streams test output
# (and implies -j 1, so the streams do not interleave).
set -uo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "e2e/run.sh: must run as root (the tests create network namespaces)" >&2
  exit 1
fi
usage() { echo "usage: e2e/run.sh [-j N] [PATTERN]" >&2; exit 2; }
jobs_max=${E2E_JOBS:-$(($(nproc) + 1))}
while (($#)); do
  case $1 in
    -j) (($# >= 2)) || usage; jobs_max=$2; shift 2 ;;
    -j*) jobs_max=${1#-j}; shift ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
(($# <= 1)) || usage
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || { echo "e2e/run.sh: -j wants a positive number, got '$jobs_max'" >&2; exit 2; }
[[ ${E2E_VERBOSE:-0} == 1 ]] && jobs_max=1
cd "$(dirname "$0")"
pattern=${1:-}
outdir=$(mktemp -d /tmp/oxlb-e2e-run.XXXXXX)
shopt -s nullglob
all=(tests/*.sh)
if ((${#all[@]} == 0)); then
  echo "e2e/run.sh: no tests found in $(pwd)/tests" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# ---- select and classify ----
parallel=() serial=() kube=0
for t in "${all[@]}"; do
  name=$(basename "$t" .sh)
  [[ -n $pattern && $name != *"$pattern"* ]] && continue
  head=$(head -n 30 "$t") || { echo "e2e/run.sh: cannot read $t" >&2; exit 1; }
  if [[ $head == *$'\n# e2e: serial'* ]]; then serial+=("$t"); else parallel+=("$t"); fi
  grep -q 'lib/kube\.sh' "$t" && kube=1
done
if ((${#parallel[@]} + ${#serial[@]} == 0)); then
  echo "e2e/run.sh: no test matched '$pattern'" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
# One build of the rig before tests that would each try to build it.
if ((kube)); then
  if ! ../scripts/kube-rig.sh install >"$outdir/kube-rig-install.log" 2>&1; then
    tail -n 30 "$outdir/kube-rig-install.log"
    echo "e2e/run.sh: scripts/kube-rig.sh install failed (log: $outdir/kube-rig-install.log)" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

# ---- run ----
declare -A pid_name=() start=() dur=() rc=()
running=0
# a TERM/INT to run.sh goes to every running test, so each one's cleanup trap
# removes its namespaces and daemons
on_signal() {
  local p
  for p in "${!pid_name[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait
  echo "e2e/run.sh: interrupted during ${pid_name[*]:-nothing}" >&2
  exit 130
}
trap on_signal INT TERM

launch() {
  local t=$1 name out
  name=$(basename "$t" .sh)
  out="$outdir/$name.log"
  if [[ ${E2E_VERBOSE:-0} == 1 ]]; then
    bash "$t" > >(tee "$out") 2>&1 &
  else
    bash "$t" >"$out" 2>&1 &
  fi
  pid_name[$!]=$name
  start[$name]=$SECONDS
  running=$((running + 1))
}

# reap one finished test (wait -n -p: bash >= 5.1)
reap() {
  local p code name
  wait -n -p p "${!pid_name[@]}"; code=$?
  [[ -n ${p:-} && -n ${pid_name[$p]:-} ]] || return 0
  name=${pid_name[$p]}
  unset "pid_name[$p]"
  running=$((running - 1))
  rc[$name]=$code
  dur[$name]=$((SECONDS - start[$name]))
  if ((code == 0)); then
    printf 'PASS %s (%ss)\n' "$name" "${dur[$name]}"
  else
    printf 'FAIL %s (%ss, exit %s)\n' "$name" "${dur[$name]}" "$code"
    if [[ ${E2E_VERBOSE:-0} != 1 ]]; then
      echo "---- output of $name (last 60 lines; full log: $outdir/$name.log) ----"
      tail -n 60 "$outdir/$name.log"
      echo "---- end of $name ----"
    fi
  fi
}

t_all=$SECONDS
for t in "${parallel[@]}"; do
  while ((running >= jobs_max)); do reap; done
  launch "$t"
done
while ((running > 0)); do reap; done
for t in "${serial[@]}"; do
  launch "$t"
  reap
done
trap - INT TERM

# ---- summary ----
passed=0 failed=0
echo "---- summary (-j $jobs_max; serial: ${#serial[@]} of $((${#parallel[@]} + ${#serial[@]})); wall $((SECONDS - t_all)) s) ----"
for name in $(printf '%s\n' "${!rc[@]}" | sort); do
  if ((rc[$name] == 0)); then
    passed=$((passed + 1)); printf '  PASS %-28s %5ss\n' "$name" "${dur[$name]}"
  else
    failed=$((failed + 1)); printf '  FAIL %-28s %5ss  %s\n' "$name" "${dur[$name]}" "$outdir/$name.log"
  fi
done
((failed == 0)) && rm -rf "$outdir"
echo "${passed} passed, ${failed} failed"
((failed == 0))
