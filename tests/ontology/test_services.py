"""Extraction stored on garments: provenance, locks, stated values, photo colours, conflicts, staleness."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from garments.catalog_import import catalog_import
from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.metrics import ontology_extraction_confidence, ontology_extraction_failures_total
from ontology.services import extract_garments, ontology_version

pytestmark = pytest.mark.django_db


def _packshot(colour: tuple[int, int, int]) -> bytes:
    """A garment-shaped block of `colour` on a white backdrop, like a catalogue photo."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (120, 160), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((25, 20, 95, 140), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _extract(*garments: Garment, force: bool = False) -> None:
    extract_garments(garment_ids=[g.pk for g in garments], force=force)
    for garment in garments:
        garment.refresh_from_db()


def test_extraction_fills_attributes_with_confidence_and_source():
    garment = garment_create(sku="a", title="Puma Men Navy Blue Striped Cotton T-shirt")
    before = ontology_extraction_confidence.labels(attribute="subcategory")._sum.get()
    _extract(garment)
    assert garment.attributes() == {
        "brand": "puma", "gender": "men", "primary_color": "navy", "pattern": "striped", "material": "cotton",
        "subcategory": "t-shirt", "category": "tops",
    }  # fmt: skip
    assert set(garment.ontology_source.values()) == {"extracted"}
    assert all(0 < c <= 1 for c in garment.ontology_confidence.values())
    assert garment.ontology_version == ontology_version()
    assert garment.ontology_extracted_hash == garment.ontology_input_hash
    assert ontology_extraction_confidence.labels(attribute="subcategory")._sum.get() > before
    assert not Garment.objects.needs_extraction(version=ontology_version()).exists()


def test_locked_attributes_survive_re_extraction():
    garment = garment_create(sku="a", title="Red wool scarf", attribute_source="extracted")
    _extract(garment)
    garment_update(garment=garment, attributes={"primary_color": "burgundy"})  # staff edit: locked
    garment_update(garment=garment, listing={"title": "Green wool scarf"})
    _extract(garment, force=True)
    assert garment.primary_color == "burgundy"
    assert garment.ontology_source["primary_color"] == "staff"
    assert garment.material == "wool"


def test_stated_catalogue_values_are_kept_and_unsupported_extracted_ones_cleared(tmp_path):
    (tmp_path / "c.csv").write_text("sku,title,brand,size\ng-1,Red Tape leather boots,Red Tape,EU 42\n")
    catalog_import(path=tmp_path / "c.csv")
    garment = Garment.objects.get(sku="g-1")
    _extract(garment)
    assert garment.brand == "red tape" and garment.ontology_source["brand"] == "catalog"
    assert garment.size == "eu 42" and garment.ontology_source["size"] == "catalog"
    assert garment.material == "leather" and garment.primary_color == ""
    garment_update(garment=garment, listing={"title": "Red Tape suede boots"})
    _extract(garment)
    assert garment.material == "leather"  # "suede" is a kind of leather in the vocabulary
    garment_update(garment=garment, listing={"title": "Red Tape boots"})
    _extract(garment)
    assert garment.material == "" and "material" not in garment.ontology_source


def test_the_photo_fills_a_colour_the_words_leave_open():
    garment = garment_create(sku="p", title="Cotton scarf", image_content=_packshot((200, 25, 30)))
    _extract(garment)
    assert garment.primary_color == "red"
    assert garment.ontology_source["primary_color"] == "image"
    assert garment.ontology_confidence["primary_color"] < 0.9


def test_text_and_photo_disagreeing_keeps_the_words_and_flags_it():
    garment = garment_create(sku="p", title="Red cotton scarf", image_content=_packshot((30, 60, 200)))
    _extract(garment)
    assert garment.primary_color == "red" and garment.ontology_source["primary_color"] == "extracted"
    assert garment.ontology_conflicts == {"primary_color": {"text": "red", "image": "blue"}}


def test_fresh_garments_are_skipped_and_edits_make_them_stale():
    garment = garment_create(sku="a", title="Blue jeans")
    report = extract_garments(garment_ids=[garment.pk])
    assert (report.extracted, report.skipped) == (1, 0)
    assert extract_garments(garment_ids=[garment.pk]).skipped == 1
    garment.refresh_from_db()
    garment_update(garment=garment, listing={"price": "10"})
    assert not Garment.objects.needs_extraction().exists()  # price is not an extraction input
    garment_update(garment=garment, listing={"title": "Black jeans"})
    assert Garment.objects.needs_extraction().count() == 1


def test_extract_ontology_command(sample_dir, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", limit=60)
    out = io.StringIO()
    call_command("extract_ontology", "--dry-run", stdout=out)
    assert "60 garments to extract" in out.getvalue() and "dry run" in out.getvalue()
    call_command("extract_ontology", "--batch-size", "25", "--no-progress", stdout=out)
    assert "extracted 60" in out.getvalue()
    assert Garment.objects.exclude(subcategory="").count() > 45
    call_command("extract_ontology", "--no-progress", stdout=out)
    assert "all fresh" in out.getvalue()
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("extract_ontology", "--batch-size", "0")
    with pytest.raises(CommandError, match="needs a broker"):
        call_command("extract_ontology", "--async")


def test_evaluate_ontology_on_the_sample(sample_dir, tmp_path):
    import json

    out = io.StringIO()
    call_command("evaluate_ontology", "--csv", str(sample_dir / "styles.csv"), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["rows"] == 500 and result["garments_per_second"] > 1000
    assert set(result["attributes"]) == {"gender", "subcategory", "primary_color", "occasion", "season", "category"}
    assert result["attributes"]["gender"]["accuracy"] > 0.9
    assert result["worst_attribute"]["confusions"]
    (tmp_path / "bad.csv").write_text("sku,title\n1,x\n")
    with pytest.raises(CommandError, match="not a Myntra-format CSV"):
        call_command("evaluate_ontology", "--csv", str(tmp_path / "bad.csv"))


def test_saving_extracts_then_embeds_text_once(settings, django_capture_on_commit_callbacks):
    settings.ONTOLOGY_EXTRACT_ON_SAVE = True
    settings.EMBEDDINGS_ENQUEUE_ON_SAVE = True
    with django_capture_on_commit_callbacks(execute=True):
        garment = garment_create(sku="s", title="Levis blue denim jacket")
    garment.refresh_from_db()
    assert garment.brand == "levi's" and garment.subcategory == "jacket"
    # the text vector was computed once, from the document that includes the extracted attributes
    assert garment.text_embedding_source_hash == garment.text_content_hash
    assert not Garment.objects.needs_embedding("text").exists()


def test_admin_re_extract_action(client, staff_user, django_capture_on_commit_callbacks):
    garment = garment_create(sku="a", title="Grey wool coat")
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):  # the action queues a task after commit
        response = client.post(
            reverse("admin:garments_garment_changelist"),
            {"action": "reextract_attributes", "_selected_action": [garment.pk]},
            follow=True,
        )
    assert "Queued 1 garments for re-extraction" in response.content.decode()
    garment.refresh_from_db()
    assert garment.subcategory == "coat" and garment.material == "wool"
    body = client.get(reverse("admin:garments_garment_change", args=[garment.pk])).content.decode()
    assert '<option value="coat" selected>coat</option>' in body


def test_admin_unlock_action(client, staff_user, django_capture_on_commit_callbacks):
    garment = garment_create(sku="a", title="Scarf", attributes={"primary_color": "red"})
    assert garment.ontology_locked == ["primary_color"]
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:garments_garment_changelist"),
                    {"action": "unlock_attributes", "_selected_action": [garment.pk]})  # fmt: skip
    garment.refresh_from_db()
    assert garment.ontology_locked == []


def test_extraction_bumps_updated_at_so_since_backfills_and_clients_see_it():
    garment = garment_create(sku="a", title="Puma navy striped cotton t-shirt", attribute_source="extracted")
    before = Garment.objects.get(pk=garment.pk).updated_at
    extract_garments(garment_ids=[garment.pk])
    garment.refresh_from_db()
    assert garment.subcategory == "t-shirt"
    assert garment.updated_at > before
    assert Garment.objects.filter(updated_at__gt=before).filter(pk=garment.pk).exists()


def test_a_failing_inline_extraction_never_turns_the_committed_save_into_an_error(
    settings, django_capture_on_commit_callbacks
):
    # given extraction on save, inline (no broker), and a text model that cannot load (a bad setting)
    settings.ONTOLOGY_EXTRACT_ON_SAVE = True
    settings.ONTOLOGY_EMBEDDING_FALLBACK = True
    settings.EMBEDDINGS_TEXT_PRECISION = "no-such-precision"
    before = ontology_extraction_failures_total.labels(reason="embedding_fallback")._value.get()
    # when staff save a garment the words say little about (so the fallback is asked)
    with django_capture_on_commit_callbacks(execute=True):
        garment = garment_create(sku="s", title="Item 4711")
    # then the save stands; the garment stays pending with its error recorded and counted
    garment.refresh_from_db()
    assert Garment.objects.filter(pk=garment.pk).needs_extraction(version=ontology_version()).exists()
    assert "embedding fallback failed" in garment.embedding_errors["ontology"]["message"]
    assert ontology_extraction_failures_total.labels(reason="embedding_fallback")._value.get() == before + 1
    # and once the setting is fixed, extract_ontology picks it up
    settings.EMBEDDINGS_TEXT_PRECISION = "auto"
    call_command("extract_ontology", "--no-progress", stdout=io.StringIO())
    garment.refresh_from_db()
    assert not Garment.objects.needs_extraction(version=ontology_version()).exists()
    assert "ontology" not in garment.embedding_errors
