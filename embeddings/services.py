"""Computing and storing garment vectors: idempotent, conditional, and honest about failures.

A garment is embedded in a space only when its vector is missing, was computed from other
content (its source hash differs from the garment's current one) or by another model. The write
is conditional on the content being unchanged since it was read, so a vector computed from an
old title can never land over a newer edit. Failures are recorded on the garment per space and
counted; transient provider errors propagate so the caller (a Celery task) can retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Func, JSONField, Value
from django.utils import timezone

from garments.documents import DOCUMENT_FIELDS, garment_document
from garments.managers import SPACE_SOURCE_HASH_FIELD, EmbeddingSpace
from garments.models import Garment

from .encoders.base import Encoder, EncoderError
from .images import open_for_model
from .metrics import (
    embedding_generation_duration_seconds,
    embedding_generation_failures_total,
    embeddings_computed_total,
)
from .registry import get_encoder
from .runtime import model_slot

logger = logging.getLogger(__name__)


@dataclass
class EmbedReport:
    space: str
    computed: int = 0
    skipped: int = 0  # fresh already, gone, or changed while we worked
    failed: dict[int, str] = field(default_factory=dict)
    unconfigured: bool = False

    def merge(self, other: EmbedReport) -> None:
        self.computed += other.computed
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.unconfigured = self.unconfigured or other.unconfigured


class _JsonbMinus(Func):
    arg_joiner = " - "
    template = "(%(expressions)s)"
    output_field = JSONField()


class _JsonbConcat(Func):
    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = JSONField()


def _candidates(ids: Sequence[int], space: EmbeddingSpace, encoder: Encoder, force: bool) -> list[Garment]:
    queryset = Garment.objects.filter(pk__in=ids)
    if not force:
        queryset = queryset.needs_embedding(space, model_id=encoder.id)
    elif space == "image":
        queryset = queryset.with_image()
    # Only the columns this pass reads: never the other spaces' vectors (kilobytes each).
    fields = ("image", "image_sha256") if space == "image" else (*DOCUMENT_FIELDS, "text_content_hash")
    return list(queryset.only("pk", *fields).order_by("pk"))


def _record_failure(garment: Garment, space: EmbeddingSpace, message: str, reason: str) -> None:
    error = {
        space: {"message": message[:500], "source_hash": _source_hash(garment, space), "at": timezone.now().isoformat()}
    }
    Garment.objects.filter(pk=garment.pk).update(
        embedding_errors=_JsonbConcat(F("embedding_errors"), Value(error, output_field=JSONField()))
    )
    embedding_generation_failures_total.labels(space=space, reason=reason).inc()
    logger.warning("garment %s: %s vector failed: %s", garment.pk, space, message)


def _source_hash(garment: Garment, space: EmbeddingSpace) -> str:
    return str(getattr(garment, SPACE_SOURCE_HASH_FIELD[space]))


def _image_inputs(garments: list[Garment], encoder: Encoder, report: EmbedReport) -> tuple[list[Garment], list[Any]]:
    size = int(getattr(encoder, "input_size", 224))
    ready, images = [], []
    for garment in garments:
        try:
            with default_storage.open(str(garment.image.name), "rb") as handle:
                content = handle.read()
            images.append(open_for_model(content, size))
        except FileNotFoundError:
            report.failed[garment.pk] = f"photo file {garment.image.name} is missing"
            _record_failure(garment, "image", report.failed[garment.pk], "missing_image")
        except (EncoderError, OSError) as exc:
            report.failed[garment.pk] = str(exc)
            _record_failure(garment, "image", str(exc), "bad_image")
        else:
            ready.append(garment)
    return ready, images


def _compute(encoder: Encoder, space: EmbeddingSpace, inputs: list[Any]) -> np.ndarray:
    started = time.perf_counter()
    with model_slot():
        vectors = encoder.embed_images(inputs) if space == "image" else encoder.embed_texts(inputs)
    embedding_generation_duration_seconds.labels(space=space).observe(time.perf_counter() - started)
    return vectors


def _compute_isolating_failures(
    encoder: Encoder, space: EmbeddingSpace, garments: list[Garment], inputs: list[Any], report: EmbedReport
) -> list[tuple[Garment, np.ndarray]]:
    """Embed a batch; if the provider refuses it, embed one by one so only the bad inputs fail."""
    try:
        return list(zip(garments, _compute(encoder, space, inputs), strict=True))
    except EncoderError as exc:
        if len(garments) == 1:
            report.failed[garments[0].pk] = str(exc)
            _record_failure(garments[0], space, str(exc), "refused")
            return []
    results = []
    for garment, single in zip(garments, inputs, strict=True):
        results.extend(_compute_isolating_failures(encoder, space, [garment], [single], report))
    return results


def embed_garments(*, garment_ids: Sequence[int], space: EmbeddingSpace, force: bool = False) -> EmbedReport:
    """Compute and store `space` vectors for the given garments that need them (all of them with force)."""
    report = EmbedReport(space=space)
    encoder = get_encoder(space)
    if encoder is None:
        report.unconfigured = True
        report.skipped = len(garment_ids)
        return report
    garments = _candidates(garment_ids, space, encoder, force)
    report.skipped = len(set(garment_ids)) - len(garments)
    if not garments:
        return report
    if space == "image":
        garments, inputs = _image_inputs(garments, encoder, report)
    else:
        inputs = [garment_document(garment) for garment in garments]
    if not garments:
        return report
    results = _compute_isolating_failures(encoder, space, garments, inputs, report)
    now = timezone.now()
    source_field = SPACE_SOURCE_HASH_FIELD[space]
    with transaction.atomic():
        for garment, vector in results:
            source_hash = _source_hash(garment, space)
            written = Garment.objects.filter(pk=garment.pk, **{source_field: source_hash}).update(
                **{
                    f"{space}_embedding_vec": vector.tolist(),
                    f"{space}_embedding_model": encoder.id,
                    f"{space}_embedding_computed_at": now,
                    f"{space}_embedding_source_hash": source_hash,
                },
                embedding_errors=_JsonbMinus(F("embedding_errors"), Value(space)),
            )
            if written:
                report.computed += 1
            else:  # edited (or deleted) while we computed: the newer content gets its own pass
                report.skipped += 1
    embeddings_computed_total.labels(space=space).inc(report.computed)
    return report
