#!/usr/bin/env bash
# worker.sh — the Celery worker, sized from the environment: MAX_CONCURRENT_EMBEDDINGS processes (default 4),
# each with a torch thread budget so that processes x threads never exceeds the cores it may use.
#
#   WORKER_CORES               cores for this worker (default: nproc, which honours CPUAffinity/taskset);
#                              on a host that also runs gunicorn, give each its share (docs/deployment.md)
#   EMBEDDINGS_TORCH_THREADS   set explicitly to override the computed budget
#   PRETHRIFT_PRINT_ONLY=1     print the environment and command instead of running them (for checks)
# Extra arguments go to `celery worker` (e.g. --help). Production settings unless DJANGO_SETTINGS_MODULE says.
set -euo pipefail
cd "$(dirname "$0")/../.."

export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-prethrift.settings.production}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
concurrency=${MAX_CONCURRENT_EMBEDDINGS:-4}
cores=${WORKER_CORES:-$(nproc)}
case "$concurrency$cores" in *[!0-9]*|"") echo "worker.sh: MAX_CONCURRENT_EMBEDDINGS and WORKER_CORES must be whole numbers" >&2; exit 2 ;; esac
[ "$concurrency" -ge 1 ] && [ "$cores" -ge 1 ] || { echo "worker.sh: MAX_CONCURRENT_EMBEDDINGS and WORKER_CORES must be >= 1" >&2; exit 2; }
threads=$(( cores / concurrency ))
if [ "$threads" -lt 1 ]; then
  threads=1
  echo "worker.sh: $concurrency processes on $cores cores: one torch thread each, and local model work queues for a core" >&2
fi
export EMBEDDINGS_TORCH_THREADS=${EMBEDDINGS_TORCH_THREADS:-$threads}
# BLAS and OpenMP pools (numpy, torch's inter-op) get the same budget, not one thread per core each.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$EMBEDDINGS_TORCH_THREADS}

# No gossip or mingle: workers need not sync revokes or clocks with each other (inspect still works), which saves the
# broker a stream of events and each start a round of messages.
command=(celery -A prethrift worker --concurrency="$concurrency" --pool=prefork --loglevel="${CELERY_LOG_LEVEL:-INFO}"
         --without-gossip --without-mingle "$@")
if [ "${PRETHRIFT_PRINT_ONLY:-}" = 1 ]; then
  echo "DJANGO_SETTINGS_MODULE=$DJANGO_SETTINGS_MODULE EMBEDDINGS_TORCH_THREADS=$EMBEDDINGS_TORCH_THREADS OMP_NUM_THREADS=$OMP_NUM_THREADS"
  echo "${command[*]}"
  exit 0
fi
exec "${command[@]}"
