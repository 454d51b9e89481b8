"""backfill_embeddings running while staff edit the titles of the same garments: no vector computed
from an old title lands beside the new one. Afterwards every garment is either fresh with the vector
of its current text, or marked stale; the next backfill makes them all fresh."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from embeddings.registry import get_encoder
from garments.catalog_import import catalog_import
from garments.documents import garment_document
from garments.models import Garment
from garments.services import garment_update
from tests.embeddings.test_tasks import _database_url
from tests.faults.servers import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.slow]
GARMENTS = 120
BATCH_SIZE = 5  # many small batches: many chances for an edit to land between a batch's read and its write


def _assert_consistent(ids: list[int]) -> tuple[int, int]:
    """Every garment fresh with the vector of its current text, or stale; (fresh, stale) counts."""
    encoder = get_encoder("text")
    assert encoder is not None
    garments = list(Garment.objects.filter(pk__in=ids).order_by("pk"))
    stale = set(Garment.objects.filter(pk__in=ids).needs_embedding("text").values_list("pk", flat=True))
    fresh = [garment for garment in garments if garment.pk not in stale]
    for garment in fresh:
        assert garment.text_embedding_source_hash == garment.text_content_hash
    if fresh:
        expected = encoder.embed_texts([garment_document(garment) for garment in fresh])
        stored = np.asarray([garment.text_embedding_vec for garment in fresh], dtype=np.float32)
        similarity = np.sum(expected * stored, axis=1)
        wrong = [garment.pk for garment, value in zip(fresh, similarity, strict=True) if value < 0.999]
        assert not wrong, f"garments whose vector is not of their current text: {wrong}"
    return len(fresh), len(stale)


@pytest.mark.django_db(transaction=True)
def test_a_backfill_racing_staff_edits_converges(sample_dir: Path, tmp_path: Path, settings) -> None:
    # given garments without text vectors
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=GARMENTS)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "REDIS_"))}
    env.update(DJANGO_SETTINGS_MODULE="prethrift.settings.local", DATABASE_URL=_database_url(),
               PRETHRIFT_VAR_DIR=str(tmp_path), EMBEDDINGS_TORCH_THREADS="1", HF_HUB_OFFLINE="1",
               EMBEDDINGS_ENQUEUE_ON_SAVE="false", ONTOLOGY_EXTRACT_ON_SAVE="false")  # fmt: skip
    # when a backfill runs in its own process while this one edits the same garments' titles
    backfill = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_embeddings", "--space", "text", "--batch-size", str(BATCH_SIZE),
         "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    chooser = random.Random(20261129)
    edits = edits_after_first_vector = 0
    while backfill.poll() is None:
        garment = Garment.objects.get(pk=chooser.choice(ids))
        garment_update(garment=garment, listing={"title": f"{garment.title.split(' #')[0]} #{edits}"})
        edits += 1
        if edits % 10 == 0 and Garment.objects.filter(pk__in=ids, text_embedding_vec__isnull=False).exists():
            edits_after_first_vector += 10
    output = backfill.communicate(timeout=300)[0]
    assert backfill.returncode == 0, output
    assert edits_after_first_vector > 0, f"no edit overlapped the backfill's writes ({edits} edits)\n{output}"
    # then no garment holds a vector of an old title: each is fresh and right, or stale
    fresh, stale = _assert_consistent(ids)
    print(f"{edits} edits during the backfill; afterwards {fresh} fresh, {stale} stale\n{output}")
    # and the next backfill makes every garment fresh with the vector of its current text
    settings.VAR_DIR = tmp_path
    call_command("backfill_embeddings", "--space", "text", "--no-progress")
    assert _assert_consistent(ids) == (len(ids), 0)
