# shellcheck shell=bash
# Sourced by scripts/kube-rig.sh: `up DIR` and `down DIR`.
#
# Where it listens: 127.0.0.1 of the network namespace it is started in
# (the root one for `make kube-up` and e2e/lib/kube.sh), on ports the kernel
# hands out free for this run. Why not a namespace of its own: kubectl, the
# controller under test and cargo tests then reach it with nothing but the
# kubeconfig (no `ip netns exec` around every client), and parallel runs
# cannot clash, since each gets its own ports and its own DIR. Nothing
# listens anywhere but loopback.

# Free TCP ports on 127.0.0.1, one per line: bound all at once (so distinct)
# with port 0, then released. Another process could take one in between;
# rig_up retries with fresh ports when a daemon cannot bind.
rig_free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# The PKI: a CA; the serving certificate with what rustls (kube-rs) insists
# on (CA:FALSE, keyUsage digitalSignature+keyEncipherment, EKU serverAuth,
# SANs for 127.0.0.1, localhost and kubernetes.default.svc); the RSA key pair
# that signs ServiceAccount tokens; the static admin token (system:masters).
rig_pki() {
    local d=$1/pki
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
            -keyout ca.key -out ca.crt -subj "/CN=oxlb-kube-rig-ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -sha256 -keyout apiserver.key \
            -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
        cat > apiserver.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EXT
        openssl x509 -req -sha256 -days 7 -in apiserver.csr -CA ca.crt -CAkey ca.key \
            -set_serial "0x$(openssl rand -hex 8)" -extfile apiserver.ext \
            -out apiserver.crt 2>/dev/null
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        printf '%s,oxlb-admin,oxlb-admin-uid,"system:masters"\n' "$(openssl rand -hex 24)" > tokens.csv
        chmod 600 ./*.key tokens.csv
    ) || { echo "kube-rig: up: openssl failed writing the PKI in $d" >&2; return 1; }
}

# Is PID alive and one of this rig's (its command line names DIR)? Guards
# `down` against a PID the kernel has since given to another process.
rig_owns() {
    local pid=$1 dir=$2
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline") || return 1
    [[ $cmdline == *"$dir/"* ]]
}

# Is PID running? A zombie (dead, waiting for whichever process adopted it
# to reap it) counts as gone: kill -0 alone would say alive.
rig_alive() {
    local stat
    stat=$(cat 2>/dev/null < "/proc/$1/stat") || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

rig_https_ok() { # URL-path: 0 if the API server answers 200 on it
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$RIG_DIR/pki/ca.crt" \
        -H "Authorization: Bearer $RIG_TOKEN" "https://127.0.0.1:$RIG_API_PORT$1") || return 1
    [ "$code" = 200 ]
}

# Waits (bounded, T seconds) for PID's port to be served or PID to die.
# 0 ready, 1 died, 2 timed out.
rig_wait() {
    local pid=$1 probe=$3 end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        rig_alive "$pid" || return 1
        if $probe; then return 0; fi
        sleep 0.1
    done
    return 2
}

rig_etcd_ok() {
    local body
    body=$(curl -s --max-time 1 "http://127.0.0.1:$RIG_ETCD_PORT/health") || return 1
    [[ $body == *'"health":"true"'* ]]
}
rig_api_ok() { rig_https_ok /readyz; }

rig_start_once() { # one attempt on fresh ports; 0 up, 1 failed, 3 port taken
    local dir=$1 bin=$2 ports
    ports=$(rig_free_ports 2) || return 1
    RIG_ETCD_PORT=$(sed -n 1p <<<"$ports")
    local peer_port
    peer_port=$(sed -n 2p <<<"$ports")
    rm -rf "$dir/etcd-data"
    # --unsafe-no-fsync: the data dir is thrown away at `down`; bulk tests
    # (10k Services) would otherwise measure the disk, not the code.
    "$bin/etcd" --name rig --data-dir "$dir/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$RIG_ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$RIG_ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "rig=http://127.0.0.1:$peer_port" \
        --unsafe-no-fsync --log-level warn < /dev/null > "$dir/etcd.log" 2>&1 &
    local etcd_pid=$!
    echo "etcd $etcd_pid" > "$dir/pids"
    local rc=0
    rig_wait "$etcd_pid" 30 rig_etcd_ok || rc=$?
    if [ "$rc" -ne 0 ]; then
        rig_kill "$etcd_pid" "$dir"
        grep -q 'address already in use' "$dir/etcd.log" && return 3
        echo "kube-rig: up: etcd did not become healthy on 127.0.0.1:$RIG_ETCD_PORT ($([ $rc = 1 ] && echo exited || echo timeout)); last log lines:" >&2
        tail -n 20 "$dir/etcd.log" >&2
        return 1
    fi

    RIG_API_PORT=$(rig_free_ports 1) || return 1
    local p=$dir/pki
    "$bin/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$RIG_ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
        --secure-port="$RIG_API_PORT" --cert-dir="$dir/apiserver-certs" \
        --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
        --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" \
        --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --api-audiences=https://kubernetes.default.svc \
        --authorization-mode=RBAC --anonymous-auth=false \
        --endpoint-reconciler-type=none \
        --service-cluster-ip-range=10.96.0.0/16 \
        --profiling=false --v=1 < /dev/null > "$dir/kube-apiserver.log" 2>&1 &
    local api_pid=$!
    echo "kube-apiserver $api_pid" >> "$dir/pids"
    rc=0
    rig_wait "$api_pid" 90 rig_api_ok || rc=$?
    if [ "$rc" -ne 0 ]; then
        rig_kill "$api_pid" "$dir"
        rig_kill "$etcd_pid" "$dir"
        grep -q 'address already in use' "$dir/kube-apiserver.log" && return 3
        echo "kube-rig: up: kube-apiserver gave no 200 on https://127.0.0.1:$RIG_API_PORT/readyz ($([ $rc = 1 ] && echo exited || echo timeout)); last log lines:" >&2
        tail -n 20 "$dir/kube-apiserver.log" >&2
        return 1
    fi
}

rig_kill() { # PID DIR: SIGTERM, SIGKILL after 10 s; only if PID is the rig's
    local pid=$1 dir=$2
    rig_owns "$pid" "$dir" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        rig_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        rig_alive "$pid" || return 0
        sleep 0.1
    done
    echo "kube-rig: down: PID $pid survived SIGKILL" >&2
    return 1
}

rig_up() {
    local dir=$1 bin t0
    t0=$(date +%s%N)
    command -v openssl >/dev/null || die "up: openssl not found"
    command -v curl >/dev/null || die "up: curl not found"
    command -v python3 >/dev/null || die "up: python3 not found"
    bin=$(cmd_bin)
    [ ! -e "$dir/pids" ] || die "up: $dir/pids exists: a rig may be running there (kube-rig.sh down $dir first)"
    mkdir -p "$dir"
    RIG_DIR=$(cd "$dir" && pwd)
    rig_pki "$RIG_DIR" || die "up: PKI failed"
    RIG_TOKEN=$(cut -d, -f1 "$RIG_DIR/pki/tokens.csv")
    local rc
    for _ in 1 2 3; do
        rc=0
        rig_start_once "$RIG_DIR" "$bin" || rc=$?
        [ "$rc" -eq 3 ] || break
        echo "kube-rig: up: a port was taken before the daemon bound it; retrying with fresh ports" >&2
    done
    [ "$rc" -eq 0 ] || { rm -f "$RIG_DIR/pids"; die "up: rig in $RIG_DIR did not start"; }
    local url="https://127.0.0.1:$RIG_API_PORT"
    cat > "$RIG_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: oxlb-rig
  cluster:
    server: $url
    certificate-authority-data: $(base64 -w0 < "$RIG_DIR/pki/ca.crt")
users:
- name: oxlb-admin
  user:
    token: $RIG_TOKEN
contexts:
- name: oxlb-rig
  context:
    cluster: oxlb-rig
    user: oxlb-admin
current-context: oxlb-rig
KC
    chmod 600 "$RIG_DIR/kubeconfig"
    cat > "$RIG_DIR/env" <<ENV
KUBECONFIG=$RIG_DIR/kubeconfig
KUBE_RIG_URL=$url
KUBE_RIG_CA=$RIG_DIR/pki/ca.crt
KUBE_RIG_TOKEN=$RIG_TOKEN
KUBE_RIG_BIN=$bin
KUBE_RIG_ETCD=http://127.0.0.1:$RIG_ETCD_PORT
ENV
    local ms=$((($(date +%s%N) - t0) / 1000000))
    echo "kube-rig: up: kube-apiserver $KUBE_VERSION at $url (etcd 127.0.0.1:$RIG_ETCD_PORT), /readyz 200 after $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s (PKI included); KUBECONFIG=$RIG_DIR/kubeconfig"
}

rig_down() {
    local dir=$1 pid failed=0
    [ -d "$dir" ] || { echo "kube-rig: down: $dir: no such directory (nothing to stop)"; return 0; }
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/pids" ]; then
        # The API server first, so it does not log etcd going away.
        while read -r _ pid; do
            rig_kill "$pid" "$dir" || failed=1
        done < <(tac "$dir/pids")
    fi
    [ "$failed" -eq 0 ] || die "down: a process of $dir survived; $dir kept"
    rm -rf "$dir"
}
