#!/usr/bin/env bash
# install-pgvector.sh — build pgvector 0.8.x from Debian trixie's source package
# and install it into the distribution PostgreSQL (Debian bookworm).
#
# Why: production and CI need pgvector >= 0.8 for iterative index scans
# (SET hnsw.iterative_scan / ivfflat.iterative_scan), but bookworm ships no
# 0.8 binary package. So we add trixie as a *deb-src only* source (never a
# binary one, so no package can be upgraded from trixie), fetch its pgvector
# source with `apt-get source` and build it against the local server headers.
#
# Idempotent: if the installed extension's default_version is already >= 0.8
# the install is skipped. Ends by checking, via psql as the postgres user,
# that CREATE EXTENSION vector works in a scratch database, and whether
# pg_trgm is available.
#
# Env: PG_MAJOR (default: from pg_lsclusters/pg_config, else 15)
#      PGVECTOR_OPTFLAGS (default empty = portable build; upstream's default
#      would be -march=native, which breaks images run on other CPUs)
# Usage (as root): deploy/scripts/install-pgvector.sh
set -euo pipefail

log() { echo "[install-pgvector] $*"; }
die() { echo "[install-pgvector] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (uses apt-get and make install)"

SRC_SUITE=trixie
SRC_LIST=/etc/apt/sources.list.d/pgvector-trixie-src.sources
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS

# --- PostgreSQL major version -------------------------------------------------
if [ -z "${PG_MAJOR:-}" ]; then
  PG_MAJOR=$(pg_lsclusters -h 2>/dev/null | awk '{print $1}' | sort -V | tail -n1 || true)
  [ -n "$PG_MAJOR" ] || PG_MAJOR=$(pg_config --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p' || true)
  PG_MAJOR=${PG_MAJOR:-15}
fi
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
CONTROL=/usr/share/postgresql/$PG_MAJOR/extension/vector.control
log "PostgreSQL major version: $PG_MAJOR"

installed_version() { sed -nE "s/^default_version *= *'([^']*)'.*/\1/p" "$CONTROL" 2>/dev/null || true; }

cur=$(installed_version)
if [ -n "$cur" ] && dpkg --compare-versions "$cur" ge 0.8; then
  log "pgvector $cur already installed in $CONTROL — skipping build"
else
  log "pgvector ${cur:-not installed}; building 0.8.x from $SRC_SUITE source"

  # --- deb-src entry for trixie on the machine's own Debian mirror ----------
  . /etc/os-release
  mirror=$( { sed -E 's/\[[^]]*\]//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                awk -v c="$VERSION_CODENAME" '$1 == "deb" && $3 == c {print $2}' || true
              cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
                awk -v c="$VERSION_CODENAME" 'BEGIN {RS = ""; FS = "\n"}
                  { u = ""; ok = 0
                    for (i = 1; i <= NF; i++) {
                      if ($i ~ /^URIs:/)   { split($i, a, /[ \t]+/); u = a[2] }
                      if ($i ~ /^Suites:/) { n = split($i, b, /[ \t]+/); for (j = 2; j <= n; j++) if (b[j] == c) ok = 1 }
                      if ($i ~ /^Enabled:[ \t]*no/) ok = -1 }
                    if (u != "" && ok == 1) print u }' || true
            } )
  mirror=${mirror%%$'\n'*}   # first match (no `head`: it would SIGPIPE under pipefail)
  [ -n "$mirror" ] || die "could not find the Debian mirror for '$VERSION_CODENAME' in /etc/apt/sources.list{,.d/}"
  log "writing $SRC_LIST (deb-src only, $mirror $SRC_SUITE main)"
  cat > "$SRC_LIST" <<SRC
# Added by deploy/scripts/install-pgvector.sh: source packages only (no binaries),
# used to build pgvector 0.8.x, which bookworm lacks.
Types: deb-src
URIs: $mirror
Suites: $SRC_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

  log "apt-get update"
  apt-get update -qq

  # --- build dependencies, refusing to upgrade anything already installed ---
  deps=(build-essential make dpkg-dev "postgresql-server-dev-$PG_MAJOR")
  upgrades=$(apt-get -s install --no-install-recommends --no-upgrade "${deps[@]}" | awk '/^Inst [^ ]+ \[/ {print $2}')
  [ -z "$upgrades" ] || die "installing build deps would upgrade: $(echo $upgrades) — refusing"
  log "apt-get install ${deps[*]}"
  apt-get install -y -qq --no-install-recommends --no-upgrade "${deps[@]}" >/dev/null
  [ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found (is postgresql-$PG_MAJOR installed?)"

  # --- fetch and build ------------------------------------------------------
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chown _apt "$tmp" 2>/dev/null || true   # lets apt download without the "unsandboxed" warning
  log "apt-get source pgvector/$SRC_SUITE into $tmp"
  (cd "$tmp" && apt-get source -qq "pgvector/$SRC_SUITE" >/dev/null)
  srcdir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
  [ -n "$srcdir" ] || die "apt-get source produced no pgvector-* directory"
  log "building $(basename "$srcdir") with PG_CONFIG=$PG_CONFIG"
  make -C "$srcdir" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS="${PGVECTOR_OPTFLAGS:-}" >/dev/null
  make -C "$srcdir" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="${PGVECTOR_OPTFLAGS:-}" install >/dev/null
  cur=$(installed_version)
  dpkg --compare-versions "${cur:-0}" ge 0.8 || die "after install, $CONTROL says '${cur:-nothing}'"
  log "installed pgvector $cur"
fi

# --- verify against the running cluster ----------------------------------------
port=$(pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1 == v && $4 ~ /^online/ {print $3; exit}' || true)
if [ -z "$port" ]; then
  log "WARNING: no online PostgreSQL $PG_MAJOR cluster; skipping SQL verification"
else
  db=pgvector_check_$$
  psql_pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"; }
  psql_pg -d postgres -c "CREATE DATABASE $db"
  trap 'psql_pg -d postgres -c "DROP DATABASE IF EXISTS $db" || true; rm -rf "${tmp:-}"' EXIT
  ext=$(psql_pg -d "$db" -At -c "CREATE EXTENSION IF NOT EXISTS vector" \
                         -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
  log "verified: CREATE EXTENSION vector works on port $port, extversion = $ext"
  trgm=$(psql_pg -d "$db" -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_trgm'")
  if [ -n "$trgm" ]; then log "pg_trgm available (default_version $trgm)"
  else log "WARNING: pg_trgm is NOT available (install postgresql-contrib / postgresql-$PG_MAJOR)"; fi
  psql_pg -d postgres -c "DROP DATABASE $db"
  trap 'rm -rf "${tmp:-}"' EXIT
fi
log "done in $((SECONDS - start))s"
