"""The admin as staff use it: list, filter, search, the grouped change page, vocabulary fields with their
provenance, lock toggles, edits that lock."""

from __future__ import annotations

import re
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

import garments.admin as garment_admin
from embeddings.services import embed_garments
from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.services import extract_garments
from ontology.vocabulary import load_vocabulary
from tests.factories import StaffFactory, jpeg_bytes

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:garments_garment_changelist")


def _change_url(garment: Garment) -> str:
    return reverse("admin:garments_garment_change", args=[garment.pk])


def _form_data(garment: Garment, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": garment.title,
        "description": garment.description,
        "price": garment.price,
        "currency": garment.currency,
        "status": garment.status,
        "photos-TOTAL_FORMS": "0",
        "photos-INITIAL_FORMS": "0",
        "photos-MIN_NUM_FORMS": "0",
        "photos-MAX_NUM_FORMS": "1000",
    }
    data.update(dict(garment.attributes().items()))
    data.update({f"lock_{name}": "on" for name in garment.ontology_locked})
    data.update(overrides)
    return data


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_changelist_shows_thumbnails_prices_and_attributes(staff_client, garment_factory):
    garment_factory(title="Blue denim jacket", price="40", image_content=jpeg_bytes())
    response = staff_client.get(CHANGELIST)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Blue denim jacket" in body
    assert "40.00 USD" in body
    assert "outerwear" in body
    assert '<img src="/media/garments/' in body


def test_changelist_filters_and_searches(staff_client, garment_factory):
    garment_factory(title="Red wool scarf", attributes={"primary_color": "red", "brand": "acne"})
    garment_factory(title="Green linen shirt", attributes={"primary_color": "green"}, sku="find-me-77")
    by_filter = staff_client.get(CHANGELIST, {"primary_color": "red"}).content.decode()
    assert "Red wool scarf" in by_filter
    assert "Green linen shirt" not in by_filter
    by_brand = staff_client.get(CHANGELIST, {"q": "acne"}).content.decode()
    assert "Red wool scarf" in by_brand
    assert "Green linen shirt" not in by_brand
    by_sku = staff_client.get(CHANGELIST, {"q": "find-me-77"}).content.decode()
    assert "Green linen shirt" in by_sku
    assert "Red wool scarf" not in by_sku


def test_change_page_groups_listing_photos_ontology_embeddings(staff_client, garment_factory):
    garment = garment_factory(image_content=jpeg_bytes())
    body = staff_client.get(_change_url(garment)).content.decode()
    for heading in ("Listing", "Photos", "Ontology", "Embeddings", "Similar garments"):
        assert f">{heading}</h2>" in body or f">{heading}</summary>" in body or heading in body
    assert '<span class="garment-state garment-state-missing">missing</span>' in body  # no vectors computed yet
    assert "has no vectors yet" in body  # the similar-garments panel says why it is empty


def test_change_page_says_where_extraction_and_each_vector_stand(staff_client, garment_factory):
    garment = garment_factory()
    extract_garments(garment_ids=[garment.pk])
    embed_garments(garment_ids=[garment.pk], space="text")
    body = staff_client.get(_change_url(garment)).content.decode()
    assert '<span class="garment-state garment-state-fresh">up to date</span> <small>last run ' in body
    assert '<tr><th>text</th><td><span class="garment-state garment-state-fresh">fresh</span>' in body
    assert '<tr><th>openai text</th><td><span class="garment-state garment-state-unconfigured">not configured' in body
    # a failure the services recorded is shown with its message (here written as they write it)
    garment.refresh_from_db()
    errors = {
        "text": {"message": "the provider refused the input", "source_hash": garment.text_content_hash, "at": "t1"},
        "ontology": {"message": "the language model is down", "source_hash": "", "at": "t2"},
    }
    Garment.objects.filter(pk=garment.pk).update(embedding_errors=errors)
    body = staff_client.get(_change_url(garment)).content.decode()
    assert re.search(r'<tr><th>text</th><td><span class="garment-state garment-state-failed">failed</span>.*?'
                     r"the provider refused the input \(t1\)", body, re.S)  # fmt: skip
    assert '<span class="garment-state garment-state-failed">failed</span> the language model is down' in body


def _select(body: str, name: str) -> str:
    found = re.search(rf'<select name="{name}".*?</select>(.*?)</div>', body, re.S)
    assert found, f"no select for {name}"
    return found.group(0)


def test_attributes_are_vocabulary_selects_with_confidence_and_source_beside_them(staff_client, garment_factory):
    garment = garment_factory(attributes={"category": "outerwear", "subcategory": "jacket", "primary_color": "blue"})
    body = staff_client.get(_change_url(garment)).content.decode()
    vocabulary = load_vocabulary()
    category = _select(body, "category")
    assert '<option value="outerwear" selected>' in category
    for value in vocabulary.values["category"]:  # every canonical value is a choice, and nothing else is
        assert f'<option value="{value}"' in category
    assert len(re.findall(r'<option value="[^"]+"', category)) == len(vocabulary.values["category"])
    assert "confidence <strong>1.00</strong>, source <strong>extracted</strong>" in category
    subcategory = _select(body, "subcategory")
    assert '<optgroup label="outerwear">' in subcategory  # grouped by their category
    # an attribute with no value has no provenance to show
    assert "confidence" not in _select(body, "material")


def test_brand_and_size_stay_free_text_with_known_values_offered(staff_client, garment_factory):
    garment = garment_factory(attributes={"brand": "Some Tiny Label", "size": "M"})
    body = staff_client.get(_change_url(garment)).content.decode()
    brand = re.search(r'<input type="text" name="brand"[^>]*>', body)
    assert brand and 'list="id_brand_known"' in brand.group(0) and 'value="some tiny label"' in brand.group(0)
    datalist = re.search(r'<datalist id="id_brand_known">(.*?)</datalist>', body, re.S)
    assert datalist
    assert '<option value="adidas"></option>' in datalist.group(1)  # the vocabulary's brands
    assert '<option value="some tiny label"></option>' in datalist.group(1)  # and the catalogue's own
    assert re.search(r'<datalist id="id_size_known">.*<option value="one size"></option>', body, re.S)


def test_a_lock_checkbox_locks_and_unticking_it_unlocks(staff_client, garment_factory):
    garment = garment_factory()
    body = staff_client.get(_change_url(garment)).content.decode()
    assert '<input type="checkbox" name="lock_category" id="id_lock_category">' in body
    response = staff_client.post(_change_url(garment), _form_data(garment, lock_category="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert garment.ontology_locked == ["category"]
    assert garment.ontology_source["category"] == "extracted"  # locking keeps the value and its provenance
    body = staff_client.get(_change_url(garment)).content.decode()
    assert '<input type="checkbox" name="lock_category" id="id_lock_category" checked>' in body
    data = _form_data(garment)
    del data["lock_category"]
    response = staff_client.post(_change_url(garment), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert garment.ontology_locked == []


def test_a_value_a_newer_vocabulary_dropped_does_not_block_saving_other_fields(staff_client, garment_factory):
    garment = garment_factory()
    # given a value stored under an older vocabulary (the current one refuses it, so no service writes it)
    Garment.objects.filter(pk=garment.pk).update(material="moonfibre")
    garment.refresh_from_db()
    body = staff_client.get(_change_url(garment)).content.decode()
    assert '<option value="moonfibre" selected>moonfibre (not in the vocabulary)</option>' in body
    response = staff_client.post(_change_url(garment), _form_data(garment, title="Retitled"))
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert (garment.title, garment.material) == ("Retitled", "moonfibre")


def test_editing_an_attribute_makes_it_staff_sourced_and_locked(staff_client, garment_factory):
    garment = garment_factory()
    response = staff_client.post(_change_url(garment), _form_data(garment, primary_color="Navy "))
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert garment.primary_color == "navy"
    assert garment.ontology_source["primary_color"] == "staff"
    assert garment.ontology_locked == ["primary_color"]
    assert garment.ontology_source["category"] == "extracted"  # untouched attributes keep their provenance


def test_uploading_a_photo_stores_it_by_hash_and_a_broken_one_is_refused(staff_client, garment_factory):
    garment = garment_factory()
    broken = SimpleUploadedFile("b.jpg", jpeg_bytes()[:100], content_type="image/jpeg")
    response = staff_client.post(_change_url(garment), _form_data(garment, image=broken))
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    good = SimpleUploadedFile("g.jpg", jpeg_bytes(), content_type="image/jpeg")
    response = staff_client.post(_change_url(garment), _form_data(garment, image=good))
    assert response.status_code == 302
    garment.refresh_from_db()
    assert garment.image.name == f"garments/{garment.image_sha256[:2]}/{garment.image_sha256}.jpg"


def test_staff_can_add_a_garment(staff_client):
    data = {
        "sku": "new-1", "title": "Tweed blazer", "description": "", "price": "60", "currency": "GBP",
        "status": "available", "brand": "Harris Tweed",
        "photos-TOTAL_FORMS": "0", "photos-INITIAL_FORMS": "0", "photos-MIN_NUM_FORMS": "0",
        "photos-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = staff_client.post(reverse("admin:garments_garment_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    garment = Garment.objects.get(sku="new-1")
    assert garment.brand == "harris tweed"
    assert garment.ontology_locked == ["brand"]
    assert len(garment.text_content_hash) == 64


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("category", "Spaceship!!", "is not a known category"),
        ("primary_color", "ultraviolet", "is not a known primary_color"),
        ("condition", "<script>", "is not a known condition"),
        ("brand", "b" * 65, "at most 64 characters"),
    ],
)
def test_attribute_values_outside_the_vocabulary_are_form_errors(staff_client, garment_factory, field, value, message):
    garment = garment_factory()
    response = staff_client.post(_change_url(garment), _form_data(garment, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    garment.refresh_from_db()
    assert garment.attributes() == {"category": "outerwear", "primary_color": "blue"}


def test_a_synonym_is_stored_as_its_canonical_value(staff_client, garment_factory):
    garment = garment_factory()
    response = staff_client.post(_change_url(garment), _form_data(garment, category="Coats and Jackets",
                                                                  primary_color="Navy Blue"))  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert (garment.category, garment.primary_color) == ("outerwear", "navy")


def test_an_edit_of_the_locks_replaces_them_and_keeps_the_rest(staff_client, garment_factory):
    # given a garment another writer changed (price, and a staff brand, which locked brand)
    garment = garment_factory(price="40.00")
    data = _form_data(garment, title="Retitled", lock_category="on")
    garment_update(garment=garment, listing={"price": "35.00"}, attributes={"brand": "zara"})
    data["price"], data["brand"] = "35.00", "zara"  # the form as it shows the stored garment
    # when staff change the title and set the locks to category alone
    response = staff_client.post(_change_url(garment), data)
    # then the edit and the other writer's changes stand, and the locks are what the form said
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert (garment.title, str(garment.price), garment.brand) == ("Retitled", "35.00", "zara")
    assert garment.ontology_locked == ["category"]


def _opened_version(staff_client, garment: Garment) -> str:
    """The version the change form carries in its hidden field when staff open it."""
    page = staff_client.get(_change_url(garment)).content.decode()
    found = re.search(r'name="version" value="([^"]+)"', page)
    assert found, "the change form has no version field"
    return found.group(1)


def test_saving_a_form_opened_before_someone_elses_save_is_refused_and_changes_nothing(staff_client, garment_factory):
    garment = garment_factory(title="Wool coat")
    version = _opened_version(staff_client, garment)
    # someone else saves the same field while the form is open
    garment_update(garment=Garment.objects.get(pk=garment.pk), listing={"title": "Wool coat, mended"})
    response = staff_client.post(
        _change_url(garment), _form_data(garment, title="Wool coat, dry-cleaned", version=version)
    )
    assert response.status_code == 200
    assert "Someone saved this garment after you opened it" in response.content.decode()
    garment.refresh_from_db()
    assert garment.title == "Wool coat, mended"  # their change stands; ours was not applied over it


def test_saving_a_form_opened_on_the_current_version_works(staff_client, garment_factory):
    garment = garment_factory(title="Wool coat")
    version = _opened_version(staff_client, garment)
    response = staff_client.post(_change_url(garment), _form_data(garment, title="Wool coat, new", version=version))
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert garment.title == "Wool coat, new"


@pytest.mark.django_db(transaction=True)
def test_an_add_that_loses_a_sku_race_after_validation_is_a_message_not_a_500(client, monkeypatch):
    """Another writer, on its own connection, commits the sku between the form's uniqueness check and
    the insert: the admin says so and changes nothing; the other writer's garment stands."""
    client.force_login(StaffFactory(username="racer"))
    real_update = garment_admin.garment_update

    def other_writer() -> None:
        try:
            garment_create(sku="race-1", title="The other writer's garment")
        finally:
            connection.close()

    def racing_update(**kwargs):
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join()
        return real_update(**kwargs)

    monkeypatch.setattr(garment_admin, "garment_update", racing_update)
    data = {
        "sku": "race-1", "title": "Tweed blazer", "description": "", "price": "60", "currency": "GBP",
        "status": "available", "photos-TOTAL_FORMS": "0", "photos-INITIAL_FORMS": "0",
        "photos-MIN_NUM_FORMS": "0", "photos-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = client.post(reverse("admin:garments_garment_add"), data, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "race-1" in page and "exists" in page, page[:3000]
    assert [g.title for g in Garment.objects.filter(sku="race-1")] == ["The other writer's garment"]


def test_unticking_a_lock_while_editing_its_value_leaves_it_unlocked(staff_client, garment_factory):
    # given a colour staff set (and so locked)
    garment = garment_factory()
    garment_update(garment=garment, attributes={"primary_color": "red"})
    garment.refresh_from_db()
    assert garment.ontology_locked == ["primary_color"]
    # when staff change it and untick its lock in the same save
    data = _form_data(garment, primary_color="green")
    del data["lock_primary_color"]
    response = staff_client.post(_change_url(garment), data)
    # then the new value is theirs, and the box they cleared wins: extraction may update it again
    assert response.status_code == 302, response.content.decode()[:2000]
    garment.refresh_from_db()
    assert (garment.primary_color, garment.ontology_source["primary_color"]) == ("green", "staff")
    assert garment.ontology_locked == []
