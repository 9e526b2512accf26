# shellcheck shell=bash
# e2e/peers/oxlb.sh - run the speaker under test (oxlb-bgp) inside a test
# namespace and query its status file. Source after lib/daemons.sh.
#
#   oxlb_start NAME NS ARGS...   start oxlb-bgp in NS with --routes-file/--status-file
#                                in $E2E_TMP/NAME (write routes first with oxlb_routes)
#   oxlb_routes NAME < FILE      (re)write the routes file atomically; SIGHUP if running
#   oxlb_hup NAME                SIGHUP (re-read the routes file)
#   oxlb_peer NAME PEER          JSON of the peer whose name or address is PEER
#   oxlb_field NAME PEER JQEXPR  one field of that peer (e.g. .state, .messages_in.keepalive)
#   oxlb_state NAME PEER         its state
#   oxlb_established NAME PEER   true if Established
#   oxlb_not_established NAME PEER  true if the speaker answers with another state
#   oxlb_rss_kb NAME [VmRSS|VmHWM]
#   oxlb_routes_v4 N [ATTRS] / oxlb_routes_v6 N [ATTRS]   route lines for the test prefixes
#
# The binary is ${OXLB_BGP:-$REPO/target/release/oxlb-bgp}; when OXLB_BGP is unset
# it is (re)built with cargo if missing or older than the sources.

[[ -n ${_E2E_OXLB_SOURCED:-} ]] && return 0
_E2E_OXLB_SOURCED=1

OXLB_REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)

# oxlb_bin: print the path of the binary under test, building it if needed.
oxlb_bin() {
  if [[ -n ${OXLB_BGP:-} ]]; then
    [[ -x $OXLB_BGP ]] || die "OXLB_BGP=$OXLB_BGP is not an executable"
    printf '%s' "$OXLB_BGP"; return 0
  fi
  local bin="$OXLB_REPO/target/release/oxlb-bgp" stale=0
  if [[ ! -x $bin ]]; then
    stale=1
  elif [[ -n $(find "$OXLB_REPO/crates" "$OXLB_REPO/Cargo.toml" "$OXLB_REPO/Cargo.lock" \
      \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$bin" -print -quit 2>/dev/null) ]]; then
    stale=1
  fi
  if ((stale)); then
    require cargo
    log "building oxlb-bgp (cargo build --release -p bgp-session --bin oxlb-bgp)"
    if ! (cd "$OXLB_REPO" && cargo build --release -p bgp-session --bin oxlb-bgp >&2); then
      [[ -x $bin ]] || die "cannot build oxlb-bgp"
      log "WARNING: build failed, testing the existing (stale) $bin"
    fi
  fi
  [[ -x $bin ]] || die "oxlb-bgp not found at $bin"
  printf '%s' "$bin"
}

# oxlb_routes NAME < FILE: write the routes file (atomic rename), SIGHUP if running.
oxlb_routes() {
  local d; d=$(daemon_dir "$1")
  cat >"$d/routes.new" && mv -f "$d/routes.new" "$d/routes"
  if daemon_alive "$1"; then oxlb_hup "$1"; fi
}

# oxlb_hup NAME: ask the speaker to re-read its routes file.
oxlb_hup() { kill -HUP "$(daemon_pid "$1")"; }

# oxlb_start NAME NS ARGS...: start the speaker; waits until its status file exists.
OXLB_BIN=
oxlb_start() {
  local name=$1 ns=$2 d; shift 2
  require jq
  [[ -n $OXLB_BIN ]] || OXLB_BIN=$(oxlb_bin) || exit 1
  d=$(daemon_dir "$name")
  [[ -f $d/routes ]] || : >"$d/routes"
  rm -f "$d/status.json"
  printf '%q ' "$OXLB_BIN" --routes-file "$d/routes" --status-file "$d/status.json" "$@" >"$d/cmdline"
  echo >>"$d/cmdline"
  spawn "$ns" "$d/log" env RUST_BACKTRACE=1 "$OXLB_BIN" --routes-file "$d/routes" \
    --status-file "$d/status.json" --log-format text "$@"
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  wait_until 10 eval "test -s '$d/status.json' || ! daemon_alive '$name'" || true
  if ! daemon_alive "$name"; then
    daemon_log "$name" >&2
    die "$name: oxlb-bgp exited at start (cmdline: $(cat "$d/cmdline"))"
  fi
  if [[ ! -s $d/status.json ]]; then
    daemon_log "$name" >&2
    die "$name: no status file after 10 s (cmdline: $(cat "$d/cmdline"))"
  fi
}

# oxlb_status NAME: the whole status JSON (retries once on a partial read).
oxlb_status() {
  local f="$E2E_TMP/$1/status.json" s
  s=$(cat "$f" 2>/dev/null)
  jq -e . >/dev/null 2>&1 <<<"$s" || { sleep 0.05; s=$(cat "$f" 2>/dev/null); }
  printf '%s\n' "$s"
}
# oxlb_peer NAME PEER: JSON object of the peer with that name or address.
oxlb_peer() {
  oxlb_status "$1" | jq -ce --arg p "$2" \
    '[.peers[] | select(.name == $p or .address == $p)][0] // empty'
}
# oxlb_field NAME PEER JQEXPR: a field of that peer, raw.
oxlb_field() { oxlb_peer "$1" "$2" | jq -r "$3"; }
oxlb_state() { oxlb_field "$1" "$2" .state; }
oxlb_established() { [[ $(oxlb_state "$1" "$2" 2>/dev/null) == Established ]]; }
# oxlb_not_established NAME PEER: true only if the speaker runs, its status
# names PEER and the state is not Established (an unreadable status or a dead
# speaker is a failure, not "down").
oxlb_not_established() {
  local s
  daemon_alive "$1" || return 2
  s=$(oxlb_state "$1" "$2" 2>/dev/null) || return 2
  [[ -n $s && $s != null && $s != Established ]]
}
# oxlb_rss_kb NAME [FIELD]: VmRSS (or VmHWM) of the speaker in kB.
oxlb_rss_kb() {
  awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$(daemon_pid "$1")/status"
}
# oxlb_dump NAME: status + log tail, for failure messages.
oxlb_dump() {
  log "---- $1 status ----"; oxlb_status "$1" | jq . >&2 || true
  log "---- $1 log (tail) ----"; daemon_log "$1" 30 >&2 || true
}

# oxlb_routes_v4 N [SKIP...]: the standard test IPv4 routes 203.0.113.1..N/32.
# Route i carries community 65000:100 and 65000:i, large community 64512:1:i;
# odd routes have local-pref=200 (so iBGP peers must see 200 on odd, 100 on even).
oxlb_routes_v4() {
  local n=$1 i; shift
  for ((i = 1; i <= n; i++)); do
    [[ " $* " == *" $i "* ]] && continue
    printf '203.0.113.%d/32 community=65000:100 community=65000:%d large=64512:1:%d%s\n' \
      "$i" "$i" "$i" "$( ((i % 2)) && echo ' local-pref=200')"
  done
}
# oxlb_routes_v6 N [SKIP...]: 2001:db8:100::1..N/128 (hex), same attributes.
oxlb_routes_v6() {
  local n=$1 i; shift
  for ((i = 1; i <= n; i++)); do
    [[ " $* " == *" $i "* ]] && continue
    printf '2001:db8:100::%x/128 community=65000:100 community=65000:%d large=64512:1:%d%s\n' \
      "$i" "$i" "$i" "$( ((i % 2)) && echo ' local-pref=200')"
  done
}

# oxlb_expect_line v4|v6 I NH PATH LP: the normalized line a peer must show for
# test route I (LP "any" accepts any local-pref, for eBGP).
oxlb_expect_line() {
  local af=$1 i=$2 nh=$3 path=$4 lp=$5 p
  if [[ $af == v4 ]]; then p="203\\.0\\.113\\.$i/32"; else p="2001:db8:100::$(printf %x "$i")/128"; fi
  [[ $lp == any ]] && lp='[^ ]+'
  local comm="65000:$i,65000:100"; ((i > 100)) && comm="65000:100,65000:$i"; ((i == 100)) && comm="65000:100"
  printf '^%s nh=%s path=%s lp=%s med=- comm=%s lcomm=64512:1:%d$' \
    "$p" "${nh//./\\.}" "$path" "$lp" "$comm" "$i"
}

# oxlb_check_rib WHAT FN DNAME AFI(ipv4|ipv6) N NH PATH IBGP(0|1) [SKIP...]:
# wait until the daemon's RIB (FN DNAME AFI) has exactly the test routes 1..N
# minus SKIP, each with the expected attributes; dies with a diff otherwise.
oxlb_check_rib() {
  local what=$1 fn=$2 dn=$3 afi=$4 n=$5 nh=$6 path=$7 ibgp=$8; shift 8
  local af=v4 i want=() lp
  [[ $afi == ipv6 ]] && af=v6
  for ((i = 1; i <= n; i++)); do
    [[ " $* " == *" $i "* ]] && continue
    if ((ibgp)); then lp=$( ((i % 2)) && echo 200 || echo 100); else lp=any; fi
    want+=("$(oxlb_expect_line "$af" "$i" "$nh" "$path" "$lp")")
  done
  # The query must answer: a dead daemon is a failure, never "0 routes".
  _rib_ok() {
    local out rib re
    out=$("$fn" "$dn" "$afi" 2>/dev/null) || { _rib_query_failed=1; return 1; }
    _rib_query_failed=0
    rib=$(grep -E '^(203\.0\.113\.|2001:db8:100::)' <<<"$out") || [[ $? -eq 1 ]] || return 1
    [[ $(grep -c . <<<"$rib") -eq ${#want[@]} ]] || return 1
    for re in "${want[@]}"; do grep -Eq -- "$re" <<<"$rib" || return 1; done
  }
  _rib_query_failed=0
  if ! wait_until 20 _rib_ok; then
    if ((_rib_query_failed)); then
      die "$what: the RIB query '$fn $dn $afi' failed (is the daemon running?)"
    fi
    log "$what: $dn RIB ($afi), test prefixes only:"
    "$fn" "$dn" "$afi" 2>&1 | grep -E '^(203\.0\.113\.|2001:db8:100::)' >&2 || true
    log "expected (${#want[@]} lines):"; printf '  %s\n' "${want[@]}" >&2
    die "$what: routes in $dn's RIB do not match"
  fi
  log "ok: $what (${#want[@]} routes, nh=$nh path=${path:--} $( ((ibgp)) && echo 'lp=200/100'))"
}
