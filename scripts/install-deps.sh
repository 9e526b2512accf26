#!/usr/bin/env bash
# Installs the Debian packages the tests need. Idempotent and quick when
# everything is already present. Daemons are never auto-started by the
# package scripts: each test starts its own, inside its own namespace.
set -euo pipefail
pkgs=(bird2 frr gobgpd exabgp arping ndisc6 tcpdump tshark nftables iproute2 procps python3 jq keepalived openssl curl socat)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  # Keep package maintainer scripts from starting bird/frr/gobgpd/keepalived in the root namespace.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer before it asks.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi
echo "install-deps: ok"
