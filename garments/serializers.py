"""API representations of garments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from django.http import HttpRequest
from django.utils import timezone
from rest_framework import serializers

from .attributes import ATTRIBUTE_NAMES, attribute_evidence
from .models import Garment


class AttributeOut(TypedDict):
    value: str
    confidence: float | None
    source: str | None
    locked: bool
    evidence: str | None  # why extraction chose the value ("fair: 'small stain on cuff'"); None for staff values


def _datetime(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in the current time zone, 'Z' for UTC."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def garment_payload(garment: Garment, request: HttpRequest | None = None) -> dict[str, Any]:
    """GarmentSerializer's output, built directly: a page of 20 search hits through the generic
    ModelSerializer machinery cost ~8 ms of a 25 ms request (docs/performance.md). A test holds the
    two identical."""
    return {
        "id": garment.pk,
        "sku": garment.sku,
        "title": garment.title,
        "description": garment.description,
        "price": None if garment.price is None else f"{garment.price:.2f}",
        "currency": garment.currency,
        "status": garment.status,
        "sold_at": _datetime(garment.sold_at),
        "image_url": _image_url(garment, request),
        "attributes": _attributes(garment),
        "created_at": _datetime(garment.created_at),
        "updated_at": _datetime(garment.updated_at),
    }


def _image_url(garment: Garment, request: HttpRequest | None) -> str | None:
    if not garment.image:
        return None
    url = garment.image.url
    return request.build_absolute_uri(url) if request is not None else url


def _attributes(garment: Garment) -> dict[str, AttributeOut]:
    confidence, source, locked = garment.ontology_confidence, garment.ontology_source, garment.ontology_locked
    return {
        name: {
            "value": value,
            "confidence": confidence.get(name),
            "source": source.get(name),
            "locked": name in locked,
            "evidence": attribute_evidence(garment, name),
        }
        for name in ATTRIBUTE_NAMES
        if (value := getattr(garment, name))
    }


class GarmentSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    attributes = serializers.SerializerMethodField()

    class Meta:
        model = Garment
        fields = (
            "id",
            "sku",
            "title",
            "description",
            "price",
            "currency",
            "status",
            "sold_at",
            "image_url",
            "attributes",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_image_url(self, garment: Garment) -> str | None:
        return _image_url(garment, self.context.get("request"))

    def get_attributes(self, garment: Garment) -> dict[str, AttributeOut]:
        """Each known attribute with its value, confidence, source, lock and evidence."""
        return _attributes(garment)
