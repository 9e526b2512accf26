#!/usr/bin/env bash
# Benchmark (not a test): L2 failover time in the issue-10 topology
# (e2e/lib/l2topo.sh: three nodes and a client on one bridge), measured by
# e2e/lib/l2probe.py in the client: an ARP request for the VIP every 10 ms;
# failover = from the trigger (wall clock just before the failure is caused)
# to the first ARP reply from a MAC other than the old owner's.
#
#   sudo e2e/bench/l2-failover.sh
#   env: BENCH_TRIALS (default 20) per implementation x scenario
#        BENCH_IMPLS  (default "keepalived2 keepalived3"; also oxlb, oxlbfast)
#        BENCH_SCENARIOS (default "kill link")
#        BENCH_LINK   admin (default: ip link set eth0 down inside the node)
#                     | carrier (the switch port goes down: NO-CARRIER)
#        BENCH_OUT    results file (default e2e/bench/results/l2-failover-keepalived.md)
#
# Scenarios, each on the node that owns the VIP:
#   kill  SIGKILL of every process of the implementation on that node (SIGSTOP
#         first, so no parent respawns a child and no child leaves gracefully)
#   link  its segment-A interface goes down
# After each trial the node is restored (restarted / link up) and the run
# waits until it is a ready backup again before the next trial.
#
# Implementations: a set of functions per name IMPL, so another (oxlb) is
# added by defining the same six:
#   IMPL_start NODE     start on NODE (background, registered for cleanup)
#   IMPL_stop NODE      stop it gracefully on NODE (end of its run)
#   IMPL_kill NODE      crash it on NODE (SIGKILL)
#   IMPL_recover NODE   after IMPL_kill: clean up what the crash left, start again
#   IMPL_owner          print the one node that announces the VIP (fail if not one)
#   IMPL_ready NODE     true once NODE (restarted or relinked) is a ready standby
# and IMPL_describe (one line for the results file).
#
# keepalived2: VRRPv2, advert_int 1 (keepalived's default), equal priorities,
#              nopreempt (a restored node stays backup; no second failover).
# keepalived3: VRRPv3, advert_int 0.1; otherwise the same.
# oxlb:        oxlb-speaker standalone (e2e/configs/l2/failover, one VIP, every
#              node a candidate), membership on eth0:7946, majority fencing,
#              --l2-profile default; the owner is the winner every running
#              speaker's /status names (MetalLB's order: it moves back to a
#              restored node that sorts first).
# oxlbfast:    the same with --l2-profile fast.
set -euo pipefail
E2E_TEST_NAME=bench-l2-failover
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/l2speaker.sh"
require keepalived python3 jq nft
TRIALS=${BENCH_TRIALS:-20}
IMPLS=${BENCH_IMPLS:-keepalived2 keepalived3}
SCENARIOS=${BENCH_SCENARIOS:-kill link}
LINK_MODE=${BENCH_LINK:-admin}
OUT=${BENCH_OUT:-$BENCH_DIR/results/l2-failover-keepalived.md}
TRIAL_TIMEOUT=15
# After the new MAC has answered, keep probing this long to see whether the
# old owner still answers (two responders).
AFTER_S=0.5

# ---------------------------------------------------------------- keepalived
declare -A KA_PID=()

_ka_conf() { # NODE VERSION ADVERT
  cat <<CONF
global_defs {
  router_id $1
  vrrp_version $2
  script_user root
  enable_script_security
}
vrrp_instance VI_1 {
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int $3
  virtual_ipaddress {
    $L2_VIP4/32 dev eth0
  }
}
CONF
}

_ka_start() { # NODE VERSION ADVERT
  local d="$E2E_TMP/ka-$1"
  mkdir -p "$d"
  _ka_conf "$1" "$2" "$3" >"$d/keepalived.conf"
  rm -f "$d/pid" "$d/vrrp.pid"
  spawn "$1" "$d/log" keepalived --dont-fork --log-console --log-detail --vrrp \
    --use-file "$d/keepalived.conf" --pid "$d/pid" --vrrp_pid "$d/vrrp.pid"
  KA_PID[$1]=$E2E_LAST_PID
  wait_until 10 test -s "$d/vrrp.pid" || die "keepalived on $1 wrote no vrrp pid file"
}

_ka_kill() { # NODE: the parent and its VRRP child, both at once
  local parent=${KA_PID[$1]:?no keepalived started on $1} kids
  kids=$(ps -o pid= --ppid "$parent" | tr -d ' ' | tr '\n' ' ')
  [[ -n $kids ]] || die "keepalived on $1 (pid $parent) has no VRRP child"
  # shellcheck disable=SC2086
  l2_sigkill $kids "$parent"
  unset "KA_PID[$1]"
}

_ka_recover() { # NODE VERSION ADVERT: a killed keepalived leaves the VIP behind
  if [[ -n $(ip -n "$(ns_name "$1")" -o addr show dev eth0 to "$L2_VIP4/32") ]]; then
    ip -n "$(ns_name "$1")" addr del "$L2_VIP4/32" dev eth0 || die "del stale VIP on $1"
  fi
  _ka_start "$@"
}

_ka_stop() { # NODE: graceful stop (keepalived removes its VIP)
  [[ -n ${KA_PID[$1]:-} ]] || return 0
  kill_pid "${KA_PID[$1]}" 5
  _l2_unregister_pid "${KA_PID[$1]}"
  unset "KA_PID[$1]"
}

_ka_owner() {
  local o; o=$(l2_owners "$L2_VIP4")
  [[ -n $o && $o != *" "* ]] || { log "owners of $L2_VIP4: '$o'"; return 1; }
  printf '%s\n' "$o"
}

# ready: the node's latest state line is BACKUP (after a start or a relink).
_ka_ready() {
  local last
  last=$(grep -E '\(VI_1\) Entering [A-Z]+ STATE' "$E2E_TMP/ka-$1/log" | tail -n 1) || return 1
  [[ $last == *"Entering BACKUP STATE"* ]]
}

keepalived2_describe() { echo "keepalived $(keepalived --version 2>&1 | head -n 1 | awk '{print $2}'), VRRPv2, advert_int 1 s (default), priority 100 on all three, nopreempt"; }
keepalived2_start() { _ka_start "$1" 2 1; }
keepalived2_kill() { _ka_kill "$1"; }
keepalived2_stop() { _ka_stop "$1"; }
keepalived2_recover() { _ka_recover "$1" 2 1; }
keepalived2_owner() { _ka_owner; }
keepalived2_ready() { _ka_ready "$1"; }

keepalived3_describe() { echo "keepalived $(keepalived --version 2>&1 | head -n 1 | awk '{print $2}'), VRRPv3, advert_int 0.1 s, priority 100 on all three, nopreempt"; }
keepalived3_start() { _ka_start "$1" 3 0.1; }
keepalived3_kill() { _ka_kill "$1"; }
keepalived3_stop() { _ka_stop "$1"; }
keepalived3_recover() { _ka_recover "$1" 3 0.1; }
keepalived3_owner() { _ka_owner; }
keepalived3_ready() { _ka_ready "$1"; }

# ---------------------------------------------------------------- oxlb
declare -A OX_UP=()

_ox_start() { # NODE PROFILE
  l2sp_start "$1" "$1" "$L2SP_CONFIGS/failover" --ml-members "$(l2sp_members)" --l2-profile "$2"
  OX_UP[$1]=1
}
_ox_kill() { l2sp_crash "$1"; unset "OX_UP[$1]"; }
_ox_stop() { [[ -n ${OX_UP[$1]:-} ]] || return 0; speaker_stop "sp-$1"; unset "OX_UP[$1]"; }
# owner: the winner of the VIP that every running speaker names.
_ox_owner() {
  local up=() n w
  for n in "${L2_NODES[@]}"; do [[ -n ${OX_UP[$n]:-} ]] && up+=("$n"); done
  ((${#up[@]} > 0)) || { log "oxlb: no speaker running"; return 1; }
  w=$(l2sp_agree "$L2_VIP4" "${up[@]}") || { log "oxlb: ${up[*]} do not agree on a winner of $L2_VIP4"; return 1; }
  printf '%s\n' "$w"
}
# ready NODE: its speaker answers, is not fenced, sees every member alive and
# names a winner.
_ox_ready() {
  local st
  st=$(speaker_status "sp-$1" 2>/dev/null) || return 1
  jq -e --arg ip "$L2_VIP4" '((.l2.fenced // false) == false)
    and ([.l2.members[] | if type == "array" then .[1] elif type == "object" then (.alive // .up // false) else false end] | all)
    and ([.l2.vips[] | select(.ip == $ip) | .winner // empty] | length == 1)' <<<"$st" >/dev/null
}
_ox_describe() { echo "oxlb-speaker (commit $(git -C "$SPEAKER_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)), L2 mode, --l2-profile $1, membership on eth0:7946, majority fencing, all three candidates"; }

oxlb_describe() { _speaker_ensure_bin; _ox_describe default; }
oxlb_start() { _ox_start "$1" default; }
oxlb_kill() { _ox_kill "$1"; }
oxlb_stop() { _ox_stop "$1"; }
oxlb_recover() { _ox_start "$1" default; }
oxlb_owner() { _ox_owner; }
oxlb_ready() { _ox_ready "$1"; }

oxlbfast_describe() { _speaker_ensure_bin; _ox_describe fast; }
oxlbfast_start() { _ox_start "$1" fast; }
oxlbfast_kill() { _ox_kill "$1"; }
oxlbfast_stop() { _ox_stop "$1"; }
oxlbfast_recover() { _ox_start "$1" fast; }
oxlbfast_owner() { _ox_owner; }
oxlbfast_ready() { _ox_ready "$1"; }

# ---------------------------------------------------------------- the trials

_link_down() { if [[ $LINK_MODE == carrier ]]; then l2_carrier_down "$1"; else l2_link_down "$1"; fi; }
_link_up() { if [[ $LINK_MODE == carrier ]]; then l2_carrier_up "$1"; else l2_link_up "$1"; fi; }

# has_reply LOG MAC: the probe log holds an ARP reply from MAC.
has_reply() { grep -qE "^\{\"kind\": \"reply\", .*\"mac\": \"$2\"" "$1"; }
failover_seen() { python3 "$L2_PROBE" failover --log "$1" --trigger "$2" --old-mac "$3" --ip "$L2_VIP4" >/dev/null; }

# settled IMPL: one node owns the VIP and every other node is a ready standby
# (after a failover two standbys may both have taken over for a moment).
settled() {
  local o n; o=$("$1_owner" 2>/dev/null) || return 1
  for n in "${L2_NODES[@]}"; do [[ $n == "$o" ]] || "$1_ready" "$n" || return 1; done
}

# trial IMPL SCENARIO N: one failure, one measurement (a JSON line appended to
# $RES). Runs in the main shell: it starts and reaps processes.
trial() {
  local impl=$1 scen=$2 n=$3 owner old_mac plog trigger res splits probe
  wait_until 20 settled "$impl" || die "$impl: not settled (one owner, the others ready) before trial $n"
  owner=$("${impl}_owner") || die "$impl: the owner changed right after settling (trial $n)"
  old_mac=$(l2_node_mac "$owner" a)
  plog="$E2E_TMP/probe-$impl-$scen-$n.jsonl"
  l2_probe_start "$plog" --vip4 "$L2_VIP4"
  probe=$E2E_LAST_PID
  wait_until 5 has_reply "$plog" "$old_mac" || die "$impl trial $n: $owner ($old_mac) does not answer"
  trigger=$(l2_now)
  case $scen in
    kill) "${impl}_kill" "$owner" ;;
    link) _link_down "$owner" ;;
    *) die "unknown scenario '$scen'" ;;
  esac
  wait_until "$TRIAL_TIMEOUT" failover_seen "$plog" "$trigger" "$old_mac" \
    || die "$impl $scen trial $n: no reply from another node within ${TRIAL_TIMEOUT} s"
  sleep "$AFTER_S"
  l2_probe_stop "$probe"
  res=$(python3 "$L2_PROBE" failover --log "$plog" --trigger "$trigger" --old-mac "$old_mac" --ip "$L2_VIP4")
  splits=0
  python3 "$L2_PROBE" splitbrain --log "$plog" --ip "$L2_VIP4" --from "$trigger" >/dev/null 2>&1 || splits=1
  case $scen in
    kill) "${impl}_recover" "$owner" ;;
    link) _link_up "$owner" ;;
  esac
  wait_until 20 "${impl}_ready" "$owner" || die "$impl: $owner is not a ready standby after trial $n"
  jq -c --arg impl "$impl" --arg scen "$scen" --argjson n "$n" --arg owner "$owner" \
    --argjson split "$splits" '{impl: $impl, scenario: $scen, trial: $n, owner: $owner,
      gap_ms, first_announce_ms, old_replies_after_new, last_old_reply_ms, split: ($split == 1)} ' <<<"$res" >>"$RES"
  log "$(tail -n 1 "$RES")"
}

l2_topo_create
RES="$E2E_TMP/results.jsonl"
: >"$RES"
declare -A DESC=()
for impl in $IMPLS; do
  declare -F "${impl}_start" >/dev/null || die "unknown implementation '$impl' (no ${impl}_start)"
  DESC[$impl]=$("${impl}_describe")
  for n in "${L2_NODES[@]}"; do "${impl}_start" "$n"; done
  wait_until 20 settled "$impl" || die "$impl: not settled (one owner, the others ready) after start"
  for scen in $SCENARIOS; do
    for ((i = 1; i <= TRIALS; i++)); do
      trial "$impl" "$scen" "$i"
    done
  done
  # stop this implementation everywhere before the next one starts
  for n in "${L2_NODES[@]}"; do "${impl}_stop" "$n"; done
  [[ -z $(l2_owners "$L2_VIP4") ]] || die "$impl: $L2_VIP4 still owned after stop"
done

# ---------------------------------------------------------------- the report
{
  echo "# L2 failover: $IMPLS (e2e/bench/l2-failover.sh)"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs shared with other work" \
    "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)). Topology: e2e/lib/l2topo.sh" \
    "(three node namespaces and a client on one Linux bridge). The client's l2probe.py sends an" \
    "ARP request for $L2_VIP4 every 10 ms; failover = trigger -> first ARP reply from a MAC other" \
    "than the old owner's (resolution 10 ms). Link mode: $LINK_MODE. $TRIALS trials per row."
  echo
  for impl in $IMPLS; do echo "* \`$impl\`: ${DESC[$impl]}"; done
  echo
  python3 - "$RES" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def pct(v, p):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
print("| implementation | scenario | trials | p50 ms | p99 ms | min ms | max ms "
      "| first GARP p50 ms | old owner answered after the new one | two MACs in one probe round |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
seen = []
for r in rows:
    k = (r["impl"], r["scenario"])
    if k not in seen:
        seen.append(k)
for impl, scen in seen:
    rs = [r for r in rows if (r["impl"], r["scenario"]) == (impl, scen)]
    g = [r["gap_ms"] for r in rs]
    a = [r["first_announce_ms"] for r in rs if r["first_announce_ms"] is not None]
    late = sum(1 for r in rs if r["old_replies_after_new"] > 0)
    split = sum(1 for r in rs if r["split"])
    ga = f"{pct(a, 50):.0f}" if a else "-"
    print(f"| {impl} | {scen} | {len(rs)} | {pct(g, 50):.0f} | {pct(g, 99):.0f} | {min(g):.0f} "
          f"| {max(g):.0f} | {ga} | {late}/{len(rs)} | {split}/{len(rs)} |")
print()
print("Raw samples (gap ms, in trial order):")
print()
for impl, scen in seen:
    g = [f'{r["gap_ms"]:.0f}' for r in rows if (r["impl"], r["scenario"]) == (impl, scen)]
    print(f"* {impl} {scen}: {' '.join(g)}")
PY
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
