# shellcheck shell=bash
# e2e/lib/netns.sh - network-namespace harness for oxlb end-to-end tests.
#
# Source this file from a test script (bash). It creates a per-run temp dir
# ($E2E_TMP), a per-run namespace prefix ($E2E_PREFIX, unique per process) and
# installs a cleanup trap on EXIT INT TERM that kills every registered PID and
# deletes every registered namespace. Nothing here touches the root
# namespace's interfaces: veth pairs are created directly inside namespaces.
#
# Address conventions: documentation ranges only (192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).

[[ -n ${_E2E_NETNS_SOURCED:-} ]] && return 0
_E2E_NETNS_SOURCED=1

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PREFIX=${E2E_PREFIX:-oxlb-$$}
_E2E_PIDS=()
_E2E_NS=()
_E2E_CLEANED=0

if [[ $(id -u) -ne 0 ]]; then
  echo "e2e: must run as root (network namespaces)" >&2
  exit 1
fi

E2E_TMP=$(mktemp -d "/tmp/${E2E_PREFIX}.XXXXXX")
export E2E_TMP

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${E2E_TEST_NAME:-e2e}" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# require CMD...: fail (never skip) if a needed program is missing.
require() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required program '$c' not found (run scripts/install-deps.sh)"
  done
}

# register_pid PID...: kill these PIDs on cleanup.
register_pid() { _E2E_PIDS+=("$@"); }
# register_ns FULLNAME...: delete these namespaces on cleanup.
register_ns() { _E2E_NS+=("$@"); }

# ns_name SHORT: full namespace name for a short per-test name (r1 -> oxlb-1234-r1).
ns_name() { printf '%s-%s' "$E2E_PREFIX" "$1"; }

# nsx SHORT CMD...: run CMD inside the namespace.
nsx() { local n; n=$(ns_name "$1"); shift; ip netns exec "$n" "$@"; }

# ns_create SHORT: create a namespace with lo up, IPv6 DAD off, forwarding off.
ns_create() {
  local n; n=$(ns_name "$1")
  ip netns add "$n" || die "ip netns add $n"
  register_ns "$n"
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 >/dev/null
}

# ns_forwarding SHORT [0|1]: enable/disable IPv4+IPv6 forwarding in the namespace.
ns_forwarding() {
  nsx "$1" sysctl -qw net.ipv4.ip_forward="${2:-1}" net.ipv6.conf.all.forwarding="${2:-1}" >/dev/null
}

# _addr_add FULLNS IF "a/len,b/len": add comma-separated addresses (v4 or v6).
_addr_add() {
  local n=$1 ifc=$2 list=$3 a
  [[ -z $list || $list == - ]] && return 0
  IFS=, read -r -a _addrs <<<"$list"
  for a in "${_addrs[@]}"; do
    ip -n "$n" addr add "$a" dev "$ifc" nodad 2>/dev/null || ip -n "$n" addr add "$a" dev "$ifc" \
      || die "addr add $a dev $ifc in $n"
  done
}

# ns_addr SHORT IF ADDRS: add comma-separated addresses to an interface (e.g. lo).
ns_addr() { _addr_add "$(ns_name "$1")" "$2" "$3"; }

# ns_link NS1 IF1 ADDRS1 NS2 IF2 ADDRS2 [MAC1 MAC2]: veth pair NS1:IF1 <-> NS2:IF2,
# with comma-separated CIDR addresses on each end ("-" for none); both ends up.
# Fixed MACs make the IPv6 link-local addresses (and so captures) deterministic.
ns_link() {
  local n1 n2 m1=() m2=(); n1=$(ns_name "$1"); n2=$(ns_name "$4")
  [[ -n ${7:-} ]] && m1=(address "$7")
  [[ -n ${8:-} ]] && m2=(address "$8")
  ip link add "$2" "${m1[@]}" netns "$n1" type veth peer name "$5" "${m2[@]}" netns "$n2" \
    || die "veth $1:$2 <-> $4:$5"
  _addr_add "$n1" "$2" "$3"; _addr_add "$n2" "$5" "$6"
  ip -n "$n1" link set "$2" up; ip -n "$n2" link set "$5" up
}

# bridge_create SW: create switch namespace SW holding bridge br0 (an L2 segment).
bridge_create() {
  local n; ns_create "$1"; n=$(ns_name "$1")
  ip -n "$n" link add br0 type bridge || die "bridge in $n"
  ip -n "$n" link set br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 2>/dev/null || true
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null
  ip -n "$n" link set br0 up
}

# bridge_attach SW HOST IF ADDRS: plug namespace HOST into switch SW via a veth;
# HOST side is named IF and gets ADDRS; switch side is named p<N> and enslaved.
bridge_attach() {
  local sw host nport
  sw=$(ns_name "$1"); host=$(ns_name "$2")
  nport=$(ip -n "$sw" -o link show | grep -c ': p[0-9]*@' || true)
  local port="p$((nport + 1))"
  ip link add "$3" netns "$host" type veth peer name "$port" netns "$sw" || die "veth $2:$3 <-> $1:$port"
  ip -n "$sw" link set "$port" master br0
  ip -n "$sw" link set "$port" up
  _addr_add "$host" "$3" "$4"
  ip -n "$host" link set "$3" up
}

# spawn SHORT LOGFILE CMD...: run CMD in the background inside namespace SHORT
# ("-" = no namespace, only for tools that must not touch the network), stdout
# and stderr to LOGFILE; registers the PID for cleanup and stores it in
# $E2E_LAST_PID (do not call spawn inside $(...): the registration would be lost).
spawn() {
  local ns=$1 logf=$2; shift 2
  if [[ $ns == - ]]; then
    "$@" </dev/null >"$logf" 2>&1 &
  else
    ip netns exec "$(ns_name "$ns")" "$@" </dev/null >"$logf" 2>&1 &
  fi
  E2E_LAST_PID=$!
  register_pid "$E2E_LAST_PID"
}

# kill_pid PID [TIMEOUT_S]: SIGTERM then SIGKILL after timeout; waits for exit.
kill_pid() {
  local pid=$1 t=${2:-5} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    # reap if it is our child and a zombie
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  return 0
}

# wait_until TIMEOUT_S CMD...: poll CMD (every 0.2 s) until it succeeds; returns 1 on timeout.
wait_until() {
  local t=$1; shift
  local deadline=$((SECONDS + t))
  while ((SECONDS < deadline)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@" >/dev/null 2>&1
}

# e2e_cleanup: kill registered PIDs (and anything left inside our namespaces,
# by PID), delete registered namespaces, remove $E2E_TMP unless E2E_KEEP=1.
e2e_cleanup() {
  ((_E2E_CLEANED)) && return 0
  local _errexit=0; [[ $- == *e* ]] && _errexit=1; set +e
  _E2E_CLEANED=1
  local pid n i
  for ((i = ${#_E2E_PIDS[@]} - 1; i >= 0; i--)); do
    kill_pid "${_E2E_PIDS[i]}" 3
  done
  for n in "${_E2E_NS[@]}"; do
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill_pid "$pid" 2; done
  done
  for n in "${_E2E_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "keeping $E2E_TMP"
  else
    rm -rf "$E2E_TMP"
  fi
  ((_errexit)) && set -e
  return 0
}

_e2e_trap() {
  local rc=$?
  set +e  # a test's `set -e` must not abort the cleanup half-way
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -d ${E2E_TMP:-} ]]; then
    local f
    for f in "$E2E_TMP"/*/log; do
      [[ -f $f ]] || continue
      printf '%s\n' "---- last lines of $f ----" >&2
      tail -n 15 "$f" >&2
    done
  fi
  e2e_cleanup
  exit "$rc"
}
trap _e2e_trap EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
