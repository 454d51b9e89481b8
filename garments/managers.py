"""Reusable query pieces for garments, composed by selectors and services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from django.db import models
from django.db.models import F, Q

if TYPE_CHECKING:
    from .models import Garment  # noqa: F401

EmbeddingSpace = Literal["image", "text", "openai_text"]
EMBEDDING_SPACES: tuple[EmbeddingSpace, ...] = ("image", "text", "openai_text")
# Which content hash each space's vector is computed from.
SPACE_SOURCE_HASH_FIELD: dict[EmbeddingSpace, str] = {
    "image": "image_sha256",
    "text": "text_content_hash",
    "openai_text": "text_content_hash",
}


# Columns most reads never need: vectors are kilobytes each, the tsvector is only for search.
HEAVY_FIELDS = ("image_embedding_vec", "text_embedding_vec", "openai_text_embedding_vec", "search_vector")


class GarmentQuerySet(models.QuerySet["Garment"]):
    def without_vectors(self) -> GarmentQuerySet:
        return self.defer(*HEAVY_FIELDS)

    def available(self) -> GarmentQuerySet:
        return self.filter(status="available")

    def with_image(self) -> GarmentQuerySet:
        return self.exclude(image="")

    def needs_extraction(self, *, version: int | None = None) -> GarmentQuerySet:
        """Garments whose attributes were extracted from other content (or another vocabulary version)."""
        stale = Q(ontology_extracted_at__isnull=True) | ~Q(ontology_extracted_hash=F("ontology_input_hash"))
        if version is not None:
            stale |= ~Q(ontology_version=version)
        return self.filter(stale)

    def needs_embedding(self, space: EmbeddingSpace, *, model_id: str | None = None) -> GarmentQuerySet:
        """Garments whose `space` vector is missing or was computed from other content (or another model)."""
        if space not in SPACE_SOURCE_HASH_FIELD:
            raise ValueError(f"unknown embedding space {space!r}; expected one of {EMBEDDING_SPACES}")
        source = SPACE_SOURCE_HASH_FIELD[space]
        stale = Q(**{f"{space}_embedding_vec__isnull": True}) | ~Q(**{f"{space}_embedding_source_hash": F(source)})
        if model_id is not None:
            stale |= ~Q(**{f"{space}_embedding_model": model_id})
        queryset = self.filter(stale)
        return queryset.with_image() if space == "image" else queryset


GarmentManager = models.Manager.from_queryset(GarmentQuerySet)
