"""Computing and storing vectors: idempotent, conditional on unchanged content, failures recorded."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.db import connection

from embeddings import registry
from embeddings.encoders.local_text import LocalTextEncoder
from embeddings.metrics import embedding_generation_failures_total
from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.documents import garment_document
from garments.models import Garment
from garments.services import garment_update
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db


def _ids() -> list[int]:
    return list(Garment.objects.order_by("pk").values_list("pk", flat=True))


def test_text_vectors_are_computed_once_and_stored_with_their_provenance(garment_factory):
    # given
    garments = [garment_factory(title=title) for title in ("Red wool scarf", "Blue denim jacket", "Black boots")]
    # when
    first = embed_garments(garment_ids=_ids(), space="text")
    second = embed_garments(garment_ids=_ids(), space="text")
    # then
    assert (first.computed, first.skipped, first.failed) == (3, 0, {})
    assert (second.computed, second.skipped) == (0, 3)  # fresh vectors are never recomputed
    scarf = Garment.objects.get(pk=garments[0].pk)
    assert scarf.text_embedding_model == "local:all-MiniLM-L6-v2"
    assert scarf.text_embedding_source_hash == scarf.text_content_hash
    stored = np.asarray(scarf.text_embedding_vec)
    expected = registry.get_encoder("text").embed_texts([garment_document(scarf)])[0]
    assert float(stored @ expected) > 0.9999
    assert not Garment.objects.needs_embedding("text").exists()


def test_an_edit_makes_the_vector_stale_and_the_next_pass_recomputes_only_it(garment_factory):
    scarf, jacket = garment_factory(title="Red wool scarf"), garment_factory(title="Blue denim jacket")
    embed_garments(garment_ids=_ids(), space="text")
    garment_update(garment=scarf, listing={"title": "Green wool scarf"})
    assert list(Garment.objects.needs_embedding("text")) == [scarf]
    report = embed_garments(garment_ids=_ids(), space="text")
    assert (report.computed, report.skipped) == (1, 1)
    jacket_before = Garment.objects.get(pk=jacket.pk).text_embedding_computed_at
    embed_garments(garment_ids=_ids(), space="text", force=True)
    jacket_after = Garment.objects.get(pk=jacket.pk).text_embedding_computed_at
    assert jacket_before is not None and jacket_after is not None and jacket_after > jacket_before


class EditsWhileEncoding(LocalTextEncoder):
    """The real local model, plus a staff edit landing while the batch is being computed."""

    def __init__(self, base: LocalTextEncoder, garment_id: int) -> None:
        self.__dict__.update(base.__dict__)
        self.garment_id = garment_id

    def embed_texts(self, texts):
        garment_update(garment=Garment.objects.get(pk=self.garment_id), listing={"title": "Edited meanwhile"})
        return super().embed_texts(texts)


def test_a_vector_computed_from_old_content_never_lands_over_a_newer_edit(garment_factory, monkeypatch):
    garment = garment_factory(title="Red wool scarf")
    base = registry.get_encoder("text")
    assert isinstance(base, LocalTextEncoder)
    monkeypatch.setitem(registry._encoders, "text", EditsWhileEncoding(base, garment.pk))
    report = embed_garments(garment_ids=[garment.pk], space="text")
    assert (report.computed, report.skipped) == (0, 1)
    garment.refresh_from_db()
    assert garment.title == "Edited meanwhile" and garment.text_embedding_vec is None


def test_image_vectors_with_a_missing_and_a_corrupt_photo_record_the_failures(garment_factory, clip_configured):
    good = garment_factory(image_content=jpeg_bytes((10, 200, 10)))
    missing = garment_factory(image_content=jpeg_bytes((10, 10, 200)))
    corrupt = garment_factory(image_content=jpeg_bytes((200, 10, 10)))
    no_photo = garment_factory()
    default_storage.delete(missing.image.name)
    with default_storage.open(corrupt.image.name, "wb") as handle:
        handle.write(b"\xff\xd8 this is no longer a jpeg")
    before = embedding_generation_failures_total.labels(space="image", reason="bad_image")._value.get()
    # when
    report = embed_garments(garment_ids=_ids(), space="image")
    # then
    assert report.computed == 1 and set(report.failed) == {missing.pk, corrupt.pk}
    assert report.skipped == 1  # the garment without a photo has nothing to embed
    assert Garment.objects.get(pk=good.pk).image_embedding_vec is not None
    errors = Garment.objects.get(pk=corrupt.pk).embedding_errors
    assert "unreadable image" in errors["image"]["message"]
    assert errors["image"]["source_hash"] == corrupt.image_sha256
    assert "is missing" in Garment.objects.get(pk=missing.pk).embedding_errors["image"]["message"]
    after = embedding_generation_failures_total.labels(space="image", reason="bad_image")._value.get()
    assert after == before + 1
    assert Garment.objects.get(pk=no_photo.pk).image_embedding_vec is None
    # a fixed photo clears the recorded failure
    garment_update(garment=Garment.objects.get(pk=corrupt.pk), image_content=jpeg_bytes((1, 2, 3)))
    assert embed_garments(garment_ids=[corrupt.pk], space="image").computed == 1
    assert Garment.objects.get(pk=corrupt.pk).embedding_errors == {}


def test_openai_vectors_fill_their_own_column(garment_factory, fake_openai):
    garment = garment_factory(title="Blue denim jacket")
    report = embed_garments(garment_ids=[garment.pk], space="openai_text")
    assert report.computed == 1
    garment.refresh_from_db()
    assert len(garment.openai_text_embedding_vec) == 1536
    assert garment.openai_text_embedding_model == "openai:text-embedding-3-small"
    assert fake_openai.script.requests[0]["body"]["input"] == [garment_document(garment)]


def test_unconfigured_spaces_are_skipped_not_failed(garment_factory, settings):
    settings.OPENAI_API_KEY = ""
    garment = garment_factory()
    report = embed_garments(garment_ids=[garment.pk], space="openai_text")
    assert report.unconfigured and report.skipped == 1 and not report.failed


def test_sample_catalogue_text_backfill_uses_the_hnsw_index(sample_dir):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    report = embed_garments(garment_ids=_ids(), space="text")
    assert report.computed == 500
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM garments_garment ORDER BY text_embedding_vec <=> %s::vector LIMIT 10",
            [str([0.05] * 384)],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "garment_text_vec_hnsw" in plan
