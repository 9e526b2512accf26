# shellcheck shell=bash
# e2e/peers/speaker.sh - run `oxlb-speaker standalone` (the MetalLB-compatible
# speaker) inside a test namespace and query its HTTP endpoints.
# Source after lib/daemons.sh.
#
#   speaker_bin                      path of the binary (built if missing/stale)
#   speaker_start NAME NS CFG NODE [ARGS...]
#                                    start it (metrics on 127.0.0.1:$SPEAKER_PORT in NS),
#                                    wait until /healthz answers; log in $E2E_TMP/NAME/log
#   speaker_get NAME PATH            HTTP GET from inside the namespace (body on stdout)
#   speaker_status NAME              /status JSON
#   speaker_metrics NAME             /metrics text
#   speaker_metric NAME SERIES       value of one exact series line start, e.g.
#                                    'metallb_k8s_client_config_stale_bool' or
#                                    'metallb_bgp_session_up{peer="192.0.2.2:179"}'
#   speaker_session NAME PEER JQ     field of the /status session whose name or address is PEER
#   speaker_routes NAME PEER         /status routes for PEER (sorted, one a line)
#   speaker_hup NAME                 SIGHUP
#   speaker_dump NAME                /status + log tail on stderr (for failures)
#   speaker_die NAME MSG             dump, then die
#   examples_copy DIR                copy the repo's examples/ (the seed documents) into DIR
#
# The binary is ${OXLB_SPEAKER:-$REPO/target/release/oxlb-speaker}; when
# OXLB_SPEAKER is unset it is (re)built with cargo if missing or older than the sources.

[[ -n ${_E2E_SPEAKER_SOURCED:-} ]] && return 0
_E2E_SPEAKER_SOURCED=1

SPEAKER_REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)
SPEAKER_PORT=${SPEAKER_PORT:-7472}
declare -A _SPEAKER_PORT=()

speaker_bin() {
  if [[ -n ${OXLB_SPEAKER:-} ]]; then
    [[ -x $OXLB_SPEAKER ]] || die "OXLB_SPEAKER=$OXLB_SPEAKER is not an executable"
    printf '%s' "$OXLB_SPEAKER"; return 0
  fi
  local bin="$SPEAKER_REPO/target/release/oxlb-speaker" stale=0
  if [[ ! -x $bin ]]; then
    stale=1
  elif [[ -n $(find "$SPEAKER_REPO/crates" "$SPEAKER_REPO/Cargo.toml" "$SPEAKER_REPO/Cargo.lock" \
      \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$bin" -print -quit 2>/dev/null) ]]; then
    stale=1
  fi
  if ((stale)); then
    require cargo
    log "building oxlb-speaker (cargo build --release -p speaker)"
    if ! (cd "$SPEAKER_REPO" && cargo build --release -p speaker >&2); then
      [[ -x $bin ]] || die "cannot build oxlb-speaker"
      log "WARNING: build failed, testing the existing (stale) $bin"
    fi
  fi
  [[ -x $bin ]] || die "oxlb-speaker not found at $bin"
  printf '%s' "$bin"
}
SPEAKER_BIN=
_speaker_ensure_bin() { [[ -n $SPEAKER_BIN ]] || SPEAKER_BIN=$(speaker_bin) || exit 1; }

examples_copy() { mkdir -p "$1" && cp "$SPEAKER_REPO"/examples/*.yaml "$1"/; }

speaker_get() {
  local port=${_SPEAKER_PORT[$1]:-$SPEAKER_PORT}
  nsx "${_E2E_DAEMON_NS[$1]}" curl -sf --max-time 5 "http://127.0.0.1:$port$2"
}
speaker_status() { speaker_get "$1" /status; }
speaker_metrics() { speaker_get "$1" /metrics; }
speaker_metric() {
  local mt; mt=$(speaker_metrics "$1") || return 1
  awk -v s="$2" 'index($0, s" ") == 1 { print $NF; f = 1; exit } END { exit !f }' <<<"$mt"
}
speaker_session() {
  speaker_status "$1" | jq -r --arg p "$2" \
    "[.sessions[] | select(.name == \$p or .address == \$p)][0] | $3"
}
speaker_routes() {
  speaker_status "$1" | jq -r --arg p "$2" '(.routes[$p] // [])[]' | sort
}
speaker_hup() { kill -HUP "$(daemon_pid "$1")"; }
speaker_dump() {
  log "---- $1 /status ----"; speaker_status "$1" 2>/dev/null | jq -c . >&2 || true
  log "---- $1 log (tail) ----"; daemon_log "$1" 40 >&2 || true
}
speaker_die() { local n=$1; shift; speaker_dump "$n"; die "$*"; }

# speaker_start NAME NS CFG NODE [ARGS...]
speaker_start() {
  local name=$1 ns=$2 cfg=$3 node=$4 d; shift 4
  require curl jq
  _speaker_ensure_bin
  d=$(daemon_dir "$name")
  local port=${_SPEAKER_PORT[$name]:-$SPEAKER_PORT}
  _SPEAKER_PORT[$name]=$port
  local cmd=("$SPEAKER_BIN" standalone --config "$cfg" --node-name "$node"
    --metrics-addr "127.0.0.1:$port" "$@")
  printf '%q ' "${cmd[@]}" >"$d/cmdline"; echo >>"$d/cmdline"
  [[ -f $d/log ]] && mv -f "$d/log" "$d/log.$(date +%s%N)"
  spawn "$ns" "$d/log" env RUST_BACKTRACE=1 "${cmd[@]}"
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  wait_until 10 eval "speaker_get '$name' /healthz || ! daemon_alive '$name'" || true
  daemon_alive "$name" || { daemon_log "$name" >&2; die "$name: oxlb-speaker exited at start (cmdline: $(cat "$d/cmdline"))"; }
  speaker_get "$name" /healthz >/dev/null || { daemon_log "$name" >&2; die "$name: /healthz does not answer after 10 s"; }
  log "$name started (pid $(daemon_pid "$name")): $(cat "$d/cmdline")"
}

# speaker_stop NAME: SIGTERM, require exit status 0 within 5 s.
speaker_stop() {
  local pid rc=0; pid=$(daemon_pid "$1")
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && break
    sleep 0.1
  done
  # Still running: kill -0 reaches it AND ps shows a state that is not Z. Bash
  # reaps its background children on SIGCHLD, so a zombie can vanish between
  # the two calls: an empty ps answer means gone, not running.
  local st=
  kill -0 "$pid" 2>/dev/null && st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [[ -n $st && $st != Z* ]] && {
    daemon_log "$1" >&2; die "$1: did not exit within 5 s of SIGTERM"; }
  wait "$pid" || rc=$?
  ((rc == 0)) || { daemon_log "$1" >&2; die "$1: exit status $rc after SIGTERM (want 0)"; }
  log "$1 stopped (SIGTERM, exit 0)"
}

# bird_lines NAME AFI: normalized BIRD RIB without the header-ish noise.
# (a failed query fails; an answered empty table prints nothing)
bird_rib() {
  local out; out=$(bird_routes "$1" "$2" 2>/dev/null) || return 2
  grep -E '^[0-9a-f:.]+/[0-9]+ ' <<<"$out" || true
}
