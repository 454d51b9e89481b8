#!/usr/bin/env bash
# backup.sh — a verified, timestamped backup of the database in pg_dump's custom format (-Fc).
#
# Usage: DATABASE_URL=postgres://... deploy/scripts/backup.sh [DIR]
#   DIR         where the file goes (default: $BACKUP_DIR); created if missing
#   PG_BIN      folder of pg_dump/pg_restore whose major matches the server's (default: PATH)
# Prints the path of the new file, prethrift-YYYYmmddTHHMMSSZ.dump, and exits non-zero on any failure,
# leaving no file behind: the dump is written under a .partial name, read back whole with
# `pg_restore --list`, and only then renamed. The file holds every table (vectors, users, API tokens),
# so it is readable by its owner only.
set -euo pipefail

die() { echo "backup.sh: $*" >&2; exit 1; }
# shellcheck source=deploy/scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"

dir=${1:-${BACKUP_DIR:-}}
[ -n "$dir" ] || die "name the backup folder: backup.sh DIR, or set BACKUP_DIR"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
split_password
pg_dump=$(tool pg_dump)
pg_restore=$(tool pg_restore)

umask 077
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
path="$dir/prethrift-$stamp.dump"
n=1
while [ -e "$path" ]; do n=$((n + 1)); path="$dir/prethrift-$stamp-$n.dump"; done
partial="$path.partial"
trap 'rm -f "$partial"' EXIT

"$pg_dump" --format=custom --compress=6 --file="$partial" --dbname="$url" \
  || die "pg_dump failed (a pg_dump older than the server's major refuses; set PG_BIN)"
# The archive's table of contents must read back whole, and hold the catalogue.
listing=$("$pg_restore" --list "$partial") || die "pg_restore --list cannot read $partial"
grep -q "TABLE DATA public garments_garment " <<<"$listing" \
  || die "the dump has no garments_garment data: is DATABASE_URL the prethrift database?"
mv "$partial" "$path"
trap - EXIT
echo "$path"
