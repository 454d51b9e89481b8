# Shared by backup.sh and restore.sh (sourced; each defines die first).
tool() { if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN/$1"; else command -v "$1" || die "$1 is not on PATH (set PG_BIN)"; fi; }
# The URL for libpq without its password, which goes in PGPASSWORD instead: a command line is readable by every
# local user (ps), the environment only by the owner. postgres://, pgsql:// and postgis:// become postgresql://.
split_password() {
  local rest=${DATABASE_URL#*://} authority path="" userinfo
  authority=${rest%%/*}
  [ "$authority" = "$rest" ] || path=/${rest#*/}
  if [[ $authority == *@* ]]; then
    userinfo=${authority%@*}
    if [[ $userinfo == *:* ]]; then
      local encoded=${userinfo#*:}
      encoded=${encoded//\\/\\\\}  # a literal backslash stays one through printf %b
      PGPASSWORD=$(printf '%b' "${encoded//%/\\x}")
      export PGPASSWORD
      authority="${userinfo%%:*}@${authority##*@}"
    fi
  fi
  url="postgresql://$authority$path"
}
