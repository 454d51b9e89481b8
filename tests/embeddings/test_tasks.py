"""Vectors without anyone thinking about them: enqueue on save, inline without a broker, a real worker with one."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from embeddings.encoders import openai as openai_encoder
from embeddings.encoders.base import TransientEncoderError
from embeddings.metrics import embedding_generation_failures_total, task_enqueue_failures_total
from embeddings.tasks import MAX_RETRIES, embed_garments_task
from garments.catalog_import import catalog_import
from garments.models import Garment
from garments.services import garment_create, garment_update
from prethrift import embedded_db
from prethrift.celery import app
from tests.factories import jpeg_bytes
from tests.services import redis_available, use_celery_broker

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def enqueue_on_save(settings):
    settings.EMBEDDINGS_ENQUEUE_ON_SAVE = True


@pytest.mark.django_db
def test_saving_a_garment_computes_its_vectors_after_commit(enqueue_on_save, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        garment = garment_create(sku="s-1", title="Red wool scarf")
    assert Garment.objects.get(pk=garment.pk).text_embedding_vec is None  # nothing before the commit
    for callback in callbacks:
        callback()
    assert Garment.objects.get(pk=garment.pk).text_embedding_vec is not None
    # an edit that does not touch the text enqueues nothing new
    with django_capture_on_commit_callbacks(execute=True):
        garment_update(garment=Garment.objects.get(pk=garment.pk), listing={"price": "12"})
    assert not Garment.objects.needs_embedding("text").exists()


@pytest.mark.django_db
def test_an_import_embeds_each_chunk_inline_without_a_broker(
    enqueue_on_save, sample_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", limit=40)
    assert Garment.objects.count() == 40
    assert not Garment.objects.needs_embedding("text").exists()


@pytest.mark.django_db
def test_an_inline_failure_never_undoes_the_save(enqueue_on_save, clip_configured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        garment = garment_create(sku="s-2", title="Scarf", image_content=jpeg_bytes())
    garment.refresh_from_db()
    assert garment.image_embedding_vec is not None and garment.text_embedding_vec is not None
    from django.core.files.storage import default_storage

    with default_storage.open(str(garment.image.name), "wb") as handle:
        handle.write(b"broken")
    garment_update(garment=garment, listing={"title": "Scarf, worn"})  # text stale; image hash unchanged
    Garment.objects.filter(pk=garment.pk).update(image_embedding_vec=None, image_embedding_model="",
                                                 image_embedding_computed_at=None)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        garment_update(garment=Garment.objects.get(pk=garment.pk), listing={"title": "Scarf, well worn"})
    garment.refresh_from_db()
    assert garment.title == "Scarf, well worn"
    assert garment.text_embedding_source_hash == garment.text_content_hash
    assert "unreadable image" in garment.embedding_errors["image"]["message"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker_down(settings) -> Iterator[str]:
    """A Redis URL on a port where nothing listens, and the app not eager: every enqueue is refused.
    (The machine's own Redis is left alone: other suites use it.)"""
    url = f"redis://127.0.0.1:{_free_port()}/0"
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    use_celery_broker(url, eager=False)
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = url, False
    try:
        yield url
    finally:
        use_celery_broker(previous[0], eager=previous[1])


def _enqueue_failures(task: str) -> float:
    return task_enqueue_failures_total.labels(task=task)._value.get()


@pytest.mark.django_db
@pytest.mark.parametrize(("extract_on_save", "task"), [(False, "embed_garments"), (True, "extract_garments")])
def test_a_broker_that_is_down_never_fails_a_committed_save(
    broker_down, settings, django_capture_on_commit_callbacks, extract_on_save, task
):
    # given enqueue on save, and a broker that refuses connections
    settings.EMBEDDINGS_ENQUEUE_ON_SAVE = True
    settings.ONTOLOGY_EXTRACT_ON_SAVE = extract_on_save
    before = _enqueue_failures(task)
    # when staff create and then edit a garment
    with django_capture_on_commit_callbacks(execute=True):
        garment = garment_create(sku="b-1", title="Red wool scarf")
    with django_capture_on_commit_callbacks(execute=True):
        garment_update(garment=Garment.objects.get(pk=garment.pk), listing={"title": "Red wool scarf, worn"})
    # then both saves stand, the lost enqueues are counted, and the garment is left for the backfill
    stored = Garment.objects.get(sku="b-1")
    assert stored.title == "Red wool scarf, worn"
    assert _enqueue_failures(task) == before + 2
    assert Garment.objects.needs_embedding("text").filter(pk=garment.pk).exists()
    if extract_on_save:
        assert Garment.objects.needs_extraction().filter(pk=garment.pk).exists()


@pytest.mark.django_db
def test_a_broker_that_accepts_but_never_answers_does_not_hold_the_save(settings, django_capture_on_commit_callbacks):
    # given a "broker" that accepts connections (the kernel's backlog) and never says a word
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        previous = (app.conf.broker_url, app.conf.task_always_eager)
        use_celery_broker(url, eager=False)
        settings.CELERY_TASK_ALWAYS_EAGER, settings.EMBEDDINGS_ENQUEUE_ON_SAVE = False, True
        before = _enqueue_failures("embed_garments")
        try:
            # when a garment is saved (without socket timeouts this waits forever on the first read)
            with django_capture_on_commit_callbacks(execute=True):
                garment = garment_create(sku="b-2", title="Blue denim jacket")
        finally:
            use_celery_broker(previous[0], eager=previous[1])
    # then the save returned, and the enqueue it could not make is counted
    assert Garment.objects.filter(pk=garment.pk).exists()
    assert _enqueue_failures("embed_garments") == before + 1


@pytest.mark.django_db
def test_extract_ontology_async_with_the_broker_down_is_a_command_error(broker_down):
    garment_create(sku="b-3", title="Blue denim jacket")
    with pytest.raises(CommandError, match="could not queue garments for the workers"):
        call_command("extract_ontology", "--async", "--no-progress", stdout=io.StringIO())
    assert Garment.objects.needs_extraction().count() == 1  # still pending, nothing marked done


@pytest.mark.django_db
def test_an_inline_provider_failure_is_counted_and_left_for_the_backfill(
    enqueue_on_save, fake_openai, monkeypatch, django_capture_on_commit_callbacks
):
    # given no broker (inline) and an OpenAI that answers 429 however often it is asked
    monkeypatch.setattr(openai_encoder.time, "sleep", lambda seconds: None)  # the encoder's backoff, not ours
    fake_openai.script.always_status = 429
    before = embedding_generation_failures_total.labels(space="openai_text", reason="provider_unavailable")._value.get()
    # when a garment is saved
    with django_capture_on_commit_callbacks(execute=True):
        garment = garment_create(sku="o-1", title="Red wool scarf")
    # then the save stands with its local text vector, and the OpenAI one is counted and left stale
    assert Garment.objects.get(pk=garment.pk).text_embedding_vec is not None
    assert Garment.objects.needs_embedding("openai_text").filter(pk=garment.pk).exists()
    after = embedding_generation_failures_total.labels(space="openai_text", reason="provider_unavailable")._value.get()
    assert after == before + 1


@pytest.mark.django_db
def test_an_embedding_task_that_gives_up_is_counted(fake_openai, monkeypatch):
    monkeypatch.setattr(openai_encoder.time, "sleep", lambda seconds: None)
    fake_openai.script.always_status = 500
    garment = garment_create(sku="o-2", title="Red wool scarf")
    before = embedding_generation_failures_total.labels(space="openai_text", reason="gave_up")._value.get()
    with pytest.raises(TransientEncoderError):  # the last retry fails the task (eager tasks propagate it)
        embed_garments_task.apply(args=([garment.pk], ["openai_text"]), retries=MAX_RETRIES)
    after = embedding_generation_failures_total.labels(space="openai_text", reason="gave_up")._value.get()
    assert after == before + 1
    assert Garment.objects.needs_embedding("openai_text").filter(pk=garment.pk).exists()


def test_enqueues_are_bounded_by_the_effective_celery_configuration():
    """A typo in a setting name would leave Celery's defaults (retry for long, wait forever on a read)."""
    assert app.conf.broker_transport_options["socket_timeout"] <= 2
    assert app.conf.broker_transport_options["socket_connect_timeout"] <= 2
    assert app.conf.broker_connection_timeout <= 2
    assert app.conf.task_publish_retry_policy["max_retries"] <= 2


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"] == "prethrift.embedded_pg":
        server = embedded_db.status(Path(settings_dict["PGDATA"]))
        assert server is not None
        host, port = quote(str(server.socket_dir), safe=""), ""
    else:
        host, port = settings_dict["HOST"], f":{settings_dict['PORT']}" if settings_dict["PORT"] else ""
    user = settings_dict.get("USER") or "postgres"
    return f"postgres://{user}@{host}{port}/{settings_dict['NAME']}"


@pytest.fixture
def celery_worker_process(settings, tmp_path) -> Iterator[subprocess.Popen[str]]:
    """A real `celery worker` process on the machine's Redis, using this test's database and media."""
    if not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379 (CI starts one)")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)}
    env.update(
        DJANGO_SETTINGS_MODULE="prethrift.settings.local", REDIS_URL=REDIS_URL, DATABASE_URL=_database_url(),
        DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT), EMBEDDINGS_TORCH_THREADS="1", MAX_CONCURRENT_EMBEDDINGS="1",
        CLIP_MODEL_PATH=settings.CLIP_MODEL_PATH, HF_HUB_OFFLINE="1",
    )  # fmt: skip
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prethrift", "worker", "--pool=prefork", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # this process enqueues to the same broker
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    use_celery_broker(REDIS_URL, eager=False)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        use_celery_broker(previous[0], eager=previous[1])
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


def _wait_for(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_embeds_saved_garments_end_to_end(enqueue_on_save, clip_configured, celery_worker_process):
    # given garments saved through the services (their transactions commit, enqueueing tasks)
    garments = [
        garment_create(sku=f"w-{i}", title=title, image_content=jpeg_bytes((i * 40, 20, 200 - i * 40)))
        for i, title in enumerate(["Red wool scarf", "Blue denim jacket", "Black leather boots"])
    ]
    ids = [garment.pk for garment in garments]
    # when the worker has run, then every garment has fresh text and image vectors
    assert _wait_for(lambda: not Garment.objects.filter(pk__in=ids).needs_embedding("text").exists()
                     and not Garment.objects.filter(pk__in=ids).needs_embedding("image").exists())  # fmt: skip
    assert celery_worker_process.poll() is None
    stored = Garment.objects.get(pk=ids[0])
    assert stored.text_embedding_model == "local:all-MiniLM-L6-v2"
    assert stored.image_embedding_model.startswith("clip:tiny-clip:")
    # a task for a garment that was deleted meanwhile is a no-op, and the worker goes on
    from embeddings.tasks import embed_garments_task

    embed_garments_task.delay([999_999_999], ["text"])
    garment_update(garment=stored, listing={"title": "Red wool scarf, hand knitted"})
    assert _wait_for(lambda: not Garment.objects.filter(pk=ids[0]).needs_embedding("text").exists())
    assert celery_worker_process.poll() is None
