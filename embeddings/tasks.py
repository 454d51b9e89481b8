"""Celery tasks for vectors: thin wrappers that take ids and call the service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction

from garments.managers import EMBEDDING_SPACES, EmbeddingSpace

from .encoders.base import TransientEncoderError
from .metrics import embedding_generation_failures_total, task_enqueue_failures_total
from .registry import configured_spaces
from .services import embed_garments

logger = logging.getLogger(__name__)
MAX_RETRIES = 6
RETRY_BACKOFF_MAX_SECONDS = 600
# How long an enqueue after a save may try a broker that is down: three attempts 0.25 s apart
# (plus the connect and socket timeouts of CELERY_BROKER_TRANSPORT_OPTIONS), then the save goes on
# without it and the backfill commands pick the garments up. Celery's default retries for longer.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.25}


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
        if self.request.retries >= (self.max_retries or 0):  # Celery re-raises exc: the task fails
            # `space` is the one that failed; the spaces before it were stored, the ones after stay stale
            # too. reason=gave_up counts garments whose task stopped retrying (each attempt's own
            # failure is counted by the encoder as provider_unavailable).
            embedding_generation_failures_total.labels(space=space, reason="gave_up").inc(len(garment_ids))
            logger.error("embedding %d garments: %s; giving up after %d retries, backfill_embeddings will retry",
                         len(garment_ids), exc, self.request.retries)  # fmt: skip
        retry_after = getattr(exc, "retry_after", None) or 0.0
        countdown = max(retry_after, _backoff(self.request.retries))
        logger.warning(
            "embedding %d garments: %s; retry %d in %.0fs", len(garment_ids), exc, self.request.retries + 1, countdown
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    return summary


def publish_batches(task: Task, batches: list[tuple[Any, ...]], *, name: str) -> int:
    """Queue `task` once per argument tuple; returns how many were queued.

    A broker that is down never fails the caller (a save that already committed): the first refusal
    is logged, every batch left unqueued is counted in task_enqueue_failures_total, and the rows
    stay stale for backfill_embeddings / extract_ontology to pick up.
    """
    for done, args in enumerate(batches):
        try:
            task.apply_async(args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:  # the enqueue boundary: broker refused, timed out, or misconfigured
            left = len(batches) - done
            task_enqueue_failures_total.labels(task=name).inc(left)
            logger.error("could not queue %s (%d batches left for the backfill): %s: %s",
                         name, left, type(exc).__name__, exc)  # fmt: skip
            return done
    return len(batches)


def after_commit_safely(name: str, callback: Callable[[], None]) -> Callable[[], None]:
    """An on_commit callback that can never turn a committed save into an error (logged and counted)."""

    def run() -> None:
        try:
            callback()
        except Exception:  # the after-commit boundary: the row is saved; the backfill finishes the job
            task_enqueue_failures_total.labels(task=name).inc()
            logger.exception("follow-up work %s after a commit failed; the backfill will pick it up", name)

    return run


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
    batches = [ids[start : start + settings.BATCH_SIZE] for start in range(0, len(ids), settings.BATCH_SIZE)]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        for batch in batches:
            _run_inline(batch, spaces)
    else:
        publish_batches(embed_garments_task, [(batch, list(spaces)) for batch in batches], name="embed_garments")


def _run_inline(batch: list[int], spaces: list[EmbeddingSpace]) -> None:
    # No broker: compute now, in this process. A failure must not undo the save that caused it, nor
    # stop the other spaces: it is logged and counted (by the encoder for a provider that is down;
    # recorded on the garment by the service when it is the garment's own), never raised; the
    # garments stay stale for backfill_embeddings.
    for space in spaces:
        try:
            embed_garments(garment_ids=batch, space=space)
        except Exception as exc:
            if not isinstance(exc, TransientEncoderError):  # the encoder counts its own (provider_unavailable)
                embedding_generation_failures_total.labels(space=space, reason="error").inc(len(batch))
            logger.exception(
                "inline %s embedding of %d garments failed; backfill_embeddings will retry them", space, len(batch)
            )


def on_garments_changed(*, garment_ids: list[int], **kwargs: Any) -> None:
    if settings.EMBEDDINGS_ENQUEUE_ON_SAVE:
        ids = list(garment_ids)
        transaction.on_commit(after_commit_safely("embed_garments", lambda: enqueue_embeddings(ids)))
