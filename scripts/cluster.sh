#!/usr/bin/env bash
# One command for a local cluster on 127.0.0.1: PostgreSQL, N smartreply replicas (each with its own data
# folder, sharing nothing but the database) and HAProxy in front (scripts/haproxy.cfg).
#
#   bash scripts/cluster.sh start [N]   # default 2 replicas; prints the front's URL
#   bash scripts/cluster.sh status      # each part, and HAProxy's view of each replica
#   bash scripts/cluster.sh stop        # HAProxy, the replicas (draining), then PostgreSQL
#
# Installs what is missing first (the .venv via scripts/setup.sh; Debian's haproxy and postgresql via
# apt-get). Ports: SMARTREPLY_CLUSTER_BASE_PORT (8080) = the front, +1 HAProxy's stats page, +1+i replica i;
# PostgreSQL on SMARTREPLY_CLUSTER_PG_PORT (54330, data in /tmp/smartreply-pg-<port>). The folder
# SMARTREPLY_CLUSTER_DIR (var/cluster) holds the state, logs, replica data and the operator key
# (operator-key). More options: .venv/bin/smartreply cluster start --help; docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-status}
case "$cmd" in
  start)
    [ "${SMARTREPLY_CLUSTER_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh >&2
    bash scripts/install_haproxy.sh
    if ! command -v haproxy >/dev/null 2>&1; then
      echo "cluster.sh: haproxy is not installed and could not be (apt-get as root needed)" >&2
      exit 1
    fi
    shift
    replicas=${SMARTREPLY_CLUSTER_REPLICAS:-2}
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then replicas=$1; shift; fi
    exec .venv/bin/smartreply cluster start --replicas "$replicas" "$@"
    ;;
  stop | status)
    shift
    exec .venv/bin/smartreply cluster "$cmd" "$@"
    ;;
  *)
    echo "usage: bash scripts/cluster.sh start [N] | status | stop" >&2
    exit 2
    ;;
esac
