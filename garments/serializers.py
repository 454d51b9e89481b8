"""API representations of garments."""

from __future__ import annotations

from typing import TypedDict

from rest_framework import serializers

from .attributes import ATTRIBUTE_NAMES
from .models import Garment


class AttributeOut(TypedDict):
    value: str
    confidence: float | None
    source: str | None
    locked: bool


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
        if not garment.image:
            return None
        request = self.context.get("request")
        url = garment.image.url
        return request.build_absolute_uri(url) if request else url

    def get_attributes(self, garment: Garment) -> dict[str, AttributeOut]:
        """Each known attribute with its value, confidence and source."""
        return {
            name: {
                "value": value,
                "confidence": garment.ontology_confidence.get(name),
                "source": garment.ontology_source.get(name),
                "locked": name in garment.ontology_locked,
            }
            for name in ATTRIBUTE_NAMES
            if (value := getattr(garment, name))
        }
