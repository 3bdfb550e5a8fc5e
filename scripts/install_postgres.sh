#!/usr/bin/env bash
# Idempotent: install PostgreSQL from Debian if missing, start a throwaway cluster on 127.0.0.1 (data in
# /tmp, fsync off: for tests and local clusters only), create the role and database, and print the DSN on
# stdout (everything else goes to stderr). Usage in scripts/test.sh:
#   export SMARTREPLY_TEST_POSTGRES_DSN="$(bash scripts/install_postgres.sh)"
# SMARTREPLY_PG_PORT (54329), SMARTREPLY_PG_DATA (/tmp/smartreply-pg-<port>) and SMARTREPLY_PG_DB
# (smartreply_test) choose another cluster or database (scripts/cluster.sh does);
# `bash scripts/install_postgres.sh stop` stops the cluster at SMARTREPLY_PG_DATA (its data stays).
set -euo pipefail
PGPORT=${SMARTREPLY_PG_PORT:-54329}
PGDATA=${SMARTREPLY_PG_DATA:-/tmp/smartreply-pg-$PGPORT}
PGDB=${SMARTREPLY_PG_DB:-smartreply_test}
log() { echo "==> $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ "${1:-}" = "stop" ]; then
  BIN=$(bindir)
  if [ -n "$BIN" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    log "stopping PostgreSQL ($PGDATA)"
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
    else "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2; fi
  fi
  exit 0
fi
if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
  log "installing PostgreSQL from Debian (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql >&2
fi
BIN=$(bindir)

# initdb/postgres refuse to run as root: use the postgres system user then.
if [ "$(id -u)" -eq 0 ]; then
  OWNER=postgres; as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER=$(id -un); as_owner() { "$@"; }
fi

if [ ! -f "$PGDATA/PG_VERSION" ]; then
  log "creating a throwaway PostgreSQL cluster in $PGDATA"
  mkdir -p "$PGDATA"; chown "$OWNER" "$PGDATA"; chmod 700 "$PGDATA"
  as_owner "$BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >&2
fi
if ! as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PGPORT"
  as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2
fi
psql_() { "$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_ -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='smartreply'")" != "1" ]; then
  psql_ -d postgres -c "CREATE ROLE smartreply LOGIN CREATEDB PASSWORD 'smartreply'" >&2
fi
if [ "$(psql_ -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$PGDB'")" != "1" ]; then
  psql_ -d postgres -c "CREATE DATABASE \"$PGDB\" OWNER smartreply" >&2
fi
echo "postgresql+psycopg://smartreply:smartreply@127.0.0.1:$PGPORT/$PGDB"
