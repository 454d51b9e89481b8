"""backfill_embeddings: counts, dry runs, bad input, and a run killed with SIGKILL that resumes exactly."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from embeddings.encoders.openai import BACKOFF_CAP_SECONDS, MAX_ATTEMPTS
from embeddings.management.commands.backfill_embeddings import TRANSIENT_RETRIES
from embeddings.metrics import embedding_generation_failures_total
from garments.catalog_import import catalog_import
from garments.models import Garment
from tests.embeddings.test_tasks import _database_url

ROOT = Path(__file__).resolve().parents[2]


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command("backfill_embeddings", *args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def sample_catalogue(sample_dir):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=120)


@pytest.mark.django_db
def test_backfill_computes_then_finds_everything_fresh(sample_catalogue, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    output = backfill("--space", "text", "--batch-size", "25")
    assert "text: 120 garments to embed" in output and "text: computed 120, skipped 0" in output
    assert "text: all fresh" in backfill("--space", "text")
    logs = sorted((tmp_path / "log").glob("backfill_embeddings-*.log"))
    assert logs and "computed=25" in logs[0].read_text()


@pytest.mark.django_db
def test_dry_run_counts_and_writes_nothing(sample_catalogue):
    output = backfill("--space", "all", "--dry-run", "--limit", "30")
    assert "image: skipped (CLIP_MODEL_PATH is not set)" in output
    assert "text: 30 garments to embed" in output and "dry run, nothing written" in output
    assert Garment.objects.needs_embedding("text").count() == 120


@pytest.mark.django_db
def test_limit_since_and_force(sample_catalogue):
    assert "computed 10," in backfill("--space", "text", "--limit", "10")
    future = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert "text: 0 garments to embed" in backfill("--space", "text", "--since", future)
    backfill("--space", "text")
    assert "computed 120," in backfill("--space", "text", "--force")


@pytest.mark.django_db
def test_image_space_with_clip_and_a_broken_photo(sample_catalogue, clip_configured):
    broken = Garment.objects.order_by("pk").first()
    assert broken is not None
    from django.core.files.storage import default_storage

    with default_storage.open(str(broken.image.name), "wb") as handle:
        handle.write(b"garbage")
    output = backfill("--space", "image", "--batch-size", "50")
    # the same content-addressed photo may be shared: every garment pointing at it fails alike
    sharing = Garment.objects.filter(image=broken.image.name).count()
    assert f"image: computed {120 - sharing}, skipped 0 (fresh or changed meanwhile), failed {sharing}" in output
    assert "x unreadable image" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "image"], "CLIP_MODEL_PATH is not set"),
        (["--space", "openai"], "OPENAI_API_KEY is not set"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--limit", "-1"], "--limit must be at least 1"),
        (["--since", "last tuesday"], "is not a date"),
        (["--async"], "--async needs a broker"),
    ],
)
def test_bad_input_is_a_command_error(args, message, settings):
    settings.CLIP_MODEL_PATH = ""
    settings.OPENAI_API_KEY = ""
    with pytest.raises(CommandError, match=message):
        backfill(*args)


def _manage(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_backfill_killed_with_sigkill_resumes_without_recomputing_or_losing_anything(sample_dir, tmp_path):
    # given 500 garments without vectors
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "prethrift.settings.local", "DATABASE_URL": _database_url(),
           "PRETHRIFT_VAR_DIR": str(tmp_path), "EMBEDDINGS_TORCH_THREADS": "1"}  # fmt: skip
    # when a run is killed -9 part-way
    run = _manage(env, "backfill_embeddings", "--space", "text", "--batch-size", "2", "--no-progress")
    deadline = time.monotonic() + 120
    while Garment.objects.exclude(text_embedding_vec=None).count() < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    done_before = dict(Garment.objects.exclude(text_embedding_vec=None).values_list("pk", "text_embedding_computed_at"))
    assert 40 <= len(done_before) < 500, "the run should have been killed part-way"
    # then a second run computes exactly the rest
    rerun = _manage(env, "backfill_embeddings", "--space", "text", "--batch-size", "50", "--no-progress")
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert f"text: {500 - len(done_before)} garments to embed" in output
    assert f"computed {500 - len(done_before)}, skipped 0" in output
    assert not Garment.objects.needs_embedding("text").exists()
    after = dict(Garment.objects.filter(pk__in=done_before).values_list("pk", "text_embedding_computed_at"))
    assert after == done_before  # nothing computed twice


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_forced_run_resumes_from_its_checkpoint(sample_dir, tmp_path):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=200)
    call_command("backfill_embeddings", "--space", "text", "--no-progress", stdout=io.StringIO())
    first_pass = dict(Garment.objects.values_list("pk", "text_embedding_computed_at"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "prethrift.settings.local", "DATABASE_URL": _database_url(),
           "PRETHRIFT_VAR_DIR": str(tmp_path), "EMBEDDINGS_TORCH_THREADS": "1"}  # fmt: skip
    run = _manage(env, "backfill_embeddings", "--space", "text", "--force", "--batch-size", "2", "--no-progress")
    checkpoint = tmp_path / "backfill" / "text-force.json"
    deadline = time.monotonic() + 120
    while (not checkpoint.exists() or '"last_pk"' not in checkpoint.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    recomputed = {
        pk for pk, at in Garment.objects.values_list("pk", "text_embedding_computed_at") if at != first_pass[pk]
    }
    assert 0 < len(recomputed) < 200
    rerun = _manage(env, "backfill_embeddings", "--space", "text", "--force", "--no-progress")
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "resuming a forced run" in output
    final = dict(Garment.objects.values_list("pk", "text_embedding_computed_at"))
    assert all(final[pk] != first_pass[pk] for pk in final)  # every garment recomputed once by the forced run
    assert not checkpoint.exists()


@pytest.mark.django_db
def test_a_provider_that_keeps_failing_stops_the_backfill_recorded_counted_and_resumable(
    sample_catalogue, fake_openai, settings, tmp_path, monkeypatch
):
    """429s with a Retry-After of an hour: bounded waits (the cap), bounded tries, then a clear failure in
    the output, the log and the metric; nothing is written, and the next run picks the garments up."""
    settings.VAR_DIR = tmp_path
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    tries = TRANSIENT_RETRIES * MAX_ATTEMPTS
    fake_openai.script.failures = [(429, {"Retry-After": "3600"}, 0.0)] * tries
    failures = embedding_generation_failures_total.labels(space="openai_text", reason="provider_unavailable")
    before = failures._value.get()
    # when the provider refuses every try
    with pytest.raises(CommandError, match="provider still failing after 3 tries"):
        backfill("--space", "openai", "--batch-size", "50")
    # then it stopped after a bounded number of requests and waits, none longer than the cap
    assert len(fake_openai.script.requests) == tries
    assert len(sleeps) == tries - 1 and max(sleeps) == BACKOFF_CAP_SECONDS
    assert failures._value.get() - before == 50 * TRANSIENT_RETRIES
    log = next((tmp_path / "log").glob("backfill_embeddings-*.log")).read_text()
    assert "provider still failing after 3 tries" in log
    assert Garment.objects.needs_embedding("openai_text").count() == 120
    # when the provider answers again, the next run computes them all
    assert "openai_text: computed 120" in backfill("--space", "openai")
    assert not Garment.objects.needs_embedding("openai_text").exists()
