"""Scoring extraction against a labelled catalogue (the Myntra format): accuracy, coverage, confusions."""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .extractors.embedding import ATTRIBUTES as MEANING_ATTRIBUTES
from .extractors.embedding import EmbeddingFallback
from .extractors.text import Extraction, extract_text
from .myntra import ARTICLE_TYPE, LABELS
from .vocabulary import Vocabulary, load_vocabulary


def category_labels(vocabulary: Vocabulary) -> dict[str, str | None]:
    """articleType -> our category, through the subcategory it maps to."""
    out: dict[str, str | None] = {}
    for article_type, subcategory in ARTICLE_TYPE.items():
        value = vocabulary.value("subcategory", subcategory) if subcategory else None
        out[article_type] = value.category if value else None
    return out


def _fill_from_meaning(
    rows: list[dict[str, str]], extracted: list[dict[str, Extraction]], vocabulary: Vocabulary
) -> None:
    from embeddings.registry import get_encoder

    encoder = get_encoder("text")
    assert encoder is not None
    fallback = EmbeddingFallback(vocabulary, encoder)
    open_rows = [i for i, found in enumerate(extracted) if not set(MEANING_ATTRIBUTES) <= set(found)]
    meanings = fallback.extract_many([rows[i]["productDisplayName"] or "" for i in open_rows])
    for index, meaning in zip(open_rows, meanings, strict=True):
        for attribute, extraction in meaning.items():
            extracted[index].setdefault(attribute, extraction)


@dataclass
class AttributeScore:
    n: int = 0  # rows whose label maps to a canonical value
    covered: int = 0  # of those, rows where the extractor gave a value
    correct: int = 0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.correct / self.covered, 4) if self.covered else None,
            "coverage": round(self.covered / self.n, 4) if self.n else None,
            "n": self.n,
        }


def evaluate_titles(
    path: Path, *, limit: int | None = None, meaning: bool = False
) -> tuple[int, float, dict[str, AttributeScore]]:
    """Extract from each title alone and score against the mapped labels; returns rows, rows/s, scores.

    With `meaning`, the embedding fallback fills the category where the words name none (its time
    is not in the rate, which measures the text extractor).
    """
    vocabulary = load_vocabulary()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"productDisplayName", *(column for column, _ in LABELS.values())} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} is not a Myntra-format CSV: missing columns {sorted(missing)}")
        rows = [row for _, row in zip(range(limit) if limit else iter(int, 1), reader, strict=False)]
    started = time.perf_counter()
    extracted = [extract_text(title=row["productDisplayName"] or "", vocabulary=vocabulary)[0] for row in rows]
    rate = len(rows) / max(time.perf_counter() - started, 1e-9)
    if meaning:
        _fill_from_meaning(rows, extracted, vocabulary)
    labels = {**LABELS, "category": ("articleType", category_labels(vocabulary))}
    scores = {attribute: AttributeScore() for attribute in labels}
    for row, found in zip(rows, extracted, strict=True):
        for attribute, (column, mapping) in labels.items():
            truth = mapping.get(row.get(column) or "")
            if truth is None:
                continue
            score = scores[attribute]
            score.n += 1
            if attribute in found:
                score.covered += 1
                if found[attribute].value == truth:
                    score.correct += 1
                else:
                    pair = (truth, found[attribute].value)
                    score.confusions[pair] += 1
                    score.examples.setdefault(pair, row["productDisplayName"])
    return len(rows), rate, scores


# Columns of the seller-listings development set (data/seller-listings/README.md) scored per attribute.
LISTING_ATTRIBUTES = ("condition", "size", "category", "subcategory", "primary_color", "brand", "gender")
LISTING_COLUMNS = {"id", "language", "currency", "title", "description", "split", *LISTING_ATTRIBUTES}


@dataclass
class ListingMiss:
    id: str
    attribute: str
    label: str
    extracted: str | None
    title: str


def evaluate_listings(
    path: Path, *, split: str | None = None
) -> tuple[int, dict[str, AttributeScore], dict[str, dict[str, AttributeScore]], list[ListingMiss]]:
    """Extract from title plus description (with the listing's currency) and score against the gold
    labels; returns rows, scores overall, scores per language, and every miss.

    A blank label means the listing does not say; such rows are left out of that attribute's score.
    """
    vocabulary = load_vocabulary()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = LISTING_COLUMNS - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} is not a seller-listings CSV: missing columns {sorted(missing)}")
        rows = [row for row in reader if split in (None, "all") or row["split"] == split]
    overall = {attribute: AttributeScore() for attribute in LISTING_ATTRIBUTES}
    by_language: dict[str, dict[str, AttributeScore]] = {}
    misses: list[ListingMiss] = []
    for row in rows:
        found, _ = extract_text(
            title=row["title"], description=row["description"], currency=row["currency"] or None, vocabulary=vocabulary
        )
        language = by_language.setdefault(row["language"], {a: AttributeScore() for a in LISTING_ATTRIBUTES})
        for attribute in LISTING_ATTRIBUTES:
            truth = row[attribute].strip()
            if not truth:
                continue
            got = found[attribute].value if attribute in found else None
            for score in (overall[attribute], language[attribute]):
                score.n += 1
                score.covered += got is not None
                score.correct += got == truth
            if got != truth:
                misses.append(ListingMiss(row["id"], attribute, truth, got, row["title"]))
                if got is not None:
                    overall[attribute].confusions[(truth, got)] += 1
    return len(rows), overall, by_language, misses
