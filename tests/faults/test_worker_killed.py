"""A Celery worker's process SIGKILLed in the middle of a batch (the OOM killer, a node lost): the batch
is redelivered (acks_late + reject_on_worker_lost), finishes once, and every garment ends with exactly
the vector of its current content: none lost, none written twice, none from the wrong text."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.measure import child_pids
from embeddings.tasks import embed_garments_task
from garments.catalog_import import catalog_import
from garments.documents import garment_document
from garments.models import Garment
from prethrift.celery import app
from tests.embeddings.fake_openai import FakeOpenAI, fake_vector
from tests.embeddings.test_tasks import _database_url
from tests.faults.servers import ROOT, RedisServer, redis_server, stop_process, wait_for
from tests.services import reset_celery_pools

pytestmark = [pytest.mark.faults, pytest.mark.slow]
SLOW_REQUEST_SECONDS = 30.0  # the first OpenAI call hangs this long: the worker is killed well inside it


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def _start_worker(
    redis: RedisServer, openai: FakeOpenAI, media_root: Path, log: Path, **extra: str
) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "REDIS_", "CLIP_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="prethrift.settings.local", REDIS_URL=redis.url, DATABASE_URL=_database_url(),
        DJANGO_MEDIA_ROOT=str(media_root), OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai.base_url,
        MAX_CONCURRENT_EMBEDDINGS="1", EMBEDDINGS_TORCH_THREADS="1", HF_HUB_OFFLINE="1", **extra,
    )  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prethrift", "worker", "--pool=prefork", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_worker_is_killed_is_redelivered_and_finished_once(
    redis: RedisServer, sample_dir: Path, tmp_path: Path, settings
) -> None:
    # given garments without OpenAI vectors, and a provider whose first answer is slow
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=20)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    log = tmp_path / "worker.log"
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    with FakeOpenAI() as openai:
        openai.script.failures = [(200, {}, SLOW_REQUEST_SECONDS)]
        worker = _start_worker(redis, openai, settings.MEDIA_ROOT, log)
        app.conf.update(broker_url=redis.url, task_always_eager=False)
        try:
            # when the batch is enqueued and the worker's pool process dies while it waits on the provider
            result = embed_garments_task.delay(ids, ["openai_text"])
            assert wait_for(lambda: len(openai.script.requests) >= 1, timeout=120), log.read_text()[-3000:]
            pool = child_pids(worker.pid)
            assert len(pool) == 1, pool
            os.kill(pool[0], signal.SIGKILL)
            # then the batch is delivered again and finishes
            finished = wait_for(
                lambda: not Garment.objects.filter(pk__in=ids).needs_embedding("openai_text").exists(), timeout=180
            )
            assert finished, log.read_text()[-4000:]
            assert wait_for(lambda: f"[{result.id}] succeeded" in log.read_text(), timeout=60)
        finally:
            stop_process(worker)
            app.conf.update(broker_url=previous[0], task_always_eager=previous[1])
            reset_celery_pools()
    output = log.read_text()
    print(output[-3000:])
    # once: the killed attempt wrote nothing, the second did the batch, nothing ran a third time
    assert re.search(r"signal 9|SIGKILL|WorkerLostError", output), output[-3000:]
    assert output.count(f"[{result.id}] succeeded") == 1
    assert len([r for r in openai.script.requests if r["path"].endswith("/embeddings")]) == 2
    # and every garment holds exactly the vector of its current text, from the configured model
    for garment in Garment.objects.filter(pk__in=ids):
        assert garment.openai_text_embedding_source_hash == garment.text_content_hash
        assert garment.openai_text_embedding_model == "openai:text-embedding-3-small"
        expected = np.asarray(fake_vector(garment_document(garment)), dtype=np.float32)
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(np.asarray(garment.openai_text_embedding_vec), expected, atol=1e-5)


# Short limits so that the test waits seconds, not the production default of 2 x 360 s.
SHORT_LIMITS = {
    "CELERY_TASK_SOFT_TIME_LIMIT": "20",
    "CELERY_TASK_TIME_LIMIT": "25",
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "30",
}


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_whole_worker_is_killed_goes_to_the_next_worker_after_the_visibility_timeout(
    redis: RedisServer, sample_dir: Path, tmp_path: Path, settings
) -> None:
    """The OOM killer or a lost node takes the parent and its pool: nobody is left to requeue the task.
    The broker hands the unacknowledged batch to the next worker once its visibility timeout passes."""
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=20)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    log = tmp_path / "worker.log"
    previous = (app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options)
    with FakeOpenAI() as openai:
        openai.script.failures = [(200, {}, SLOW_REQUEST_SECONDS)]
        first = _start_worker(redis, openai, settings.MEDIA_ROOT, log, **SHORT_LIMITS)
        # the producer marks the message with the same visibility timeout the workers use
        app.conf.update(
            broker_url=redis.url,
            task_always_eager=False,
            broker_transport_options={
                **previous[2],
                "visibility_timeout": int(SHORT_LIMITS["CELERY_BROKER_VISIBILITY_TIMEOUT"]),
            },
        )
        second = None
        try:
            result = embed_garments_task.delay(ids, ["openai_text"])
            assert wait_for(lambda: len(openai.script.requests) >= 1, timeout=120), log.read_text()[-3000:]
            # when the whole worker dies at once (parent first, so it cannot requeue anything)
            pool = child_pids(first.pid)
            os.kill(first.pid, signal.SIGKILL)
            for pid in pool:
                os.kill(pid, signal.SIGKILL)
            first.wait(timeout=30)
            # and a new worker starts
            second = _start_worker(redis, openai, settings.MEDIA_ROOT, log, **SHORT_LIMITS)
            # then the batch is redelivered to it and finishes
            finished = wait_for(
                lambda: not Garment.objects.filter(pk__in=ids).needs_embedding("openai_text").exists(), timeout=240
            )
            assert finished, log.read_text()[-4000:]
            assert wait_for(lambda: f"[{result.id}] succeeded" in log.read_text(), timeout=60)
        finally:
            if second is not None:
                stop_process(second)
            stop_process(first)
            app.conf.update(broker_url=previous[0], task_always_eager=previous[1], broker_transport_options=previous[2])
            reset_celery_pools()
    output = log.read_text()
    print(output[-3000:])
    assert output.count(f"[{result.id}] succeeded") == 1
    for garment in Garment.objects.filter(pk__in=ids):
        assert garment.openai_text_embedding_source_hash == garment.text_content_hash
