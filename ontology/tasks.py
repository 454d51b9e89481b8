"""Celery tasks for attributes: thin wrappers that take ids and call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction

from embeddings.tasks import after_commit_safely, publish_batches

from .metrics import ontology_extraction_failures_total
from .services import extract_garments

logger = logging.getLogger(__name__)


# A language model that is down or rate limited is often back within minutes: the garments that
# failed are retried this many times, 30 s, 60 s, 120 s later; after that they stay pending (with
# their error recorded) for the next extract_ontology run.
MAX_RETRIES = 3
RETRY_BACKOFF_SECONDS = 30


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def extract_garments_task(self: Task, garment_ids: list[int], force: bool = False) -> dict[str, Any]:
    """Extract attributes for these garments; those whose extraction failed are retried later, alone."""
    report = extract_garments(garment_ids=garment_ids, force=force)
    if report.failed and self.request.retries < (self.max_retries or 0):
        countdown = RETRY_BACKOFF_SECONDS * 2**self.request.retries
        logger.warning("extraction failed for %d garments; retry %d in %ds", len(report.failed),
                       self.request.retries + 1, countdown)  # fmt: skip
        # Only the failed ones, without force: they are still pending, so a plain pass picks them up.
        raise self.retry(args=(sorted(report.failed), False), countdown=countdown)
    return {"extracted": report.extracted, "changed": report.changed, "skipped": report.skipped,
            "failed": len(report.failed)}  # fmt: skip


def enqueue_extraction(garment_ids: list[int]) -> None:
    """Queue extraction for those of these garments whose content changed (inline without a broker)."""
    from garments.models import Garment

    stale = sorted(Garment.objects.filter(pk__in=garment_ids).needs_extraction().values_list("pk", flat=True))
    batches = [stale[start : start + settings.BATCH_SIZE] for start in range(0, len(stale), settings.BATCH_SIZE)]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        publish_batches(extract_garments_task, [(batch,) for batch in batches], name="extract_garments")
        return
    for batch in batches:
        try:
            extract_garments(garment_ids=batch)  # a garment's own failure is recorded on it inside
        except Exception:  # the save already committed: never undo it into an error; the garments stay pending
            ontology_extraction_failures_total.labels(reason="batch").inc(len(batch))
            logger.exception("inline extraction of %d garments failed; extract_ontology will retry them", len(batch))


def on_garments_changed(*, garment_ids: list[int], **kwargs: Any) -> None:
    if settings.ONTOLOGY_EXTRACT_ON_SAVE:
        ids = list(garment_ids)
        transaction.on_commit(after_commit_safely("extract_garments", lambda: enqueue_extraction(ids)))
