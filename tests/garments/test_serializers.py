"""The direct garment representation used for search hits is exactly what GarmentSerializer writes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory

from garments.serializers import GarmentSerializer, garment_payload
from garments.services import garment_update
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db


def test_garment_payload_matches_the_model_serializer(garment_factory):
    request = APIRequestFactory().get("/api/v1/search/", HTTP_HOST="localhost")
    garments = [
        garment_factory(title="Red wool scarf", image_content=jpeg_bytes(), price="12.5"),
        garment_factory(title="Plain tee", price="", attributes={}),
        garment_factory(title="Levi's 501 jeans", attributes={"brand": "levi's", "size": "w32", "condition": "good"}),
    ]
    garment_update(garment=garments[2], listing={"status": "sold"}, attributes={"primary_color": "blue"})
    for garment in garments:
        garment.refresh_from_db()
        for context_request in (request, None):
            expected = GarmentSerializer(garment, context={"request": context_request}).data
            assert garment_payload(garment, context_request) == expected
    assert garment_payload(garments[0], request)["image_url"].startswith("http://localhost/media/garments/")
    assert garment_payload(garments[2])["sold_at"].endswith("Z")
