#!/usr/bin/env bash
# beat.sh — Celery beat, the scheduler of periodic tasks (CELERY_BEAT_SCHEDULE). Run exactly one per deployment:
# two would send every periodic task twice. Its schedule file lives in PRETHRIFT_VAR_DIR (default var/).
# Extra arguments go to `celery beat`. Production settings unless DJANGO_SETTINGS_MODULE says otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-prethrift.settings.production}
var_dir=${PRETHRIFT_VAR_DIR:-var}
mkdir -p "$var_dir"
command=(celery -A prethrift beat --loglevel="${CELERY_LOG_LEVEL:-INFO}" --schedule="$var_dir/celerybeat-schedule" "$@")
if [ "${PRETHRIFT_PRINT_ONLY:-}" = 1 ]; then
  echo "DJANGO_SETTINGS_MODULE=$DJANGO_SETTINGS_MODULE"
  echo "${command[*]}"
  exit 0
fi
exec "${command[@]}"
