"""Reads of the garment catalogue."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Garment

# Columns the list endpoints never need: vectors are kilobytes each.
_HEAVY_FIELDS = ("image_embedding_vec", "text_embedding_vec", "openai_text_embedding_vec", "search_vector")


def garment_list() -> QuerySet[Garment]:
    return Garment.objects.defer(*_HEAVY_FIELDS)
