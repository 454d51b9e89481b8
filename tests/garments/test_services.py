"""Services keep derived state in step: hashes, provenance, locks, sold_at, photos."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from garments.images import InvalidImageError, check_image
from garments.models import Garment
from garments.services import (
    GarmentPreconditionFailed,
    GarmentValidationError,
    garment_create,
    garment_delete,
    garment_lock_attributes,
    garment_update,
    garment_version,
)
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db


def test_create_sets_hashes_provenance_and_stores_the_photo_by_content():
    # given a photo
    content = jpeg_bytes()
    # when
    garment = garment_create(
        sku=" sku-1 ",
        title="Red  wool scarf",
        price="$12.5",
        attributes={"primary_color": " Red "},
        attribute_source="catalog",
        image_content=content,
    )
    # then
    assert garment.sku == "sku-1"
    assert garment.title == "Red wool scarf"
    assert str(garment.price) == "12.50"
    assert garment.primary_color == "red"
    assert garment.ontology_source == {"primary_color": "catalog"}
    assert garment.ontology_confidence == {"primary_color": 1.0}
    assert len(garment.text_content_hash) == 64
    assert garment.image.name == f"garments/{garment.image_sha256[:2]}/{garment.image_sha256}.jpg"
    assert default_storage.open(garment.image.name).read() == check_image(content).content  # re-encoded by us


def test_two_garments_with_the_same_photo_share_one_file():
    content = jpeg_bytes()
    first = garment_create(sku="a", title="Scarf", image_content=content)
    second = garment_create(sku="b", title="Scarf", image_content=content)
    name = first.image.name or ""
    assert name == second.image.name
    folder, filename = name.rsplit("/", 1)
    _, files = default_storage.listdir(folder)
    assert files == [filename]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"price": "-3"}, "price"),
        ({"price": "ten"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"currency": "dollars"}, "currency"),
        ({"status": "gone"}, "status"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
    ],
)
def test_create_rejects_bad_listing_fields_by_name(fields, field):
    with pytest.raises(GarmentValidationError) as error:
        garment_create(**{"sku": "s", "title": "Coat", **fields})
    assert field in error.value.details
    assert not Garment.objects.exists()


def test_create_rejects_unknown_attributes_and_duplicate_skus():
    with pytest.raises(GarmentValidationError, match="Unknown attributes: flavour"):
        garment_create(sku="s", title="Coat", attributes={"flavour": "mint"})
    garment_create(sku="s", title="Coat")
    with pytest.raises(GarmentValidationError, match="exists"):
        garment_create(sku="s", title="Coat")


def test_create_rejects_a_broken_photo_and_writes_nothing():
    with pytest.raises(InvalidImageError):
        garment_create(sku="s", title="Coat", image_content=jpeg_bytes()[:200])
    assert not Garment.objects.exists()


def test_text_changes_move_the_content_hash_and_status_moves_sold_at(garment_factory):
    garment = garment_factory()
    before = garment.text_content_hash
    garment_update(garment=garment, listing={"status": "sold"})
    assert garment.sold_at is not None
    assert garment.text_content_hash == before  # status is not text
    garment_update(garment=garment, listing={"title": "Black denim jacket", "status": "available"})
    assert garment.sold_at is None
    assert garment.text_content_hash != before


def test_staff_edits_are_staff_sourced_and_locked(garment_factory):
    garment = garment_factory()
    assert garment.ontology_source["primary_color"] == "extracted"
    garment_update(garment=garment, attributes={"primary_color": "Navy"})
    garment.refresh_from_db()
    assert garment.primary_color == "navy"
    assert garment.ontology_source["primary_color"] == "staff"
    assert garment.ontology_confidence["primary_color"] == 1.0
    assert garment.ontology_locked == ["primary_color"]


def test_lock_and_unlock(garment_factory):
    garment = garment_factory()
    garment_lock_attributes(garment=garment, lock=["brand", "category"], unlock=[])
    garment_lock_attributes(garment=garment, lock=[], unlock=["brand"])
    garment.refresh_from_db()
    assert garment.ontology_locked == ["category"]
    with pytest.raises(GarmentValidationError):
        garment_lock_attributes(garment=garment, lock=["smell"], unlock=[])


def test_needs_embedding_follows_content_hashes(garment_factory):
    from django.utils import timezone

    garment = garment_factory(image_content=jpeg_bytes())
    assert set(Garment.objects.needs_embedding("text")) == {garment}
    Garment.objects.filter(pk=garment.pk).update(
        text_embedding_vec=[0.0] * 383 + [1.0],
        text_embedding_model="local",
        text_embedding_computed_at=timezone.now(),
        text_embedding_source_hash=garment.text_content_hash,
    )
    assert not Garment.objects.needs_embedding("text").exists()
    assert Garment.objects.needs_embedding("text", model_id="another-model").exists()
    assert Garment.objects.needs_embedding("image").count() == 1
    garment.refresh_from_db()
    garment_update(garment=garment, listing={"description": "Now with a torn pocket."})
    assert Garment.objects.needs_embedding("text").exists()
    with pytest.raises(ValueError, match="unknown embedding space"):
        Garment.objects.needs_embedding("audio")  # type: ignore[arg-type]


def test_an_update_from_a_stale_copy_keeps_what_others_saved_since(garment_factory):
    # given two copies of one garment, read before either edit (two staff, two requests)
    garment = garment_factory(title="Old title", price="1.00")
    first, second = Garment.objects.get(pk=garment.pk), Garment.objects.get(pk=garment.pk)
    # when each changes a different field
    garment_update(garment=first, listing={"title": "New title"})
    garment_update(garment=second, listing={"price": "9.50"})
    # then both changes stand, and the second copy shows the first's change too
    garment.refresh_from_db()
    assert (garment.title, str(garment.price)) == ("New title", "9.50")
    assert second.title == "New title"


def test_a_stale_expected_version_is_refused_and_changes_nothing(garment_factory):
    garment = garment_factory(title="Old title")
    version = garment_version(garment)
    garment_update(garment=garment, listing={"title": "Edited"})
    with pytest.raises(GarmentPreconditionFailed):
        garment_update(garment=garment, listing={"title": "Lost"}, expected_version=version)
    with pytest.raises(GarmentPreconditionFailed):
        garment_delete(garment_id=garment.pk, expected_version=version)
    garment.refresh_from_db()
    assert garment.title == "Edited"
    garment_delete(garment_id=garment.pk, expected_version=garment_version(garment))
    assert not Garment.objects.filter(pk=garment.pk).exists()


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"category": "Spaceship!!"}, "category"),
        ({"primary_color": "ultraviolet"}, "primary_color"),
        ({"condition": "x" * 65}, "condition"),
        ({"brand": "b" * 65}, "brand"),
        ({"size": "m" + " l" * 40}, "size"),
        ({"brand": "acne\x00"}, "brand"),
    ],
)
def test_attribute_values_outside_the_vocabulary_or_too_long_are_refused_by_name(garment_factory, attributes, named):
    garment = garment_factory()
    with pytest.raises(GarmentValidationError) as error:
        garment_update(garment=garment, attributes=attributes)
    assert named in error.value.details
    with pytest.raises(GarmentValidationError):
        garment_create(sku="new", title="Coat", attributes=attributes)
    garment.refresh_from_db()
    assert garment.attributes() == {"category": "outerwear", "primary_color": "blue"}
    assert not Garment.objects.filter(sku="new").exists()


def test_synonyms_map_to_canonical_values_and_brand_and_size_are_open():
    garment = garment_create(
        sku="s",
        title="Coat",
        attributes={
            "primary_color": "Navy Blue",
            "subcategory": "Tee",
            "brand": "Levi Strauss",
            "size": "EU 38",
            "era": "",
            "material": None,
        },
    )
    assert garment.attributes() == {
        "primary_color": "navy",
        "subcategory": "t-shirt",
        "brand": "levi's",
        "size": "eu 38",
    }
    # a size read only in part is kept as written, not cut to that part ("32/34" is not uk 32)
    garment_update(garment=garment, attributes={"brand": "Some Tiny Label", "size": "32/34"})
    assert (garment.brand, garment.size) == ("some tiny label", "32/34")


@pytest.mark.parametrize("price", ["1e999999", "Infinity", "-Infinity", "sNaN", "1000000000000", "-1"])
def test_absurd_prices_are_refused_by_name(price):
    with pytest.raises(GarmentValidationError) as error:
        garment_create(sku="s", title="Coat", price=price)
    assert "price" in error.value.details
