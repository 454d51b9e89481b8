"""The 16 ontology attributes a garment carries, and where each value came from.

The list is the contract between the ontology (which fills them), search (which filters and
facets on them) and the admin (where staff correct them). Change it only with a migration and a
reason written here.
"""

from __future__ import annotations

from typing import Any

from django.db import models

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "category",
    "subcategory",
    "gender",
    "primary_color",
    "secondary_color",
    "pattern",
    "material",
    "style",
    "fit",
    "season",
    "occasion",
    "brand",
    "size",
    "condition",
    "era",
    "sleeve_length",
)

# Canonical values are short lowercase strings ("t-shirt", "navy", "new_with_tags").
ATTRIBUTE_MAX_LENGTH = 64


class AttributeSource(models.TextChoices):
    EXTRACTED = "extracted", "Extracted from text"
    IMAGE = "image", "Read from the photo"
    LLM = "llm", "Language model"
    STAFF = "staff", "Set by staff"
    # Not in the original list: a value the seller's catalogue feed states outright (a generic CSV
    # column). It is neither extracted nor staff-made, and evaluation must be able to tell it apart.
    CATALOG = "catalog", "Stated by the catalogue import"


def normalise_attribute_value(value: object) -> str:
    """Lowercase, trimmed, single-spaced: the storage form of a value before the vocabulary maps it."""
    return " ".join(str(value).split()).lower()[:ATTRIBUTE_MAX_LENGTH]


# Sources whose values an extractor chose, with the words that made it choose them (Garment.ontology_evidence).
EVIDENCED_SOURCES = frozenset({AttributeSource.EXTRACTED, AttributeSource.IMAGE, AttributeSource.LLM})


def attribute_evidence(garment: Any, name: str) -> str | None:
    """Why extraction set this attribute ("fair: 'small stain on cuff'"), or None.

    Only while the value is still the extracted one: a staff or catalogue value replaces it, and the old
    evidence (kept until the next extraction) no longer explains what is stored."""
    if garment.ontology_source.get(name) not in EVIDENCED_SOURCES:
        return None
    evidence: str | None = (garment.ontology_evidence or {}).get(name) or None
    return evidence
