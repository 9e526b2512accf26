#!/usr/bin/env bash
# SIGTERM while the speaker is still starting (its first apply of 50k
# Services running; /healthz already answers) is a clean shutdown: exit 0
# and the "shutting down" path, never death by the signal's default action
# (exit 143, no Cease), which a graceful restart helper would take for a
# crash and keep the routes stale.
set -euo pipefail
E2E_TEST_NAME=51-gr-term-at-start
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
require python3 curl jq

cfg=$E2E_TMP/config
python3 "$(dirname "$0")/../bench/gen_services.py" 50000 "$cfg" >/dev/null
ns_create node
_speaker_ensure_bin
d=$(daemon_dir sp)
spawn node "$d/log" "$SPEAKER_BIN" standalone --config "$cfg" --node-name NodeA --metrics-addr 127.0.0.1:$SPEAKER_PORT
pid=$E2E_LAST_PID
_daemon_started sp node "$pid"
wait_until 30 eval "speaker_get sp /healthz >/dev/null || ! kill -0 $pid 2>/dev/null" || die "speaker never served /healthz"
running=$(grep -c 'oxlb-speaker running' "$d/log" || true)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
((running == 0)) || log "WARNING: the first apply had finished before SIGTERM; the test did not probe the start-up window"
((rc == 0)) || { tail -5 "$d/log" >&2; die "SIGTERM during start-up: exit status $rc (143 = killed by the signal), want 0"; }
grep -q 'shutting down: Cease to every peer' "$d/log" || { tail -5 "$d/log" >&2; die "SIGTERM during start-up did not take the shutdown path"; }
log "ok: SIGTERM during start-up (apply running: $((running == 0))) -> exit 0 via the shutdown path"
log "PASS"
