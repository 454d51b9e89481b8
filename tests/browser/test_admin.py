"""Staff in a browser: sign in, lock an attribute, re-extract, and the lock holds; the search playground
explains a hit. Every page works with the network blocked and without a CSP error."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse

from garments.models import Garment
from ontology.services import STATED_SOURCES
from tests.browser.photos import decoded_images


def _garment_to_correct(ids: list[int]) -> Garment:
    """A garment whose colour and subcategory extraction set (not a seller's word, not a shirt yet): a new
    title saying "Red cotton shirt" would make extraction change both."""
    for garment in Garment.objects.filter(pk__in=ids).exclude(primary_color__in=["", "red"]).order_by("pk"):
        sources = garment.ontology_source
        if (
            sources.get("primary_color") not in STATED_SOURCES
            and sources.get("subcategory") not in STATED_SOURCES
            and garment.subcategory != "shirt"
        ):
            return garment
    raise AssertionError("the browser catalogue has no garment with an extracted colour to correct")


def test_staff_signs_in_locks_an_attribute_reextracts_and_the_lock_holds(
    page: Any, site: Any, blocked_requests: list[str], console_errors: list[str]
):
    garment = _garment_to_correct(site.garment_ids)
    colour = garment.primary_color
    # given: staff signed in through the login form
    page.goto(f"/admin/login/?next={reverse('admin:garments_garment_change', args=[garment.pk])}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", site.password)
    page.click("input[type=submit]")
    page.locator("#id_lock_primary_color").wait_for()
    # the colour is a vocabulary select, with the stored value's confidence and source beside it
    assert page.locator("select#id_primary_color").input_value() == colour
    provenance = page.locator(".field-primary_color .garment-provenance").inner_text()
    assert f"source {garment.ontology_source['primary_color']}" in provenance
    # when: they lock the colour and retitle the garment in words that name another colour
    page.check("#id_lock_primary_color")
    page.fill("#id_title", "Red cotton shirt")
    page.fill("#id_description", "")
    page.click("input[name=_save]")
    page.locator(".messagelist .success").wait_for()
    garment.refresh_from_db()
    assert garment.ontology_locked == ["primary_color"]
    # and re-extract it from the change list
    page.goto(f"{reverse('admin:garments_garment_changelist')}?q={garment.sku}")
    page.check(f"input[name=_selected_action][value='{garment.pk}']")
    page.select_option("select[name=action]", "reextract_attributes")
    page.click("button[name=index]")
    message = page.locator(".messagelist .success").inner_text()
    # then: extraction ran (the subcategory follows the new title) and the locked colour held
    assert "Queued 1 garments for re-extraction" in message
    garment.refresh_from_db()
    assert garment.subcategory == "shirt"
    assert garment.primary_color == colour
    page.goto(reverse("admin:garments_garment_change", args=[garment.pk]))
    assert page.locator("#id_lock_primary_color").is_checked()
    assert blocked_requests == []
    assert console_errors == []


def test_the_playground_explains_a_hit(admin_page: Any, site: Any, blocked_requests: list[str], console_errors):
    page = admin_page
    page.goto(reverse("admin:garments_garment_changelist"))
    page.click("text=Search playground")
    page.fill("#id_q", "blue shirt")
    page.click("#playground-form input[type=submit]")
    first = page.locator("tr.playground-hit").first
    first.wait_for()
    # the top hit: which signals found it at which rank, what each added to its score, and the boost of the
    # soft terms it matched; together they are its score
    row = first.inner_text()
    assert re.search(r"rank \d+", row)
    score = float(first.locator("td.garment-number strong").inner_text())
    parts = [float(part) for part in re.findall(r"\+(\d\.\d{5})", row)]
    assert len(parts) >= 2
    assert abs(sum(parts) - score) < 1e-4
    assert page.locator("#playground-planner").inner_text().count("\n") >= 1
    timings = page.locator("#playground-timings").inner_text()
    assert "total_ms" in timings
    # its photo is the storefront's resized copy, served by this site
    photo = first.locator("img.garment-thumb")  # every garment of the test catalogue has a photo
    assert "/photos/" in (photo.get_attribute("src") or "")
    assert decoded_images(photo) == 1
    # the hit's title links to its change page
    first.locator("a").first.click()
    page.locator("#id_lock_category").wait_for()
    assert blocked_requests == []
    assert console_errors == []
