#!/usr/bin/env bash
# The Kubernetes test rig: a real etcd + kube-apiserver on loopback, with
# TLS, a static admin token and RBAC (issue 11). No kube-controller-manager,
# scheduler or kubelet run (see e2e/README.md, "Kubernetes rig").
#
#   scripts/kube-rig.sh install      build (once) kube-apiserver, kubectl, etcd
#                                    into ~/.cache/oxlb-kube/<version>/bin
#   scripts/kube-rig.sh bin          print that bin directory (after install)
#   scripts/kube-rig.sh up DIR       PKI, etcd, kube-apiserver; waits for /readyz;
#                                    writes DIR/kubeconfig, DIR/env, DIR/pids
#   scripts/kube-rig.sh down DIR     kill DIR's processes by PID, remove DIR
#
# Versions: scripts/kube/versions.env; the wrapper modules: scripts/kube/*/go.mod.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kube_dir=$here/kube
# shellcheck source=kube/versions.env
. "$kube_dir/versions.env"

die() { echo "kube-rig: $*" >&2; exit 1; }

# shellcheck source=kube/rig.sh
. "$kube_dir/rig.sh"

# The machine's kubectl, if its minor is within one of the API server's (the
# skew kubectl supports); else nothing, and install builds kubectl.
system_kubectl() {
    local k want got
    # Our own bin dir may be on PATH (make kube-up prints it): that kubectl
    # is the one we built, not the machine's.
    k=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$KUBE_CACHE/bin" | paste -sd: -) command -v kubectl) || return 1
    want=${KUBE_VERSION#v1.}; want=${want%%.*}
    got=$("$k" version --client 2>/dev/null | sed -nE 's/^Client Version: v1\.([0-9]+)\..*/\1/p') || return 1
    [ -n "$got" ] && [ $((got - want)) -le 1 ] && [ $((want - got)) -le 1 ] || return 1
    echo "$k"
}

cmd_install() {
    . "$kube_dir/goenv.sh"
    command -v go >/dev/null || die "install: no 'go' on PATH (nor /usr/local/go/bin/go)"
    local bin=$KUBE_CACHE/bin stamp
    # The stamp names what was built from what: versions and both go.sum files.
    local sys_kubectl
    sys_kubectl=$(system_kubectl) || sys_kubectl=
    stamp="$KUBE_VERSION $ETCD_VERSION kubectl=${sys_kubectl:-built} $(cat "$kube_dir/apiserver/go.sum" "$kube_dir/etcd/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
    if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp" ] &&
        [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ]; then
        echo "kube-rig: $KUBE_VERSION / etcd $ETCD_VERSION already built in $bin"
        return 0
    fi
    # Leftovers of an interrupted run (a .new may be a symlink) go first.
    rm -f "$bin/.stamp" "$bin/kube-apiserver.new" "$bin/kubectl.new" "$bin/etcd.new"
    local proxy
    proxy=$(go env GOPROXY)
    # Fetch first, so an unreachable proxy is one clear error, not a build log.
    for d in apiserver etcd; do
        (cd "$kube_dir/$d" && go mod download) ||
            die "install: downloading the modules of scripts/kube/$d/go.mod failed (GOPROXY=$proxy unreachable?)"
    done
    local v=${KUBE_VERSION#v} ld pkg
    local major=${v%%.*} minor
    minor=${v#*.}; minor=${minor%%.*}
    # The version is stamped into both packages that report it: with only
    # component-base, /version has an empty major/minor.
    ld="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    echo "kube-rig: building kube-apiserver $KUBE_VERSION (cold: several minutes)"
    (cd "$kube_dir/apiserver" &&
        go build -trimpath -ldflags "$ld" -o "$bin/kube-apiserver.new" k8s.io/kubernetes/cmd/kube-apiserver) ||
        die "install: go build of kube-apiserver $KUBE_VERSION failed"
    if [ -n "$sys_kubectl" ]; then
        echo "kube-rig: using $sys_kubectl (within one minor of $KUBE_VERSION)"
        ln -sfn "$sys_kubectl" "$bin/kubectl.new"
    else
        echo "kube-rig: the machine's kubectl is missing or more than one minor from $KUBE_VERSION; building kubectl $KUBE_VERSION"
        (cd "$kube_dir/apiserver" &&
            go build -trimpath -ldflags "$ld" -o "$bin/kubectl.new" k8s.io/kubernetes/cmd/kubectl) ||
            die "install: go build of kubectl $KUBE_VERSION failed"
    fi
    echo "kube-rig: building etcd $ETCD_VERSION"
    (cd "$kube_dir/etcd" &&
        go build -trimpath -ldflags "-s -w" -o "$bin/etcd.new" go.etcd.io/etcd/server/v3) ||
        die "install: go build of etcd $ETCD_VERSION failed"
    for b in kube-apiserver kubectl etcd; do mv -f "$bin/$b.new" "$bin/$b"; done
    echo "$stamp" > "$bin/.stamp"
    "$bin/kube-apiserver" --version
    "$bin/kubectl" version --client
    "$bin/etcd" --version
}

cmd_bin() {
    . "$kube_dir/goenv.sh"
    [ -f "$KUBE_CACHE/bin/.stamp" ] || die "bin: not installed; run scripts/kube-rig.sh install"
    echo "$KUBE_CACHE/bin"
}

case "${1:-}" in
    install) cmd_install ;;
    bin) cmd_bin ;;
    up) [ $# -eq 2 ] || die "usage: kube-rig.sh up DIR"; rig_up "$2" ;;
    down) [ $# -eq 2 ] || die "usage: kube-rig.sh down DIR"; rig_down "$2" ;;
    *) die "usage: kube-rig.sh install | bin | up DIR | down DIR" ;;
esac
