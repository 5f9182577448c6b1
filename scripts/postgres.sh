#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests on 127.0.0.1 and prints
# its URL on stdout (everything else goes to stderr). Idempotent: a cluster
# already running on the port is reused. Installs Debian's postgresql package
# when no server binaries are present.
#   AI_TEST_PG_PORT (default 55432), AI_TEST_PG_DIR (default /tmp/ai-orchestrator-pg-<port>)
set -euo pipefail

PORT="${AI_TEST_PG_PORT:-55432}"
DIR="${AI_TEST_PG_DIR:-${TMPDIR:-/tmp}/ai-orchestrator-pg-$PORT}"
ROLE=aio
PASSWORD=aio-test
DB=aio

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(bindir)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(bindir)"
fi
[ -x "$BIN/initdb" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }

# The server refuses to run as root: run its tools as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DIR"
  chown postgres:postgres "$DIR"
  chmod 700 "$DIR"
else
  mkdir -p "$DIR"
  chmod 700 "$DIR"
fi

if ! as_pg "'$BIN/pg_ctl' -D '$DIR' status" >/dev/null 2>&1; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    echo "==> initdb $DIR" >&2
    # No locale: text sorts by byte, as SQLite does.
    as_pg "'$BIN/initdb' -D '$DIR' -U postgres --auth=trust --no-locale -E UTF8" >&2
  fi
  echo "==> starting PostgreSQL on 127.0.0.1:$PORT" >&2
  as_pg "'$BIN/pg_ctl' -D '$DIR' -l '$DIR/server.log' -w -o \"-p $PORT -k '$DIR' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" start" >&2
fi

psql_pg() { as_pg "'$BIN/psql' -h 127.0.0.1 -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA -c \"$1\""; }
if [ "$(psql_pg "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  psql_pg "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_pg "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_pg "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
