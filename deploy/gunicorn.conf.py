"""gunicorn settings for the web process: `gunicorn -c deploy/gunicorn.conf.py prethrift.wsgi`.

Sized from measurements on a 2-core machine (docs/performance.md#http): a search spends most of its
time in Python (Django, DRF, ranking) and the rest waiting on PostgreSQL, so one process per core
with a few threads each keeps the cores busy while a request waits; more processes only add memory
and context switches.
"""

import multiprocessing
import os

# Fail closed: production settings unless the environment names others (they refuse to start without
# DJANGO_SECRET_KEY, DATABASE_URL, DJANGO_ALLOWED_HOSTS and REDIS_URL).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.production")

_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else multiprocessing.cpu_count()

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", _cores))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
# A worker that has not reported for this long is killed and replaced (a request stuck in native code).
# It is not a read timeout: a gthread worker's thread waits as long as a client takes to send its body,
# so slow clients are nginx's job (deploy/nginx/prethrift.conf buffers whole requests, with
# client_body_timeout), and gunicorn must listen only where nginx can reach it.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Request line and header limits (gunicorn's defaults, stated): a longer line gets 414, more or larger
# headers 400, before Django runs.
# A search URL with every filter fits in 4094 bytes; nginx in front allows 8 KiB, so these are the ones that bite.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", 4094))
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", 100))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190))
max_requests = 100_000  # recycle workers to bound slow leaks in native libraries
max_requests_jitter = 10_000
# gunicorn's access log prints each request line with its query string, which holds what shoppers
# typed: off unless GUNICORN_ACCESSLOG names a target ("-" for stderr). Django logs one line per request
# itself (prethrift/logging.py: path without the query string, status, duration, request id).
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
# gunicorn's own lines (start, worker exits, timeouts) in the same one-JSON-object-per-line format as the
# application's where the application logs JSON (production, or DJANGO_LOG_FORMAT=json).
_log_format = os.environ.get("DJANGO_LOG_FORMAT") or (
    "json" if os.environ["DJANGO_SETTINGS_MODULE"].endswith(".production") else "text"
)
if _log_format == "json":
    # With a logconfig_dict gunicorn writes access lines whatever `accesslog` says, so the access logger
    # gets a handler only when GUNICORN_ACCESSLOG asked for one (tests/ops/test_logging.py checks).
    _access_handlers = ["console"] if accesslog else []
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "prethrift.logging.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {
                "handlers": _access_handlers,
                "level": "INFO" if accesslog else "CRITICAL",
                "propagate": False,
            },
        },
    }
preload_app = False  # model weights load per worker after fork, not shared copy-on-write by accident

# The query encoder runs in every worker: workers x torch threads must not exceed the cores, or a
# burst of uncached queries thrashes them. An explicit EMBEDDINGS_TORCH_THREADS wins.
os.environ.setdefault("EMBEDDINGS_TORCH_THREADS", str(max(1, _cores // max(workers, 1))))

# Each worker loads the query encoders as it imports prethrift.wsgi (PRELOAD_QUERY_ENCODERS), before
# its first request.


# --- Metrics in multiprocess mode (docs/operations.md#metrics) -------------------------------------
# With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metric values to files there and /metrics merges
# them with the Celery workers' of this host. prometheus_client reads the variable when it is imported.


def on_starting(server: object) -> None:
    """Before any worker: create the directory and remove the files of processes no longer running (the
    last run's workers); a running Celery worker's files on this host stay."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        from prethrift.metrics import remove_dead_process_files

        remove_dead_process_files()


def child_exit(server: object, worker: object) -> None:
    """A worker exited: its live gauges leave the scrape (its counters stay in the sums)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
