"""The admin's bulk actions: bounded selections, queued as tasks after the request commits, applied by
the tasks (inline here: the test settings run Celery eagerly, as a deployment without a broker does)."""

from __future__ import annotations

import pytest
from django.urls import reverse

import garments.admin as garment_admin
from garments.models import Garment
from garments.services import garment_update

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:garments_garment_changelist")


def _act(staff_client, action: str, garments: list[Garment], **extra: object) -> str:
    response = staff_client.post(
        CHANGELIST, {"action": action, "_selected_action": [g.pk for g in garments], **extra}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def test_mark_sold_queues_a_task_that_sets_status_and_sold_at(
    staff_client, garment_factory, django_capture_on_commit_callbacks
):
    first, second, third = garment_factory(), garment_factory(), garment_factory()
    garment_update(garment=second, listing={"status": "reserved"})
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "mark_sold", [first, second])
    assert "Queued 2 garments to be marked sold in 1 tasks; this request applied it" in page
    assert set(Garment.objects.filter(status="sold", sold_at__isnull=False).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    third.refresh_from_db()
    assert third.status == "available"


def test_an_action_only_enqueues_when_a_worker_is_there(
    staff_client, garment_factory, settings, django_capture_on_commit_callbacks
):
    """With a broker the request changes nothing itself: it leaves one after-commit callback that publishes
    the tasks, and says a worker applies them. (The callback is not run: it would need a broker.)"""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    garments = [garment_factory() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = _act(staff_client, "mark_sold", garments)
    assert "Queued 3 garments to be marked sold in 1 tasks; a worker applies it." in page
    assert len(callbacks) == 1
    assert Garment.objects.filter(status="available").count() == 3


def test_a_large_selection_is_split_into_chunks(
    staff_client, garment_factory, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(garment_admin, "STATUS_CHUNK", 2)
    garments = [garment_factory() for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "mark_reserved", garments)
    assert "Queued 5 garments to be marked reserved in 3 tasks" in page
    assert Garment.objects.filter(status="reserved").count() == 5


def test_select_all_across_pages_is_bounded(
    staff_client, garment_factory, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(garment_admin, "MAX_ACTION_GARMENTS", 3)
    garments = [garment_factory() for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = _act(staff_client, "mark_sold", garments[:1], select_across="1", index="0")
    assert "This selection holds more than 3 garments; nothing was queued." in page
    assert callbacks == []
    assert Garment.objects.filter(status="sold").count() == 0
    # the same bound lets a selection of its size through
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "mark_sold", garments[:3])
    assert Garment.objects.filter(status="sold").count() == 3


def test_reextract_keeps_locked_values_and_updates_the_rest(
    staff_client, garment_factory, django_capture_on_commit_callbacks
):
    # given a garment whose colour staff fixed (locked) and whose category is an extracted guess
    garment = garment_factory(title="Red wool scarf", description="A soft red scarf.", attributes={})
    garment_update(garment=garment, attributes={"primary_color": "green"})
    assert garment.ontology_locked == ["primary_color"]
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "reextract_attributes", [garment])
    assert "Queued 1 garments for re-extraction in 1 tasks" in page
    garment.refresh_from_db()
    assert garment.ontology_extracted_at is not None
    assert garment.primary_color == "green"  # the words say red; the lock holds
    assert garment.ontology_source["primary_color"] == "staff"
    assert garment.subcategory == "scarf"  # an unlocked attribute extraction filled
    assert garment.ontology_source["subcategory"] == "extracted"


def test_reembed_computes_vectors_and_clears_a_recorded_failure(
    staff_client, garment_factory, django_capture_on_commit_callbacks
):
    garment = garment_factory()
    Garment.objects.filter(pk=garment.pk).update(
        embedding_errors={"text": {"message": "an earlier failure", "source_hash": "x", "at": "2026-01-01T00:00:00"}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "reembed", [garment])
    assert "Queued 1 garments for re-embedding in 1 tasks" in page
    garment.refresh_from_db()
    assert garment.text_embedding_vec is not None
    assert garment.text_embedding_source_hash == garment.text_content_hash
    assert "text" not in garment.embedding_errors


def test_unlock_queues_and_unlocks(staff_client, garment_factory, django_capture_on_commit_callbacks):
    garment = garment_factory()
    garment_update(garment=garment, locked=["category", "primary_color"])
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "unlock_attributes", [garment])
    assert "Queued 1 garments to have their attributes unlocked" in page
    garment.refresh_from_db()
    assert garment.ontology_locked == []


@pytest.mark.parametrize(
    ("selected", "message"),
    [
        ("abc", "The selection names no garments"),
        ("1.5", "The selection names no garments"),
        ("99999999999999999999999", "Queued 0 garments"),  # past bigint: the lookup matches no garment
    ],
)
def test_a_selection_that_names_no_garment_ids_is_a_message_not_a_500(staff_client, garment_factory, selected, message):
    garment = garment_factory()
    response = staff_client.post(CHANGELIST, {"action": "mark_sold", "_selected_action": [selected]}, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    garment.refresh_from_db()
    assert garment.status == "available"
