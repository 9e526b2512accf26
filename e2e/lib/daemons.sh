# shellcheck shell=bash
# e2e/lib/daemons.sh - start/stop/query real BGP peers (BIRD 2, FRR bgpd,
# GoBGP, ExaBGP) inside test namespaces. Source after netns.sh.
#
# Every daemon instance has a NAME; its state (config, control socket, pid
# file, log) lives in $E2E_TMP/NAME (see daemon_dir). Each *_start reads the
# daemon's configuration from stdin, starts the daemon in the foreground mode
# in the background inside namespace NS, registers its PID for cleanup and
# waits until its control interface answers.
#
# *_routes NAME [ipv4|ipv6] prints the best routes in normalized form:
#   PREFIX nh=NH path=AS,AS lp=N med=N comm=A:B,... lcomm=A:B:C,...
# ("-" for a missing value), one line per prefix, sorted.

[[ -n ${_E2E_DAEMONS_SOURCED:-} ]] && return 0
_E2E_DAEMONS_SOURCED=1
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

E2E_NORMALIZE="$E2E_LIB_DIR/normalize.py"
declare -gA _E2E_DAEMON_PID=()
declare -gA _E2E_DAEMON_NS=()

# daemon_dir NAME: create and print the state dir of daemon NAME.
daemon_dir() { mkdir -p "$E2E_TMP/$1" && printf '%s' "$E2E_TMP/$1"; }
# daemon_pid NAME: PID of daemon NAME.
daemon_pid() { printf '%s' "${_E2E_DAEMON_PID[$1]:-}"; }
# daemon_stop NAME: SIGTERM (then SIGKILL after 5 s) daemon NAME and wait for it.
daemon_stop() { local p=${_E2E_DAEMON_PID[$1]:-}; [[ -n $p ]] && kill_pid "$p" 5; return 0; }
# daemon_alive NAME: true if daemon NAME is still running.
daemon_alive() { local p=${_E2E_DAEMON_PID[$1]:-}; [[ -n $p ]] && kill -0 "$p" 2>/dev/null \
  && [[ $(ps -o stat= -p "$p") != Z* ]]; }
# daemon_log NAME [N]: last N (default 40) lines of daemon NAME's log.
daemon_log() { tail -n "${2:-40}" "$E2E_TMP/$1/log" 2>/dev/null; }

# Run daemons in a private UTS namespace with hostname = daemon NAME
# (so the FQDN capability content is deterministic and the machine's name never leaks).
# usage: spawn NS LOG "${_E2E_UTS[@]}" HOST CMD... (every exec keeps the PID).
_E2E_UTS=(unshare --uts -- sh -c 'hostname "$0" && exec "$@"')

_daemon_started() {
  local name=$1 ns=$2 pid=$3
  _E2E_DAEMON_PID[$name]=$pid
  _E2E_DAEMON_NS[$name]=$ns
}

_daemon_wait_ready() {
  local name=$1 t=$2; shift 2
  if ! wait_until "$t" "$@"; then
    daemon_log "$name" >&2
    die "$name did not become ready"
  fi
}

######## BIRD 2 ########

# bird_start NAME NS < bird.conf: bird -f -c CONF -s SOCK -P PIDFILE in NS.
bird_start() {
  local name=$1 ns=$2 d
  require bird birdc
  d=$(daemon_dir "$name"); cat >"$d/bird.conf"
  bird -p -c "$d/bird.conf" >/dev/null 2>"$d/parse.err" || { cat "$d/parse.err" >&2; die "$name: bird.conf does not parse"; }
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid"
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 birdc -s "$d/bird.ctl" show status
}
# bird_cmd NAME ARGS...: birdc -s SOCK ARGS... (the control socket is a file; no netns needed).
bird_cmd() { local n=$1; shift; birdc -s "$E2E_TMP/$n/bird.ctl" "$@"; }
# bird_routes NAME [ipv4|ipv6] [extra `show route` args...]: normalized best routes.
# Fails (non-zero) when birdc cannot get an answer, so a dead BIRD never reads
# as an empty table.
bird_routes() {
  local n=$1 afi=${2:-} out; shift; (($#)) && shift
  out=$(bird_cmd "$n" show route all "$@") || { log "bird_routes $n: birdc failed"; return 2; }
  python3 "$E2E_NORMALIZE" bird $afi <<<"$out"
}
# bird_established NAME PROTO: true if BGP protocol PROTO is Established.
bird_established() {
  local out; out=$(bird_cmd "$1" show protocols "$2") || return 2
  grep -q 'Established' <<<"$out"
}
# bird_proto_matches NAME PROTO REGEX: true if `show protocols all PROTO`
# answered and matches REGEX (case-insensitive); a failed query returns 2.
bird_proto_matches() {
  local out; out=$(bird_cmd "$1" show protocols all "$2") || return 2
  grep -Eqi -- "$3" <<<"$out"
}
# bird_not_established NAME PROTO: true only if BIRD answered and PROTO is not
# Established (a dead BIRD or an unknown protocol is a failure, not "down").
bird_not_established() {
  local out; out=$(bird_cmd "$1" show protocols "$2") || return 2
  grep -Eq "^$2 +BGP " <<<"$out" || return 2
  ! grep -q 'Established' <<<"$out"
}

######## FRR bgpd (no zebra) ########

# frr_start NAME NS < bgpd.conf: /usr/lib/frr/bgpd -Z -S -n ... in NS, vty socket in the state dir.
frr_start() {
  local name=$1 ns=$2 d
  require /usr/lib/frr/bgpd vtysh jq
  d=$(daemon_dir "$name"); cat >"$d/bgpd.conf"
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" /usr/lib/frr/bgpd -Z -S -n -u root -g root \
    -f "$d/bgpd.conf" -i "$d/bgpd.pid" --vty_socket "$d" -A 127.0.0.1 -P 0 --log stdout
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 vtysh --vty_socket "$d" -d bgpd -c 'show bgp summary'
}
# frr_cmd NAME CMD...: vtysh -d bgpd -c CMD for each CMD (e.g. 'show bgp summary json').
frr_cmd() {
  local n=$1; shift
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  vtysh --vty_socket "$E2E_TMP/$n" -d bgpd "${args[@]}"
}
# frr_config NAME LINE...: apply configuration lines (conf t; LINE...; end).
frr_config() { local n=$1; shift; frr_cmd "$n" 'configure terminal' "$@" 'end'; }
# frr_routes NAME [ipv4|ipv6]: normalized best routes (one detail query per prefix).
# Fails (non-zero) when vtysh gets no answer (a dead bgpd is not an empty table).
frr_routes() {
  local n=$1 afi=${2:-ipv4} p args=() out prefixes
  out=$(frr_cmd "$n" "show bgp $afi unicast json") || { log "frr_routes $n: vtysh failed"; return 2; }
  prefixes=$(python3 "$E2E_NORMALIZE" frr-prefixes "$afi" <<<"$out") || return 2
  while read -r p; do
    [[ -n $p ]] && args+=("show bgp $afi unicast $p json")
  done <<<"$prefixes"
  ((${#args[@]})) || return 0
  out=$(frr_cmd "$n" "${args[@]}") || { log "frr_routes $n: vtysh failed"; return 2; }
  python3 "$E2E_NORMALIZE" frr "$afi" <<<"$out"
}
# frr_established NAME PEER: true if the session to PEER is Established.
frr_established() {
  frr_cmd "$1" "show bgp neighbors $2 json" | jq -e --arg p "$2" '.[$p].bgpState == "Established"' >/dev/null
}
# frr_not_established NAME PEER: true only if vtysh answered, knows PEER and
# its state is not Established (a dead bgpd is a failure, not "down").
frr_not_established() {
  local out; out=$(frr_cmd "$1" "show bgp neighbors $2 json") || return 2
  jq -e --arg p "$2" '.[$p].bgpState != null and .[$p].bgpState != "Established"' >/dev/null <<<"$out"
}

######## GoBGP ########

# gobgp_start NAME NS < gobgpd.toml: gobgpd -f CONF -t toml --api-hosts 127.0.0.1:50051
# --pprof-disable in NS (the API is on the namespace's own loopback).
gobgp_start() {
  local name=$1 ns=$2 d
  require gobgpd gobgp jq
  d=$(daemon_dir "$name"); cat >"$d/gobgpd.toml"
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" gobgpd -f "$d/gobgpd.toml" -t toml \
    --api-hosts 127.0.0.1:50051 --pprof-disable -p
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 gobgp_cmd "$name" global
}
# gobgp_cmd NAME ARGS...: gobgp -u 127.0.0.1 -p 50051 ARGS... inside the daemon's namespace.
gobgp_cmd() { local n=$1; shift; nsx "${_E2E_DAEMON_NS[$n]}" gobgp -u 127.0.0.1 -p 50051 "$@"; }
# gobgp_routes NAME [ipv4|ipv6]: normalized best routes of the global RIB.
# Fails (non-zero) when the gobgp CLI gets no answer.
gobgp_routes() {
  local afi=${2:-ipv4} out
  out=$(gobgp_cmd "$1" global rib -a "$afi" -j) || { log "gobgp_routes $1: gobgp failed"; return 2; }
  python3 "$E2E_NORMALIZE" gobgp "$afi" <<<"$out"
}
# gobgp_established NAME PEER: true if the session to PEER is Established.
gobgp_established() {
  gobgp_cmd "$1" neighbor "$2" -j | jq -e '.state.session_state == 6' >/dev/null
}

######## ExaBGP 4.2 ########

# exabgp_start NAME NS < exabgp.conf: exabgp in NS with env overrides (no user
# drop, no CLI pipes, pid file in the state dir). In the config, use the process
# "api" that $(exabgp_api_process NAME) prints: it logs every received message
# as JSON to $E2E_TMP/NAME/updates.json and forwards lines written with
# exabgp_send to ExaBGP.
exabgp_start() {
  local name=$1 ns=$2 d
  require exabgp python3 jq
  d=$(daemon_dir "$name"); cat >"$d/exabgp.conf"
  [[ -p $d/api.fifo ]] || mkfifo "$d/api.fifo"
  : >>"$d/updates.json"
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" env \
    exabgp.daemon.user=root exabgp.daemon.drop=false exabgp.daemon.daemonize=false \
    exabgp.daemon.pid="$d/exabgp.pid" exabgp.api.cli=false exabgp.log.destination=stdout \
    exabgp.tcp.bind= exabgp "$d/exabgp.conf"
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 grep -q 'loaded new configuration successfully' "$d/log"
}
# exabgp_api_process NAME: prints the `process api {...}` block for the ExaBGP config.
exabgp_api_process() {
  local d; d=$(daemon_dir "$1")
  printf 'process api {\n  run /usr/bin/python3 %s %s %s;\n  encoder json;\n}\n' \
    "$E2E_LIB_DIR/exabgp_api.py" "$d/updates.json" "$d/api.fifo"
}
# exabgp_send NAME LINE: send one API command (e.g. "announce route 198.51.100.0/24 next-hop self").
exabgp_send() { timeout 5 sh -c 'printf "%s\n" "$1" > "$2"' _ "$2" "$E2E_TMP/$1/api.fifo"; }
# exabgp_routes NAME [ipv4|ipv6]: normalized routes received (replayed from the JSON log).
# The log outlives the daemon, so a dead ExaBGP is a failure, not its last table.
exabgp_routes() {
  daemon_alive "$1" || { log "exabgp_routes $1: ExaBGP is not running"; return 2; }
  python3 "$E2E_NORMALIZE" exabgp ${2:-} <"$E2E_TMP/$1/updates.json"
}
# exabgp_established NAME PEER: true if the last state message for PEER is "up".
exabgp_established() {
  local states
  states=$(jq -r --arg p "$2" 'select(.type=="state" and .neighbor.address.peer==$p) | .neighbor.state' \
    "$E2E_TMP/$1/updates.json" 2>/dev/null) || return 2
  [[ ${states##*$'\n'} == up ]]
}

######## RIB assertions (any daemon) ########

# rib_has FN DNAME AFI REGEX: true if the daemon's normalized RIB (FN DNAME AFI,
# e.g. `bird_routes b ipv4`) has a line matching REGEX; 2 if the query failed.
# (Captured first: `FN | grep -q` under pipefail fails when grep exits early
# and the producer gets SIGPIPE on a large RIB.)
rib_has() {
  local out; out=$("$1" "$2" "$3" 2>/dev/null) || { log "rib_has: $1 $2 $3 failed"; return 2; }
  grep -Eq -- "$4" <<<"$out"
}
# rib_lacks FN DNAME AFI REGEX: true only if the query answered and no line
# matches REGEX (a failed query is never read as "absent").
rib_lacks() {
  local out; out=$("$1" "$2" "$3" 2>/dev/null) || { log "rib_lacks: $1 $2 $3 failed"; return 2; }
  ! grep -Eq -- "$4" <<<"$out"
}
