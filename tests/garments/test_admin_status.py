"""The status page: per space, garments missing, stale or failed, for a catalogue built to have each; the
recent failures; pgvector's version and the HNSW index sizes; recall measured on demand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse

from embeddings.random_clip import build_random_clip
from embeddings.services import embed_garments
from garments.models import Garment
from garments.services import garment_update
from ontology.services import extract_garments
from search.recall import LAST_SAMPLE_CACHE_KEY, last_sample
from search.tasks import measure_vector_search_recall_task
from tests.factories import UserFactory, jpeg_bytes

pytestmark = pytest.mark.django_db
STATUS = reverse("admin:garments_garment_status")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", tiny=True, image_size=32)


def _figures(body: str, space: str) -> dict[str, int]:
    row = re.search(rf'<tr id="status-space-{space}">(.*?)</tr>', body, re.S)
    assert row, f"no row for {space}"
    return {name: int(value) for name, value in re.findall(r'data-figure="(\w+)">(\d+)<', row.group(1))}


def _scalar(sql: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_counts_per_space_for_a_catalogue_with_fresh_stale_missing_and_failed_vectors(
    staff_client, garment_factory, settings, tiny_clip
):
    # given five garments: two embedded in both spaces, one of them edited since (text stale); one whose
    # photo file went missing (its image vector failed); one with no photo; one never embedded
    settings.CLIP_MODEL_PATH = str(tiny_clip)
    fresh = garment_factory(image_content=jpeg_bytes((10, 10, 200)))
    edited = garment_factory(image_content=jpeg_bytes((200, 10, 10)))
    broken = garment_factory(image_content=jpeg_bytes((10, 200, 10)))
    no_photo = garment_factory()
    never = garment_factory(image_content=jpeg_bytes((90, 90, 90)))
    default_storage.delete(broken.image.name)
    extract_garments(garment_ids=[fresh.pk])  # before embedding: new attributes change the text vector's input
    embed_garments(garment_ids=[fresh.pk, edited.pk, broken.pk, no_photo.pk], space="text")
    report = embed_garments(garment_ids=[fresh.pk, edited.pk, broken.pk], space="image")
    assert list(report.failed) == [broken.pk]
    garment_update(garment=edited, listing={"title": "Blue denim jacket, patched"})
    Garment.objects.filter(pk=never.pk).update(
        embedding_errors={"ontology": {"message": "the language model is down", "source_hash": "", "at": "2026-01-01"}}
    )

    body = staff_client.get(STATUS).content.decode()

    assert "Vectors per space (5 garments)" in body
    assert _figures(body, "text") == {"eligible": 5, "with_vector": 4, "missing": 1, "stale": 1, "failed": 0}
    assert _figures(body, "image") == {"eligible": 4, "with_vector": 2, "missing": 2, "stale": 0, "failed": 1}
    assert _figures(body, "openai_text")["with_vector"] == 0
    assert re.search(r'data-figure="extraction_pending">4<', body)  # all but the one extracted
    assert re.search(r'data-figure="extraction_failed">1<', body)
    # the recent failures, each linking to its garment with the recorded message
    failures = re.search(r'<div class="module" id="status-failures">.*?</div>', body, re.S)
    assert failures
    assert reverse("admin:garments_garment_change", args=[broken.pk]) in failures.group(0)
    assert "is missing" in failures.group(0)
    assert reverse("admin:garments_garment_change", args=[never.pk]) in failures.group(0)
    assert "the language model is down" in failures.group(0)
    assert reverse("admin:garments_garment_change", args=[fresh.pk]) not in failures.group(0)


def test_shows_the_pgvector_version_and_the_hnsw_index_sizes(staff_client, garment_factory):
    garment_factory()
    body = staff_client.get(STATUS).content.decode()
    version = _scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    assert f'<td id="status-pgvector">{version}</td>' in body
    for space, index in (("text", "garment_text_vec_hnsw"), ("image", "garment_image_vec_hnsw")):
        size = _scalar(f"SELECT pg_relation_size('{index}')")
        row = re.search(rf'<tr id="status-space-{space}">(.*?)</tr>', body, re.S)
        assert row and f'data-bytes="{size}"' in row.group(1) and f"<code>{index}</code>" in row.group(1)
    assert "<code>garment_search_vector_gin</code>" in body


@pytest.fixture
def no_recall_sample():
    cache.delete(LAST_SAMPLE_CACHE_KEY)  # the test cache is shared by the suite


def test_the_page_shows_the_sample_the_beat_task_took(staff_client, garment_factory, no_recall_sample):
    garments = [garment_factory(title=f"Garment number {n} in a {colour} colour", attributes={})
                for n, colour in enumerate(["red", "blue", "green", "black"] * 3)]  # fmt: skip
    embed_garments(garment_ids=[g.pk for g in garments], space="text")
    assert "Not measured yet." in staff_client.get(STATUS).content.decode()
    # when: the periodic task runs (in a worker in production; inline here)
    measured = measure_vector_search_recall_task(sample_size=4)
    # then
    body = staff_client.get(STATUS).content.decode()
    row = re.search(r'<div class="module" id="status-recall">.*?<th scope="row">text</th>(.*?)</tr>', body, re.S)
    assert row and f"{measured['text']['recall']:.3f}" in row.group(1)
    assert "over up to 4 garments" in body


def test_measure_now_measures_recall_and_the_page_keeps_it(staff_client, garment_factory, no_recall_sample):
    garments = [garment_factory(title=f"Garment number {n} in a {colour} colour", attributes={})
                for n, colour in enumerate(["red", "blue", "green", "black"] * 3)]  # fmt: skip
    embed_garments(garment_ids=[g.pk for g in garments], space="text")
    assert "Not measured yet." in staff_client.get(STATUS).content.decode()
    response = staff_client.post(STATUS, follow=True)
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == STATUS
    assert re.search(r"Recall@10 measured: text (0\.\d{3}|1\.000)\.", body)
    row = re.search(r'<div class="module" id="status-recall">.*?<th scope="row">text</th>(.*?)</tr>', body, re.S)
    assert row and re.search(r"(0\.\d{3}|1\.000)", row.group(1))
    assert "too few vectors" in body  # the image space has none here


def test_only_staff_reach_the_status_page(client, db):
    response = client.get(STATUS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(UserFactory(username="shopper"))
    response = client.post(STATUS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_measuring_recall_needs_the_change_permission_not_only_view(client, db, no_recall_sample):
    # given a staff member who may only look at garments
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_garment"))
    client.force_login(viewer)
    assert client.get(STATUS).status_code == 200
    # when they press "Measure recall now"
    response = client.post(STATUS)
    # then nothing runs and nothing is stored
    assert response.status_code == 403
    assert last_sample() is None
