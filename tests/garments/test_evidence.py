"""The evidence behind an extracted grade ("fair: 'small stain on cuff'") reaches every place a person reads the
attribute: the garment API, a search hit, the search page's "why this result", and the admin beside the value.
A staff value carries none."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from garments.models import Garment
from garments.serializers import GarmentSerializer, garment_payload
from garments.services import garment_create, garment_update
from ontology.services import extract_garments

pytestmark = pytest.mark.django_db
STAIN = "fair: 'small stain on cuff'"


@pytest.fixture
def stained() -> Garment:
    garment = garment_create(sku="stain-1", title="Levi's denim jacket", currency="USD",
                             description="Great condition, small stain on cuff. No holes.")  # fmt: skip
    extract_garments(garment_ids=[garment.pk])
    garment.refresh_from_db()
    assert garment.condition == "fair" and garment.ontology_evidence["condition"] == STAIN
    return garment


def test_the_api_gives_each_extracted_attribute_its_evidence(stained, staff_user):
    payload = garment_payload(stained)
    assert payload["attributes"]["condition"]["evidence"] == STAIN
    assert payload == GarmentSerializer(stained).data  # the fast path and the serializer stay one shape
    client = APIClient()
    client.force_authenticate(staff_user)
    body = client.get(reverse("garment-detail", args=[stained.pk])).json()
    assert body["attributes"]["condition"]["evidence"] == STAIN


def test_a_staff_value_carries_no_evidence(stained):
    garment_update(garment=stained, attributes={"condition": "good"})
    stained.refresh_from_db()
    assert stained.ontology_evidence.get("condition") == STAIN  # kept until the next extraction ...
    assert garment_payload(stained)["attributes"]["condition"]["evidence"] is None  # ... but never shown


def test_a_search_hit_and_the_page_explain_the_grade(stained, client, settings):
    settings.SEARCH_ALLOW_ANONYMOUS = True
    body = client.get(reverse("search"), {"q": "denim jacket", "explain": "true"}).json()
    hit = next(h for h in body["results"] if h["garment"]["id"] == stained.pk)
    assert hit["garment"]["attributes"]["condition"]["evidence"] == STAIN
    page = client.get("/", {"q": "denim jacket"}).content.decode()
    assert "Read from the listing:" in page and "small stain on cuff" in page


def test_the_admin_shows_the_evidence_beside_the_value(stained, client, staff_user):
    client.force_login(staff_user)
    body = client.get(reverse("admin:garments_garment_change", args=[stained.pk])).content.decode()
    assert '<q class="garment-evidence">fair: &#x27;small stain on cuff&#x27;</q>' in body
