"""Celery tasks for attributes: thin wrappers that take ids and call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

from .services import extract_garments

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def extract_garments_task(garment_ids: list[int], force: bool = False) -> dict[str, Any]:
    """Extract attributes for these garments (deterministic and local: nothing transient to retry)."""
    report = extract_garments(garment_ids=garment_ids, force=force)
    return {"extracted": report.extracted, "changed": report.changed, "skipped": report.skipped,
            "failed": len(report.failed)}  # fmt: skip


def enqueue_extraction(garment_ids: list[int]) -> None:
    """Queue extraction for those of these garments whose content changed (inline without a broker)."""
    from garments.models import Garment

    stale = sorted(Garment.objects.filter(pk__in=garment_ids).needs_extraction().values_list("pk", flat=True))
    for start in range(0, len(stale), settings.BATCH_SIZE):
        batch = stale[start : start + settings.BATCH_SIZE]
        if settings.CELERY_TASK_ALWAYS_EAGER:
            extract_garments(garment_ids=batch)  # failures are logged per garment inside
        else:
            extract_garments_task.delay(batch)


def on_garments_changed(*, garment_ids: list[int], **kwargs: Any) -> None:
    if settings.ONTOLOGY_EXTRACT_ON_SAVE:
        transaction.on_commit(lambda: enqueue_extraction(list(garment_ids)))
