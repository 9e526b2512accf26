# shellcheck shell=bash
# Sourced: the Go environment every kube-rig build uses. Everything lives
# under ~/.cache/oxlb-kube/<kube version>/ so a second run (or CI on the same
# machine) starts warm, and two versions never share a cache.
: "${KUBE_VERSION:?goenv.sh: KUBE_VERSION not set (source versions.env first)}"
KUBE_CACHE=${OXLB_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oxlb-kube}/$KUBE_VERSION
export GOMODCACHE=$KUBE_CACHE/gomod
export GOCACHE=$KUBE_CACHE/gocache
# readonly: a build never rewrites the committed go.mod/go.sum.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
# Other builds share the 2 cores: never more than 2 Go compile workers.
export GOMAXPROCS=${GOMAXPROCS:-2}
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH=/usr/local/go/bin:$PATH
fi
mkdir -p "$GOMODCACHE" "$GOCACHE" "$KUBE_CACHE/bin"
