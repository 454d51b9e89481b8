"""Celery tasks for vectors: thin wrappers that take ids and call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction

from garments.managers import EMBEDDING_SPACES, EmbeddingSpace

from .encoders.base import TransientEncoderError
from .registry import configured_spaces
from .services import EmbedReport, embed_garments

logger = logging.getLogger(__name__)
MAX_RETRIES = 6
RETRY_BACKOFF_MAX_SECONDS = 600


def _backoff(retries: int) -> float:
    return float(min(RETRY_BACKOFF_MAX_SECONDS, 10 * 2**retries))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def embed_garments_task(
    self: Task, garment_ids: list[int], spaces: list[str] | None = None, force: bool = False
) -> dict[str, Any]:
    """Compute the stale vectors of these garments in each space; retried on provider hiccups only."""
    chosen = spaces or configured_spaces()
    unknown = sorted(set(chosen) - set(EMBEDDING_SPACES))
    if unknown:  # bad input: never retried
        raise ValueError(f"unknown embedding spaces {unknown}")
    summary: dict[str, Any] = {}
    try:
        for space in chosen:
            report = embed_garments(garment_ids=garment_ids, space=space, force=force)  # type: ignore[arg-type]
            summary[space] = {"computed": report.computed, "skipped": report.skipped, "failed": len(report.failed)}
    except (TransientEncoderError, SoftTimeLimitExceeded) as exc:
        retry_after = getattr(exc, "retry_after", None) or 0.0
        countdown = max(retry_after, _backoff(self.request.retries))
        logger.warning(
            "embedding %d garments: %s; retry %d in %.0fs", len(garment_ids), exc, self.request.retries + 1, countdown
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    return summary


def enqueue_embeddings(garment_ids: list[int]) -> None:
    """Queue vectors for these garments in every configured space (inline when there is no broker).

    Only garments that are actually stale in some space are queued, in batches of BATCH_SIZE.
    """
    from garments.models import Garment

    spaces = configured_spaces()
    candidates = Garment.objects.filter(pk__in=garment_ids)
    if settings.ONTOLOGY_EXTRACT_ON_SAVE:
        # Attribute extraction is pending for these: its save enqueues them again with the text
        # vectors reading the new attributes, so embedding now would only be thrown away.
        candidates = candidates.exclude(pk__in=Garment.objects.filter(pk__in=garment_ids).needs_extraction())
    stale: set[int] = set()
    for space in spaces:
        stale.update(candidates.needs_embedding(space).values_list("pk", flat=True))
    ids = sorted(stale)
    for start in range(0, len(ids), settings.BATCH_SIZE):
        batch = ids[start : start + settings.BATCH_SIZE]
        if settings.CELERY_TASK_ALWAYS_EAGER:
            _run_inline(batch, spaces)
        else:
            embed_garments_task.delay(batch, list(spaces))


def _run_inline(batch: list[int], spaces: list[EmbeddingSpace]) -> None:
    # No broker: compute now, in this process. A failure must not undo the save that caused it,
    # so it is logged (and recorded on the garment by the service), never raised.
    try:
        report = EmbedReport(space="inline")
        for space in spaces:
            report.merge(embed_garments(garment_ids=batch, space=space))
    except Exception:
        logger.exception("inline embedding of %d garments failed; backfill_embeddings will retry them", len(batch))


def on_garments_changed(*, garment_ids: list[int], **kwargs: Any) -> None:
    if settings.EMBEDDINGS_ENQUEUE_ON_SAVE:
        transaction.on_commit(lambda: enqueue_embeddings(list(garment_ids)))
