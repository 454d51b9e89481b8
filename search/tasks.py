"""Celery tasks of search: thin wrappers around services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from .recall import RECALL_AT, measure_vector_search_recall, remember_sample


# Sent by beat every SEARCH_RECALL_INTERVAL_SECONDS (CELERY_BEAT_SCHEDULE); a read-only probe, so a lost
# run is simply the next one: no retries, and acks_late redelivery is harmless.
@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def measure_vector_search_recall_task(sample_size: int | None = None) -> dict[str, Any]:
    """Publish vector_search_recall{space} for the index as it is now, and keep it for the admin's status page."""
    size = sample_size or settings.SEARCH_RECALL_SAMPLE_SIZE
    results = measure_vector_search_recall(sample_size=size)
    remember_sample(results, sample_size=size, k=RECALL_AT)
    return {result.space: {"recall": result.recall, "samples": result.samples} for result in results}
