"""Reads of the garment catalogue."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Garment


def garment_list() -> QuerySet[Garment]:
    return Garment.objects.without_vectors()
