"""Every rule that must always hold is enforced by PostgreSQL itself, whatever code writes the row."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from garments.models import Garment


def _garment(**overrides: Any) -> Garment:
    fields: dict[str, Any] = {"sku": "c-1", "title": "Wool coat", "price": "10.00"}
    fields.update(overrides)
    return Garment(**fields)


def _rejected(garment: Garment, constraint: str) -> None:
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        garment.save()
    assert constraint in str(error.value)


pytestmark = pytest.mark.django_db


def test_a_plain_garment_is_accepted():
    _garment().save()
    assert Garment.objects.filter(sku="c-1").exists()


def test_sku_is_unique():
    _garment().save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _garment(title="Another").save()


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"price": "-0.01"}, "garment_price_non_negative"),
        ({"currency": "usd"}, "garment_currency_iso4217"),
        ({"currency": "US"}, "garment_currency_iso4217"),
        ({"status": "lost"}, "garment_status_valid"),
        ({"status": "sold"}, "garment_sold_at_iff_sold"),
        ({"status": "available", "sold_at": timezone.now()}, "garment_sold_at_iff_sold"),
        ({"sku": "  "}, "garment_sku_not_blank"),
        ({"title": ""}, "garment_title_not_blank"),
        ({"image_sha256": "XYZ"}, "garment_image_sha256_hex"),
        ({"image": "garments/aa/a.jpg"}, "garment_image_has_sha256"),
        ({"ontology_confidence": []}, "garment_confidence_is_object"),
        ({"ontology_confidence": {"colour": 0.5}}, "garment_confidence_valid"),
        ({"ontology_confidence": {"category": 1.5}}, "garment_confidence_valid"),
        ({"ontology_confidence": {"category": -0.1}}, "garment_confidence_valid"),
        ({"ontology_confidence": {"category": "high"}}, "garment_confidence_valid"),
        ({"ontology_source": "staff"}, "garment_source_is_object"),
        ({"ontology_source": {"category": "guess"}}, "garment_source_valid"),
        ({"ontology_source": {"flavour": "staff"}}, "garment_source_valid"),
        ({"ontology_locked": ["category", "smell"]}, "garment_locked_are_attributes"),
        ({"source_attributes": ["Men"]}, "garment_source_attributes_is_object"),
        ({"primary_color": "Blue"}, "garment_primary_color_canonical"),
        ({"brand": " levis"}, "garment_brand_canonical"),
        ({"text_embedding_vec": [0.1] * 384}, "garment_text_embedding_complete"),
    ],
)
def test_invalid_rows_are_refused_by_the_database(overrides, constraint):
    _rejected(_garment(**overrides), constraint)


def test_valid_provenance_and_sold_state_are_accepted():
    garment = _garment(
        status="sold",
        sold_at=timezone.now(),
        primary_color="navy",
        ontology_confidence={"primary_color": 0.93, "category": 1},
        ontology_source={"primary_color": "extracted", "category": "staff"},
        ontology_locked=["category"],
        text_embedding_vec=[0.1] * 384,
        text_embedding_model="all-MiniLM-L6-v2",
        text_embedding_computed_at=timezone.now(),
    )
    garment.save()
    garment.refresh_from_db()
    assert garment.ontology_confidence == {"primary_color": 0.93, "category": 1}
    assert garment.text_embedding_vec is not None
    assert len(garment.text_embedding_vec) == 384


def test_vector_dimensions_are_enforced():
    garment = _garment(
        text_embedding_vec=[0.1] * 512, text_embedding_model="m", text_embedding_computed_at=timezone.now()
    )
    with pytest.raises(Exception, match="expected 384 dimensions"), transaction.atomic():
        garment.save()


def test_search_vector_is_maintained_by_the_database():
    garment = _garment(title="Faded Levis trucker jacket", brand="levis", description="Cotton denim")
    garment.save()
    found = Garment.objects.filter(search_vector="trucker").values_list("sku", flat=True)
    assert list(found) == ["c-1"]
    Garment.objects.filter(pk=garment.pk).update(title="Wool overcoat")
    assert not Garment.objects.filter(search_vector="trucker").exists()
    assert Garment.objects.filter(search_vector="overcoats").exists()  # stemmed
