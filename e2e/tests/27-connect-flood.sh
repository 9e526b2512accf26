#!/usr/bin/env bash
# e2e: serial (flood)
# A connection flood on one peer's address costs nothing and disturbs no one:
# a Python script in BIRD's namespace opens 1,000 parallel TCP connections to
# the speaker's listener from 192.0.2.3 (a configured passive peer, "fl",
# that never speaks BGP), while BIRD (192.0.2.2) has an established session.
# RFC 4271 §6.8 allows one connection per direction, so the speaker keeps
# the first inbound connection and closes each of the other 999 at once.
# Asserts: every extra connection is closed by the speaker (999 closed, 1
# left open) and counted (connections_rejected == 999); the speaker's fd
# count stays bounded during the flood (old code: one fd per connection,
# held for the 240 s OPEN hold time); BIRD's session is never reset.
#
#   ox (oxlb 64512) e0 192.0.2.1/24 --- eth0 192.0.2.2/24 + 192.0.2.3  b (BIRD 64513, flood script)
set -euo pipefail
E2E_TEST_NAME=27-connect-flood
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq python3
N=1000
FD_SLACK=200

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/24 b eth0 192.0.2.2/24
ns_addr b eth0 192.0.2.3/24

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp ox { local 192.0.2.2 as 64513; neighbor 192.0.2.1 as 64512; connect delay time 1;
  ipv4 { import all; export none; }; }
CONF

oxlb_routes_v4 3 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 --listen 192.0.2.1:179 \
  --peer 'address=192.0.2.2,as=64513,name=bird' \
  --peer 'address=192.0.2.3,as=64513,name=fl,passive'
opid=$(daemon_pid ox)

wait_until 20 bird_established b ox || { bird_cmd b show protocols all ox >&2; oxlb_dump ox; die "BIRD not Established"; }
wait_until 5 oxlb_established ox bird || { oxlb_dump ox; die "speaker: bird not Established"; }
fds() { ls "/proc/$opid/fd" | wc -l; }
base=$(fds)
log "speaker fds before the flood: $base"

cat >"$E2E_TMP/flood.py" <<'PY'
# flood.py SRC DST PORT N WAIT: N parallel connects; report how many the far
# end closed (EOF or reset after the connection was up) and how many are open.
import errno, resource, selectors, socket, sys, time
src, dst, port, n, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * n), min(hard, 4 * n)))
sel = selectors.DefaultSelector()
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    err = s.connect_ex((dst, port))
    if err not in (0, errno.EINPROGRESS):
        sys.exit(f"connect: {errno.errorcode.get(err, err)}")
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, {"up": False})
closed = failed = cease = 0
left = n
deadline = time.time() + wait
while left and time.time() < deadline:
    for key, ev in sel.select(timeout=0.5):
        s, st = key.fileobj, key.data
        if not st["up"]:
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e:
                failed += 1; left -= 1; sel.unregister(s); s.close(); continue
            st["up"] = True
            sel.modify(s, selectors.EVENT_READ, st)
            if not ev & selectors.EVENT_READ:
                continue
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data:
            # Cease / Connection Rejected: type 3, code 6, subcode 5.
            if len(data) >= 21 and data[18] == 3 and data[19] == 6 and data[20] == 5:
                cease += 1
            continue
        closed += 1; left -= 1; sel.unregister(s); s.close()
print(f"closed={closed} open={left} failed={failed} cease={cease}", flush=True)
PY
spawn b "$E2E_TMP/flood.out" python3 "$E2E_TMP/flood.py" 192.0.2.3 192.0.2.1 179 "$N" 15
fpid=$E2E_LAST_PID
max=$base
while kill -0 "$fpid" 2>/dev/null; do
  n=$(fds); ((n > max)) && max=$n
  sleep 0.1
done
wait "$fpid" 2>/dev/null || true
out=$(cat "$E2E_TMP/flood.out")
log "flood: $out; speaker fds max $max (before $base)"
[[ $out =~ ^closed=([0-9]+)\ open=([0-9]+)\ failed=([0-9]+)\ cease=([0-9]+)$ ]] || die "flood script failed: $out"
closed=${BASH_REMATCH[1]} open=${BASH_REMATCH[2]} failed=${BASH_REMATCH[3]}
((failed == 0)) || die "$failed of $N connects never came up"
((closed == N - 1 && open == 1)) || { oxlb_dump ox; die "want $((N - 1)) connections closed by the speaker and 1 kept, got closed=$closed open=$open"; }
((max <= base + FD_SLACK)) || die "speaker fd count reached $max during the flood (before: $base)"
rej=$(oxlb_field ox fl .connections_rejected)
[[ $rej == $((N - 1)) ]] || { oxlb_dump ox; die "connections_rejected=$rej, want $((N - 1))"; }

bird_established b ox || { bird_cmd b show protocols all ox >&2; die "BIRD session lost during the flood"; }
oxlb_established ox bird || { oxlb_dump ox; die "speaker: bird session lost during the flood"; }
cnt=$(oxlb_field ox bird .established_count)
[[ $cnt == 1 ]] || { oxlb_dump ox; die "bird session was reset during the flood (established_count=$cnt)"; }
oxlb_check_rib "routes at BIRD after the flood" bird_routes b ipv4 3 192.0.2.1 64512 0
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
