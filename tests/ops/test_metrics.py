"""Metrics from every process: one scrape of /metrics shows what gunicorn workers and Celery workers counted,
the gauges read at scrape time, and the recall probe's measurement (docs/operations.md#metrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from embeddings.registry import get_encoder
from embeddings.services import embed_garments
from embeddings.tasks import embed_garments_task
from garments.catalog_import import catalog_import
from garments.models import Garment
from garments.services import garment_update
from ontology.tasks import extract_garments_task
from prethrift import metrics
from prethrift.celery import app
from search.recall import measure_vector_search_recall
from search.tasks import measure_vector_search_recall_task
from tests.embeddings.test_tasks import _database_url
from tests.factories import GarmentFactory
from tests.faults.servers import (
    ROOT,
    Gunicorn,
    RedisServer,
    free_port,
    production_env,
    redis_server,
    stop_process,
    wait_for,
)
from tests.services import use_celery_broker

PLANNER_PATHS = {"exact", "hnsw_iterative", "hnsw_overfetch", "hnsw_then_exact", "unavailable", "none"}
SEARCH_MODES = {"text", "image", "image+text", "similar", "browse"}


def _dead_pid() -> int:
    """The pid of a process that has exited (reaped), for a stale metrics file."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _set_text_vectors(ids: list[int], vectors: np.ndarray) -> None:
    with connection.cursor() as cursor:
        for pk, vector in zip(ids, vectors, strict=True):
            cursor.execute(
                "UPDATE garments_garment SET text_embedding_vec = %s::vector, text_embedding_model = 'test:random', "
                "text_embedding_computed_at = now() WHERE id = %s",
                ["[" + ",".join(f"{x:.6f}" for x in vector) + "]", pk],
            )


# --- the recall probe -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_recall_is_close_to_one_on_a_healthy_hnsw_index(settings) -> None:
    # given 600 garments with random text vectors, and the plan a large catalogue gets: the HNSW index
    for i in range(600):
        GarmentFactory(sku=f"rc-{i}", title=f"Garment {i}")
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    _set_text_vectors(ids, np.random.default_rng(7).normal(size=(len(ids), 384)))
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 0  # the planner goes to HNSW ...
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
        cursor.execute("SET enable_seqscan = off")  # ... and PostgreSQL uses the index, as at 100,000 rows
    # when the probe runs
    results = {result.space: result for result in measure_vector_search_recall(sample_size=20, seed=1)}
    # then the index finds (nearly) every true neighbour, through the HNSW path, and the gauge says so
    text = results["text"]
    assert text.samples == 20
    assert set(text.paths) <= {"hnsw_iterative", "hnsw_overfetch"} and sum(text.paths.values()) == 20
    assert text.recall is not None and text.recall >= 0.95
    assert REGISTRY.get_sample_value("vector_search_recall", {"space": "text"}) == text.recall
    # a space without vectors is not measured (no recall), and says it had no samples
    assert results["image"].recall is None and results["image"].samples == 0
    assert REGISTRY.get_sample_value("vector_search_recall_samples", {"space": "image"}) == 0


@pytest.mark.django_db
def test_recall_drops_on_a_degraded_index(settings, monkeypatch) -> None:
    """A bad rebuild (m=2, ef_construction=4) searched with ef_search forced to k: what the dashboard must see."""
    from search import planner

    # given the same catalogue and plan as a healthy index ...
    for i in range(600):
        GarmentFactory(sku=f"rd-{i}", title=f"Garment {i}")
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    _set_text_vectors(ids, np.random.default_rng(7).normal(size=(len(ids), 384)))
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
        cursor.execute("SET enable_seqscan = off")
    healthy = measure_vector_search_recall(sample_size=20, seed=1)[1]
    # when the index is rebuilt with starved parameters and searched with ef_search = 10
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX garment_text_vec_hnsw")
        cursor.execute(
            "CREATE INDEX garment_text_vec_hnsw ON garments_garment USING hnsw "
            "(text_embedding_vec vector_cosine_ops) WITH (m = 2, ef_construction = 4)"
        )
    monkeypatch.setattr(planner, "MAX_EF_SEARCH", 10)
    degraded = measure_vector_search_recall(sample_size=20, seed=1)[1]
    # then the probe reports the loss, through the index, and the gauge follows
    assert healthy.space == degraded.space == "text"
    # every query went through the index (pgvector 0.6.2 has no iterative scan: a starved scan there is
    # finished exactly, "hnsw_then_exact", which still starts on the degraded graph)
    assert degraded.paths and all(path.startswith("hnsw") for path in degraded.paths), degraded.paths
    assert healthy.recall is not None and healthy.recall >= 0.95
    assert degraded.recall is not None and degraded.recall < 0.5 < healthy.recall
    assert REGISTRY.get_sample_value("vector_search_recall", {"space": "text"}) == degraded.recall


def test_the_recall_task_is_scheduled_by_beat_from_settings(settings) -> None:
    entry = app.conf.beat_schedule["vector-search-recall"]
    assert entry["task"] == measure_vector_search_recall_task.name
    assert entry["schedule"] == settings.SEARCH_RECALL_INTERVAL_SECONDS == 15 * 60
    assert measure_vector_search_recall_task.name in app.tasks


# --- gauges read at scrape time ---------------------------------------------------------------------


@pytest.mark.django_db
def test_missing_embeddings_counts_what_needs_embedding_finds_in_one_query(settings, django_assert_num_queries) -> None:
    # given fresh, missing, stale and other-model text vectors, and a sold garment without one
    for i in range(5):
        GarmentFactory(sku=f"me-{i}", title=f"Red wool scarf {i}")
    garments = list(Garment.objects.order_by("pk"))
    embed_garments(garment_ids=[g.pk for g in garments[:3]], space="text")
    garment_update(garment=Garment.objects.get(pk=garments[1].pk), listing={"title": "Red wool scarf, worn"})
    Garment.objects.filter(pk=garments[2].pk).update(text_embedding_model="local:an-older-model")
    GarmentFactory(sku="me-sold", title="Sold scarf")
    garment_update(garment=Garment.objects.get(sku="me-sold"), listing={"status": "sold"})
    encoder = get_encoder("text")
    assert encoder is not None
    model_id = encoder.id
    expected = Garment.objects.available().needs_embedding("text", model_id=model_id).count()
    assert expected == 4  # 1 stale, 1 other model, 2 missing; the sold one is not for sale
    # when the gauge is computed, then it agrees with the queryset, in one statement
    with django_assert_num_queries(1):
        assert metrics.missing_embeddings_now() == {"text": expected}


@pytest.mark.django_db
def test_missing_embeddings_is_cached_between_scrapes(settings) -> None:
    settings.METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS = 60
    cache.delete(metrics.MISSING_CACHE_KEY)
    GarmentFactory(sku="mc-1", title="Blue denim jacket")
    assert metrics.missing_embeddings() == {"text": 1}
    GarmentFactory(sku="mc-2", title="Black boots")
    assert metrics.missing_embeddings() == {"text": 1}  # the cached value, not a new scan
    settings.METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS = 0
    assert metrics.missing_embeddings() == {"text": 2}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def test_queue_length_is_read_from_the_redis_broker_at_scrape_time(private_redis: RedisServer, settings) -> None:
    import redis

    client = redis.Redis.from_url(private_redis.url)
    client.lpush("celery", "a", "b", "c")
    client.lpush("celery\x06\x166", "d")  # kombu's list for priority 6
    settings.CELERY_BROKER_URL = private_redis.url
    assert metrics.queue_lengths() == {"celery": 4}
    family = next(iter(metrics.CeleryQueueLengthCollector().collect()))
    assert [(s.labels, s.value) for s in family.samples] == [({"queue": "celery"}, 4)]


def test_a_broker_that_is_down_costs_the_queue_metric_not_the_scrape(settings) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert list(metrics.CeleryQueueLengthCollector().collect()) == []
    settings.CELERY_BROKER_URL = "memory://"
    assert metrics.queue_lengths() is None


def test_a_service_start_removes_only_the_files_of_dead_processes(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    dead = _dead_pid()
    names = [f"counter_{os.getpid()}.db", f"histogram_{dead}.db", f"gauge_livesum_{dead}.db",
             f"gauge_mostrecent_{os.getpid()}.db", "notes.txt"]  # fmt: skip
    for name in names:
        (directory / name).write_bytes(b"")
    assert sorted(metrics.remove_dead_process_files(str(directory))) == sorted(names[1:3])
    assert sorted(p.name for p in directory.iterdir()) == sorted([names[0], names[3], names[4]])


def test_gunicorn_hooks_clear_dead_files_at_start_and_a_dead_worker_s_live_gauges(tmp_path: Path, monkeypatch) -> None:
    import runpy

    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    monkeypatch.setenv("EMBEDDINGS_TORCH_THREADS", "1")  # the config file sets it when unset
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    dead, alive = _dead_pid(), os.getpid()
    directory.mkdir()
    running = [f"counter_{alive}.db", f"gauge_livesum_{alive}.db", f"gauge_mostrecent_{alive}.db"]
    for name in [f"counter_{dead}.db", *running]:
        (directory / name).write_bytes(b"")
    # on_starting: the dead process's file goes, the running ones stay
    hooks["on_starting"](object())
    assert sorted(p.name for p in directory.iterdir()) == sorted(running)
    # child_exit: the worker's live gauges leave; its counters and last-value gauges stay in the sums
    hooks["child_exit"](object(), type("Worker", (), {"pid": alive})())
    assert sorted(p.name for p in directory.iterdir()) == sorted([running[0], running[2]])


@pytest.mark.django_db
def test_metrics_view_has_the_scrape_time_gauges_and_stays_behind_the_token(client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret"
    settings.METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS = 0
    GarmentFactory(sku="mv-1", title="Blue denim jacket")
    assert client.get("/metrics").status_code == 401
    answered = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert answered.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(answered.content.decode())}
    assert [(s.labels, s.value) for s in families["garments_missing_embeddings"].samples] == [({"space": "text"}, 1)]
    assert "vector_search_duration_seconds" in families  # this process's own registry (no multiprocess dir)


def test_a_worker_only_host_serves_its_metrics_behind_the_token(tmp_path: Path) -> None:
    # given a metrics directory a worker process wrote to
    directory = tmp_path / "metrics"
    directory.mkdir()
    values = MmapedDict(str(directory / f"counter_{_dead_pid()}.db"))
    name = "embeddings_computed_total"
    values.write_value(mmap_key(name, name, ["space"], ["text"], "Garment vectors computed and stored."), 7, 0)
    values.close()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("METRICS_", "PROMETHEUS_"))}
    env.update(DJANGO_SETTINGS_MODULE="prethrift.settings.local", PROMETHEUS_MULTIPROC_DIR=str(directory),
               METRICS_TOKEN="worker-s3cret", PRELOAD_QUERY_ENCODERS="false")  # fmt: skip
    # when serve_metrics runs on its own port
    log = tmp_path / "serve.log"
    server = subprocess.Popen([sys.executable, "manage.py", "serve_metrics", "--bind", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert wait_for(lambda: _reachable(port), 60), log.read_text()
        # then the files are served to the bearer of the token, and to nobody else
        assert _get(port, "/metrics")[0] == 401
        assert _get(port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        assert _get(port, "/", {"Authorization": "Bearer worker-s3cret"})[0] == 404
        status, body = _get(port, "/metrics", {"Authorization": "Bearer worker-s3cret"})
        assert status == 200
        assert _value(_samples(body.decode()), "embeddings_computed_total", space="text") == 7
    finally:
        stop_process(server)


def _reachable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, [], "PROMETHEUS_MULTIPROC_DIR"),
        ({"PROMETHEUS_MULTIPROC_DIR": "{dir}"}, ["--bind", "nowhere"], "address:port"),
        ({"PROMETHEUS_MULTIPROC_DIR": "{dir}"}, ["--bind", "127.0.0.1:99999"], "address:port"),
        ({"PROMETHEUS_MULTIPROC_DIR": "{dir}"}, [], "METRICS_TOKEN"),
    ],
)
def test_serve_metrics_refuses_what_it_cannot_serve(env, args, message, tmp_path: Path, monkeypatch, settings) -> None:
    from django.core.management import CommandError, call_command

    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", False
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(dir=tmp_path))
    with pytest.raises(CommandError, match=message):
        call_command("serve_metrics", *args)


# --- every process, one scrape ------------------------------------------------------------------------


def _start_worker(redis: RedisServer, media_root: Path, metrics_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "REDIS_", "CLIP_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="prethrift.settings.local", REDIS_URL=redis.url, DATABASE_URL=_database_url(),
        DJANGO_MEDIA_ROOT=str(media_root), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), MAX_CONCURRENT_EMBEDDINGS="1",
        EMBEDDINGS_TORCH_THREADS="1", HF_HUB_OFFLINE="1", EMBEDDINGS_ENQUEUE_ON_SAVE="false",
        ONTOLOGY_EXTRACT_ON_SAVE="false",
    )  # fmt: skip
    env.pop("OPENAI_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prethrift", "worker", "--pool=prefork", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    http_request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(http_request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(value for found, value in samples.get(name, []) if labels.items() <= found.items())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_scrape_shows_the_metrics_of_every_process(sample_dir: Path, tmp_path: Path, settings) -> None:
    # given a catalogue without attributes or vectors, and a metrics directory a crashed run left a file in
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=30)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = MmapedDict(str(metrics_dir / f"counter_{_dead_pid()}.db"))
    stale.write_value(mmap_key("stale_metric_total", "stale_metric_total", [], [], "left by a dead process"), 5.0, 0)
    stale.close()
    log = tmp_path / "worker.log"
    token = "metrics-" + os.urandom(8).hex()
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    with redis_server() as redis:
        worker = _start_worker(redis, settings.MEDIA_ROOT, metrics_dir, log)
        use_celery_broker(redis.url, eager=False)
        try:
            # when a real Celery worker (same metrics directory) extracts attributes, backfills text vectors
            # and runs the recall probe ...
            extract_garments_task.delay(ids)
            assert wait_for(lambda: not Garment.objects.filter(pk__in=ids).needs_extraction().exists(), 180), (
                log.read_text()[-3000:]
            )
            embed_garments_task.delay(ids, ["text"])
            assert wait_for(lambda: not Garment.objects.filter(pk__in=ids).needs_embedding("text").exists(), 180), (
                log.read_text()[-3000:]
            )
            probe = measure_vector_search_recall_task.delay()
            assert wait_for(lambda: f"[{probe.id}] succeeded" in log.read_text(), 120), log.read_text()[-3000:]
            GarmentFactory(sku="late-1", title="Green silk scarf")  # listed after the backfill: no vector yet
            # ... and gunicorn starts with two workers while that worker still runs (its files must stay)
            port = free_port()
            env = production_env(
                database_url=_database_url(), port=port, GUNICORN_WORKERS="2",
                PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
                METRICS_TOKEN=token, REDIS_URL=redis.url, SEARCH_ALLOW_ANONYMOUS="true",
                METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS="0", DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
            )  # fmt: skip
            with Gunicorn(env, tmp_path / "gunicorn.log") as server:
                searches = ["/api/v1/search/?q=red+dress", "/api/v1/search/?q=red+dress",
                            "/api/v1/search/?q=blue+jeans+for+men", "/api/v1/search/?q=shirt&price_max=0",
                            "/api/v1/search/", "/api/v1/search/?q=watch"]  # fmt: skip
                for path in searches:
                    status, body = _get(server.port, path)
                    assert status == 200, body[:500]
                stop_process(worker)  # its files stay: a scrape after it stopped still shows its work
                for _ in range(3):  # nobody consumes these now
                    embed_garments_task.delay([ids[0]], ["text"])
                assert _get(server.port, "/metrics")[0] == 401
                status, body = _get(server.port, "/metrics", {"Authorization": f"Bearer {token}"})
                gunicorn_log = server.log()
        finally:
            stop_process(worker)
            use_celery_broker(previous[0], eager=previous[1])
    assert status == 200, body[:500]
    text = body.decode()
    print(text)
    samples = _samples(text)
    # then the web workers' searches are there, summed over both workers, with fixed label values
    assert _value(samples, "search_results_count") == len(searches)
    assert _value(samples, "search_results_bucket", le="0.0") >= 1  # the price_max=0 search found nothing
    assert _value(samples, "vector_search_duration_seconds_count") >= len(searches)
    paths = {labels["path"] for labels, _ in samples["vector_search_duration_seconds_count"]}
    modes = {labels["mode"] for labels, _ in samples["vector_search_duration_seconds_count"]}
    assert paths <= PLANNER_PATHS and "exact" in paths and modes <= SEARCH_MODES, (paths, modes)
    assert _value(samples, "query_embedding_cache_total", result="miss") >= 1
    assert _value(samples, "query_embedding_cache_total", result="hit") >= 1  # "red dress" again
    # the Celery worker's work, counted in its own processes, is there too
    assert _value(samples, "embedding_generation_duration_seconds_count", space="text") >= 1
    assert _value(samples, "embeddings_computed_total", space="text") == len(ids)
    assert _value(samples, "embedding_generation_failures_total", space="text", reason="error") == 0
    assert "embedding_generation_failures_total" in samples, "failures start at 0 so alerts see the first"
    assert _value(samples, "ontology_extraction_confidence_count") > 0
    recall = _value(samples, "vector_search_recall", space="text")
    assert 0.9 <= recall <= 1.0
    # the gauges read at scrape time
    assert samples["garments_missing_embeddings"] == [({"space": "text"}, 1.0)]
    assert samples["celery_queue_length"] == [({"queue": "celery"}, 3.0)]
    # and the file a dead process left before the start was removed, not summed in
    assert "stale_metric_total" not in samples
    assert "Traceback" not in gunicorn_log, gunicorn_log[-3000:]
    print(json.dumps({"recall_text": recall, "missing": samples["garments_missing_embeddings"],
                      "queue": samples["celery_queue_length"]}))  # fmt: skip
