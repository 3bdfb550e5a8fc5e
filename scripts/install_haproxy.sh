#!/usr/bin/env bash
# Idempotent: Debian's HAProxy (the load balancer of scripts/cluster.sh and tests/e2e/test_cluster.py).
# Only the binary is used: the package's own service is not started (scripts/cluster.sh runs HAProxy with
# scripts/haproxy.cfg). Without apt-get as root, says so and exits 0: the cluster test then skips.
set -euo pipefail
if ! command -v haproxy >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing HAProxy from Debian (apt-get)" >&2
    apt-get update -qq >&2
    # On a host with systemd the package starts its own instance (port 80, /etc/haproxy): stop and
    # disable it; scripts/cluster.sh runs HAProxy itself.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends haproxy >&2
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
      systemctl disable --now haproxy >&2 || true
    fi
  else
    echo "install_haproxy.sh: haproxy missing and apt-get (as root) unavailable; the cluster test will be skipped" >&2
    exit 0
  fi
fi
haproxy -v | sed -n 1p >&2  # not head: it would close the pipe early (SIGPIPE under pipefail)
