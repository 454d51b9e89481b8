#!/usr/bin/env bash
# restore.sh — restore a backup.sh file into DATABASE_URL, replacing what the dump holds.
#
# Usage: DATABASE_URL=postgres://... deploy/scripts/restore.sh --yes FILE
#        (or CONFIRM=yes deploy/scripts/restore.sh FILE)
#   PG_BIN      folder of pg_restore/psql whose major matches the server's (default: PATH)
# Refuses without --yes or CONFIRM=yes: it drops and recreates every table of the dump.
# Checks first, before anything is dropped, that the archive reads back and that the server can create
# the vector extension. Then `pg_restore --clean --if-exists --no-owner --single-transaction`: one
# transaction, so a restore that fails half-way changes nothing. Objects the dump does not hold (a table
# a newer release added) are left alone; restore into a fresh database (createdb) to drop those too.
# Afterwards restart the web and worker processes: the vector type was recreated.
set -euo pipefail

die() { echo "restore.sh: $*" >&2; exit 1; }
# shellcheck source=deploy/scripts/pg-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg-common.sh"

confirmed=${CONFIRM:-}
file=""
for arg in "$@"; do
  case "$arg" in
    --yes) confirmed=yes ;;
    -*) die "unknown option $arg (usage: restore.sh --yes FILE)" ;;
    *) [ -z "$file" ] || die "one file at a time"; file=$arg ;;
  esac
done
[ -n "$file" ] || die "usage: restore.sh --yes FILE"
[ -f "$file" ] || die "no such file: $file"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
split_password
pg_restore=$(tool pg_restore)
psql=$(tool psql)

"$pg_restore" --list "$file" >/dev/null || die "$file is not a readable pg_dump custom-format archive"
target=$("$psql" -X -At -d "$url" -c "SELECT current_database()") || die "cannot connect to DATABASE_URL"
if [ "$confirmed" != "yes" ]; then
  die "refusing to replace the tables of database '$target' with $file: pass --yes (or CONFIRM=yes)"
fi
vector=$("$psql" -X -At -d "$url" -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
[ -n "$vector" ] || die "the server of '$target' has no vector extension (pgvector): install it first (deploy/scripts/install-pgvector.sh); nothing was changed"

"$pg_restore" --clean --if-exists --no-owner --single-transaction --exit-on-error --dbname="$url" "$file" \
  || die "pg_restore failed; the transaction was rolled back, '$target' is as it was"
summary=$("$psql" -X -At -F ' ' -d "$url" -c \
  "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'), (SELECT count(*) FROM garments_garment)")
read -r version garments <<<"$summary"
echo "restored $file into '$target': pgvector $version, $garments garments; restart web and worker processes"
