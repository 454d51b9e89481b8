"""The Celery app, configured from Django settings under the CELERY_ namespace."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_process_shutdown

# Fail closed: a deployment that forgets DJANGO_SETTINGS_MODULE gets production settings (which refuse to
# start without their secrets), never DEBUG and a published key. manage.py defaults to local for the demo.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.production")

# Metrics in multiprocess mode (docs/operations.md#metrics): the directory must exist before any process
# of this worker gives a metric its first value.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

app = Celery("prethrift")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def _clear_dead_processes_metrics(**kwargs: Any) -> None:
    """A worker's start removes the metric files of processes gone since (its pool's last run); the files of
    processes still running (gunicorn workers, other workers on this host) stay."""
    from prethrift.metrics import remove_dead_process_files

    remove_dead_process_files()


@worker_process_shutdown.connect
def _mark_pool_process_dead(pid: int | None = None, **kwargs: Any) -> None:
    from prethrift.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())
