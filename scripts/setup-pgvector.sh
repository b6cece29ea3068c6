#!/usr/bin/env bash
# setup-pgvector.sh makes the local PostgreSQL able to run `CREATE EXTENSION vector`.
#
# Idempotent: when the extension is already available it only makes sure the
# server is up and the extension exists in the test database, then exits.
# Otherwise it builds pgvector from Debian trixie's source package against the
# installed server's headers (bookworm ships no pgvector package), using a
# private apt source list so the machine's own apt configuration is untouched.
# The mirror URI is read from the machine's existing Debian sources; no host
# name is written here.
#
# Environment: PGHOST (default 127.0.0.1), PGPORT (5432), PGUSER (postgres),
# PGDATABASE_TEST (test).
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
DB=${PGDATABASE_TEST:-test}
export PGHOST PGPORT PGUSER

log() { printf 'setup-pgvector: %s\n' "$*" >&2; }

psql_q() { psql -v ON_ERROR_STOP=1 -qAtX "$@"; }

ensure_server() {
  if pg_isready -q -h "$PGHOST" -p "$PGPORT"; then return 0; fi
  log "postgres is not answering on $PGHOST:$PGPORT; starting the local cluster"
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$ver" ] || { log "no local PostgreSQL cluster found"; exit 1; }
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && return 0; sleep 1; done
  log "postgres did not come up"; exit 1
}

server_major() { psql_q -d postgres -c 'SHOW server_version_num' | cut -c1-2; }

extension_available() {
  [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name='vector'")" = "1" ]
}

mirror_uri() {
  # First URI of the machine's Debian main archive (deb822 or one-line format).
  local uri=""
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | head -n1 || true)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "cannot find a Debian mirror URI in the apt sources"; exit 1; }
  printf '%s' "$uri"
}

build_pgvector() {
  local major=$1 work uri
  log "building pgvector for PostgreSQL $major from Debian trixie sources"
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg -s build-essential "postgresql-server-dev-$major" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq build-essential "postgresql-server-dev-$major" >/dev/null
  fi
  work=$(mktemp -d /tmp/pgvector-build.XXXXXX)
  trap 'rm -rf "$work"' RETURN
  uri=$(mirror_uri)
  mkdir -p "$work/lists/partial"
  printf 'deb-src [trusted=yes] %s trixie main\n' "$uri" >"$work/sources.list"
  local aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
  apt-get "${aptopts[@]}" update -qq
  (cd "$work" && apt-get "${aptopts[@]}" source --download-only -qq pgvector)
  local orig
  orig=$(ls "$work"/pgvector_*.orig.tar.* | head -n1)
  mkdir -p "$work/src"
  tar -xf "$orig" -C "$work/src" --strip-components=1
  make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
  make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null
  log "pgvector installed"
}

ensure_server
major=$(server_major)
if ! extension_available; then
  build_pgvector "$major"
fi
if [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname='$DB'")" != "1" ]; then
  psql_q -d postgres -c "CREATE DATABASE \"$DB\""
fi
psql_q -d "$DB" -c 'CREATE EXTENSION IF NOT EXISTS vector'
log "ready: $(psql_q -d "$DB" -c "SELECT 'vector ' || extversion FROM pg_extension WHERE extname='vector'") in database $DB"
