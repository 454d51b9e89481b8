"""/metrics for every process of a host: the web workers', the Celery workers' and values read at scrape time.

Counters and histograms are counted where the work happens: gunicorn workers (searches) and Celery
workers (vectors, extraction, the recall probe). With PROMETHEUS_MULTIPROC_DIR set, prometheus_client
writes each process's values to files in that directory, and the scrape merges them all
(MultiProcessCollector). Web and workers on one host share the directory (docs/operations.md#metrics);
each service, when it starts, removes only the files of processes that are no longer running
(`remove_dead_process_files`), so a gunicorn restart never deletes a running worker's live files.

Two gauges are read at scrape time, in the web process, by collectors of their own:
garments_missing_embeddings (one aggregate query, cached in the shared cache for
METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS) and celery_queue_length (LLEN on the Redis broker, bounded by
METRICS_BROKER_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
MISSING_CACHE_KEY = "metrics:garments_missing_embeddings:v1"
# A value file is "<kind>_<pid>.db" or "gauge_<mode>_<pid>.db" (prometheus_client.values).
_VALUE_FILE = re.compile(r"^(?:counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The directory this process writes its values to, when it runs in multiprocess mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def ensure_multiprocess_dir() -> None:
    """Create PROMETHEUS_MULTIPROC_DIR if it is set: prometheus_client opens its files there as soon as a
    metric gets a value, and fails on a directory that does not exist."""
    path = multiprocess_dir()
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_dead_process_files(path: str | None = None) -> list[str]:
    """Remove the value files of processes no longer running (the wipe at a service's start); the names removed.

    Not a whole wipe: web and workers share the directory on a host, and deleting a running process's file
    would leave it writing to an unlinked file that no scrape reads. A dead process's counters leave the
    sum here, which Prometheus reads as a counter reset (rate() is unaffected).
    """
    directory = Path(path or multiprocess_dir() or "")
    if not str(directory) or not directory.is_dir():
        return []
    removed = []
    for file in directory.iterdir():
        match = _VALUE_FILE.match(file.name)
        if match and not _alive(int(match.group(1))):
            file.unlink(missing_ok=True)
            removed.append(file.name)
    return removed


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of a process that exited (gunicorn's child_exit, Celery's pool shutdown)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


# --- read at scrape time -------------------------------------------------------------------------


def _stale_condition(space: str, model_id: str) -> Any:
    """What Garment.objects.needs_embedding(space, model_id=...) filters on, as a Q for an aggregate
    (tests/ops/test_metrics.py checks that the two agree)."""
    from django.db.models import F, Q

    from garments.managers import SPACE_SOURCE_HASH_FIELD

    source = SPACE_SOURCE_HASH_FIELD[space]  # type: ignore[index]
    stale = (
        Q(**{f"{space}_embedding_vec__isnull": True})
        | ~Q(**{f"{space}_embedding_source_hash": F(source)})
        | ~Q(**{f"{space}_embedding_model": model_id})
    )
    return stale & ~Q(image="") if space == "image" else stale


def missing_embeddings_now() -> dict[str, int]:
    """Available garments without a fresh vector, per configured space: one aggregate statement.

    It reads every available garment's row (hash and model columns; the vectors are not detoasted):
    a sequential scan, measured in docs/operations.md#metrics, hence the cache in front of it.
    """
    from django.db.models import Count

    from embeddings.registry import configured_spaces, get_encoder
    from garments.models import Garment

    counts: dict[str, Any] = {}
    for space in configured_spaces():
        encoder = get_encoder(space)
        if encoder is not None:
            counts[space] = Count("pk", filter=_stale_condition(space, encoder.id))
    if not counts:
        return {}
    return {space: int(value) for space, value in Garment.objects.available().order_by().aggregate(**counts).items()}


def missing_embeddings() -> dict[str, int]:
    """missing_embeddings_now(), computed at most once per METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS for
    all web workers together (the shared cache), so scrapes stay cheap at any catalogue size."""
    from django.core.cache import cache

    ttl = int(settings.METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS)
    cached = cache.get(MISSING_CACHE_KEY) if ttl > 0 else None
    if isinstance(cached, dict):
        return cached
    counts = missing_embeddings_now()
    if ttl > 0:
        cache.set(MISSING_CACHE_KEY, counts, ttl)
    return counts


class MissingEmbeddingsCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("garments_missing_embeddings", "", labels=["space"])]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "garments_missing_embeddings",
            "Available garments without a fresh vector in a configured space (missing, or from other content "
            "or another model); read at scrape time, cached METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS.",
            labels=["space"],
        )
        try:
            counts = missing_embeddings()
        except Exception:  # the scrape boundary: a database that is down costs this metric, not the scrape
            logger.warning("garments_missing_embeddings: could not count", exc_info=True)
            return []
        for space, count in sorted(counts.items()):
            family.add_metric([space], count)
        return [family]


def broker_queue_names() -> list[str]:
    """The Celery queues this deployment uses: the default one and any named by routes."""
    from prethrift.celery import app

    names = {str(app.conf.task_default_queue)}
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        names.update(str(route["queue"]) for route in routes.values() if isinstance(route, dict) and "queue" in route)
    return sorted(names)


# kombu's Redis transport keeps a queue's messages with priority p (other than 0) under "<queue>\x06\x16<p>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def queue_lengths() -> dict[str, int] | None:
    """LLEN of each broker queue (its priority lists included); None when the broker is not Redis."""
    url = str(settings.CELERY_BROKER_URL or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    timeout = float(settings.METRICS_BROKER_TIMEOUT_SECONDS)
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        names = broker_queue_names()
        for name in names:
            for key in [name, *(f"{name}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)]:
                pipe.llen(key)
        lengths = pipe.execute()
    finally:
        client.close()
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {name: int(sum(lengths[i * per_queue : (i + 1) * per_queue])) for i, name in enumerate(names)}


class CeleryQueueLengthCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("celery_queue_length", "", labels=["queue"])]

    def collect(self) -> Iterable[Metric]:
        try:
            lengths = queue_lengths()
        except Exception:  # the scrape boundary: a broker that is down costs this metric, not the scrape
            logger.warning("celery_queue_length: the broker did not answer", exc_info=True)
            return []
        if lengths is None:
            return []
        family = GaugeMetricFamily(
            "celery_queue_length", "Tasks waiting in each Celery queue on the Redis broker, read at scrape time.",
            labels=["queue"],
        )  # fmt: skip
        for name, length in lengths.items():
            family.add_metric([name], length)
        return [family]


class _DefaultRegistry(Collector):
    """This process's own registry (single-process mode: runserver, tests)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


SCRAPE_TIME_COLLECTORS: list[Collector] = [MissingEmbeddingsCollector(), CeleryQueueLengthCollector()]


def scrape_registry() -> CollectorRegistry:
    """Every process's values (the multiprocess files, or this process's registry) and the scrape-time gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    for collector in SCRAPE_TIME_COLLECTORS:
        registry.register(collector)
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics: protected by prethrift.security.MetricsAccessMiddleware (METRICS_TOKEN)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
