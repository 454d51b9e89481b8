"""Extracting and merging a garment's attributes: locked and stated values are never overwritten.

Merge rules, per attribute:
- locked by staff: untouched;
- stated by the catalogue or staff (source catalog/staff): untouched, it is the seller's word;
- otherwise the best extractor value (highest confidence) replaces the previous extracted one,
  and an extracted value the content no longer supports is cleared.
Colour: the words win over the photo; the photo fills the colour when the words name none, and a
disagreement between them (different colour families) is recorded in ontology_conflicts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Func, JSONField, Value
from django.utils import timezone

from garments.attributes import ATTRIBUTE_NAMES, AttributeSource
from garments.bulk import bulk_update_columns
from garments.models import Garment
from garments.services import (
    STATED_SOURCES,
    AttributeValue,
    apply_attributes,
    ontology_input_hash,
    refresh_content_hashes,
)
from garments.signals import garments_changed

from .extractors.embedding import ATTRIBUTES as ATTRIBUTES_BY_MEANING
from .extractors.embedding import EmbeddingFallback
from .extractors.image import ImageColourError, image_colour
from .extractors.llm import LLMExtractionError, LLMExtractor
from .extractors.text import Extraction, extract_text
from .metrics import ontology_extraction_confidence, ontology_extraction_failures_total
from .vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)
EXTRACTOR_VERSION = 2  # 2: descriptions, currency, languages, condition grading with evidence
EXTRACTED_SOURCES = {AttributeSource.EXTRACTED, AttributeSource.IMAGE, AttributeSource.LLM}
# The key under Garment.embedding_errors that holds the last failed extraction, beside the spaces':
# {"message": str, "source_hash": ontology_input_hash, "at": iso time}; removed by the next success.
ERROR_KEY = "ontology"
# After this many garments in a row whose model call failed, the model is taken to be down for the
# rest of the batch: its other garments are left pending at once instead of each waiting through the
# client's retries (a 30,000-garment run against a dead provider would otherwise take hours).
LLM_CONSECUTIVE_FAILURES_TO_STOP = 3
_READ_FIELDS = ("title", "description", "image", "image_sha256", "ontology_input_hash", "ontology_extracted_hash",
                "ontology_version", "ontology_extracted_at", "ontology_confidence", "ontology_source",
                "ontology_locked", "ontology_conflicts", "ontology_evidence", "text_content_hash", "embedding_errors",
                "currency",
                *ATTRIBUTE_NAMES)  # fmt: skip


def ontology_version(vocabulary: Vocabulary | None = None) -> int:
    """One number for "what extraction would produce": vocabulary and extractor versions together."""
    return (vocabulary or load_vocabulary()).version * 1000 + EXTRACTOR_VERSION


@dataclass
class ExtractReport:
    extracted: int = 0
    changed: int = 0  # garments whose attributes changed
    skipped: int = 0  # fresh already, or gone
    failed: dict[int, str] = field(default_factory=dict)


def _stated_brand(garment: Garment) -> str:
    return garment.brand if garment.ontology_source.get("brand") in STATED_SOURCES else ""


def _photo_colour(garment: Garment, vocabulary: Vocabulary) -> Extraction | None:
    if not garment.image:
        return None
    try:
        with default_storage.open(str(garment.image.name), "rb") as handle:
            found = image_colour(handle.read(), vocabulary)
    except (OSError, ImageColourError) as exc:
        logger.info("garment %s: no colour from the photo (%s)", garment.pk, exc)
        return None
    if found is None:
        return None
    return Extraction("primary_color", found[0], found[1], AttributeSource.IMAGE, "photo")


def llm_extractor(vocabulary: Vocabulary) -> LLMExtractor | None:
    """The language-model extractor when switched on (ONTOLOGY_LLM_EXTRACTION and OPENAI_API_KEY)."""
    if not (settings.ONTOLOGY_LLM_EXTRACTION and settings.OPENAI_API_KEY):
        return None
    return LLMExtractor(api_key=settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL,
                        model=settings.ONTOLOGY_LLM_MODEL, vocabulary=vocabulary)  # fmt: skip


def extract_candidates(
    garment: Garment, vocabulary: Vocabulary, llm: LLMExtractor | None = None
) -> tuple[dict[str, Extraction], dict[str, object]]:
    """The best value per attribute from every extractor, and the conflicts between them."""
    found, _ = extract_text(
        title=garment.title,
        description=garment.description,
        brand=_stated_brand(garment),
        currency=garment.currency or None,
        vocabulary=vocabulary,
    )
    if llm is not None:
        for attribute, extraction in llm.extract(title=garment.title, description=garment.description).items():
            found.setdefault(attribute, extraction)  # the words' rules are more precise where they speak
    conflicts: dict[str, object] = {}
    photo = _photo_colour(garment, vocabulary)
    if photo is not None:
        words = found.get("primary_color")
        if words is None:
            found["primary_color"] = photo
        elif vocabulary.color_family(words.value) != vocabulary.color_family(photo.value):
            conflicts["primary_color"] = {"text": words.value, "image": photo.value}
    return found, conflicts


def evidence_of(garment: Garment, found: dict[str, Extraction]) -> dict[str, str]:
    """Why each extracted value was chosen ("fair: 'small stain on cuff'"), for the attributes the
    garment now holds from extraction; staff and catalogue values carry no evidence."""
    return {
        name: extraction.evidence
        for name, extraction in found.items()
        if garment.ontology_source.get(name) in EXTRACTED_SOURCES and getattr(garment, name) == extraction.value
    }


def _merge(garment: Garment, found: dict[str, Extraction]) -> dict[str, AttributeValue]:
    updates: dict[str, AttributeValue] = {}
    for name in ATTRIBUTE_NAMES:
        if name in garment.ontology_locked or garment.ontology_source.get(name) in STATED_SOURCES:
            continue
        if name in found:
            extraction = found[name]
            updates[name] = AttributeValue(extraction.value, extraction.confidence, extraction.source)
        elif getattr(garment, name) and garment.ontology_source.get(name) in EXTRACTED_SOURCES | {None}:
            updates[name] = AttributeValue("", 0.0, AttributeSource.EXTRACTED)  # no longer supported
    return updates


_WRITE_FIELDS = [
    *ATTRIBUTE_NAMES,
    "ontology_confidence",
    "ontology_source",
    "ontology_conflicts",
    "ontology_evidence",
    "ontology_input_hash",
    "ontology_extracted_hash",
    "ontology_version",
    "ontology_extracted_at",
    "text_content_hash",
    "embedding_errors",
]  # and updated_at, which bulk_update_columns bumps like save() does: `--since` backfills and clients see it


class _JsonbConcat(Func):
    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = JSONField()


def _record_failure(garment: Garment, message: str, reason: str) -> None:
    """Keep the garment pending (nothing written but the error), visible to staff, logged and counted."""
    error = {ERROR_KEY: {"message": message[:500], "source_hash": garment.ontology_input_hash,
                         "at": timezone.now().isoformat()}}  # fmt: skip
    Garment.objects.filter(pk=garment.pk).update(
        embedding_errors=_JsonbConcat(F("embedding_errors"), Value(error, output_field=JSONField()))
    )
    ontology_extraction_failures_total.labels(reason=reason).inc()
    logger.warning("garment %s: attribute extraction failed (%s), left pending: %s", garment.pk, reason, message)


def _fill_from_meaning(
    garments: list[Garment],
    results: dict[int, tuple[str, dict[str, Extraction], dict[str, object]]],
    vocabulary: Vocabulary,
    report: ExtractReport,
) -> None:
    """The category from the text's meaning, where the extractors found none.

    When the text model fails, the garments it should have completed stay pending (failed), rather
    than being stored as extracted without the values it would have given.
    """
    if not settings.ONTOLOGY_EMBEDDING_FALLBACK:
        return
    open_garments = [g for g in garments if g.pk in results and not set(ATTRIBUTES_BY_MEANING) <= set(results[g.pk][1])]
    if not open_garments:
        return
    from embeddings.registry import get_encoder

    try:
        encoder = get_encoder("text")
        if encoder is None:
            return
        fallback = EmbeddingFallback(vocabulary, encoder)
        texts = [f"{g.title}. {g.description[:500]}" for g in open_garments]
        meanings = fallback.extract_many(texts)
    except Exception as exc:  # a batch boundary: these garments stay pending for the next run
        logger.exception("the embedding fallback failed for %d garments", len(open_garments))
        for garment in open_garments:
            del results[garment.pk]
            report.failed[garment.pk] = f"embedding fallback failed: {exc}"[:300]
            _record_failure(garment, report.failed[garment.pk], "embedding_fallback")
        return
    for garment, meaning in zip(open_garments, meanings, strict=True):
        found = results[garment.pk][1]
        for attribute, extraction in meaning.items():
            found.setdefault(attribute, extraction)


def extract_garments(*, garment_ids: Sequence[int], force: bool = False) -> ExtractReport:
    """Extract and store the attributes of these garments that need it (all of them with force).

    Extractors run outside any lock; the writes then happen in one transaction that re-reads the
    rows FOR UPDATE and skips any garment edited meanwhile (its edit brings its own extraction).
    A garment whose extraction raises (the language model down or rate limited, say) is written
    nothing but the error: it stays pending, so the next run retries it, and the rest of the batch
    goes on.
    """
    vocabulary = load_vocabulary()
    version = ontology_version(vocabulary)
    report = ExtractReport()
    queryset = Garment.objects.filter(pk__in=garment_ids)
    if not force:
        queryset = queryset.needs_extraction(version=version)
    garments = list(queryset.only(*_READ_FIELDS).order_by("pk"))
    report.skipped = len(set(garment_ids)) - len(garments)
    results: dict[int, tuple[str, dict[str, Extraction], dict[str, object]]] = {}
    llm = llm_extractor(vocabulary) if garments else None
    llm_failures_in_a_row = 0
    for garment in garments:
        if llm is not None and llm_failures_in_a_row >= LLM_CONSECUTIVE_FAILURES_TO_STOP:
            report.failed[garment.pk] = (f"language model skipped: it failed for {llm_failures_in_a_row} garments "
                                         "in a row in this batch")  # fmt: skip
            _record_failure(garment, report.failed[garment.pk], "llm")
            continue
        try:
            found, conflicts = extract_candidates(garment, vocabulary, llm)
        except LLMExtractionError as exc:
            llm_failures_in_a_row += 1
            report.failed[garment.pk] = str(exc)[:300]
            _record_failure(garment, report.failed[garment.pk], "llm")
            continue
        except Exception as exc:  # a batch boundary: record, log, go on with the others
            logger.exception("attribute extraction failed for garment %s", garment.pk)
            report.failed[garment.pk] = f"{type(exc).__name__}: {exc}"[:300]
            _record_failure(garment, report.failed[garment.pk], "error")
            continue
        llm_failures_in_a_row = 0
        results[garment.pk] = (ontology_input_hash(garment), found, conflicts)
    _fill_from_meaning(garments, results, vocabulary, report)
    now = timezone.now()
    written: list[Garment] = []
    with transaction.atomic():
        for current in Garment.objects.select_for_update().only(*_READ_FIELDS).filter(pk__in=results).order_by("pk"):
            input_hash, found, conflicts = results[current.pk]
            if ontology_input_hash(current) != input_hash:
                continue  # counted below with the deleted ones
            changed = apply_attributes(current, _merge(current, found))
            current.ontology_conflicts = conflicts
            current.ontology_evidence = evidence_of(current, found)
            current.ontology_input_hash = current.ontology_extracted_hash = input_hash
            current.ontology_version, current.ontology_extracted_at = version, now
            current.embedding_errors = {k: v for k, v in current.embedding_errors.items() if k != ERROR_KEY}
            refresh_content_hashes(current)
            written.append(current)
            report.extracted += 1
            report.changed += bool(changed)
            for name in changed:
                if name in current.ontology_confidence:
                    ontology_extraction_confidence.labels(attribute=name).observe(current.ontology_confidence[name])
        bulk_update_columns(written, _WRITE_FIELDS)
        if written:
            # Derived work follows the new values after commit (text vectors read the attributes).
            garments_changed.send(sender=Garment, garment_ids=[garment.pk for garment in written])
    report.skipped += len(results) - len(written)  # edited or deleted while the extractors ran
    return report
