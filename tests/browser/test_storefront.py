"""The search page in a real browser: photos load, chips and pages work, a photo upload searches,
and nothing is fetched from another host (no CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.photos import decoded_images

PHOTO = Path(__file__).resolve().parents[2] / "data" / "sample" / "images" / "10005.jpg"


def card_ids(page: Any) -> list[str]:
    return page.locator("li.card").evaluate_all("cards => cards.map(card => card.id)")


def loaded_photos(page: Any) -> int:
    """How many card photos the browser decoded (a broken or blocked image has naturalWidth 0)."""
    return decoded_images(page.locator("li.card img"))


def search(page: Any, text: str) -> None:
    page.goto("/")
    page.get_by_label("Search garments").fill(text)
    page.get_by_label("Search garments").press("Enter")
    page.wait_for_load_state()


def test_a_search_shows_photo_results_and_a_chip_removal_changes_them(page: Any, blocked_requests, console_errors):
    search(page, "blue shirt")

    first = card_ids(page)
    assert first
    assert loaded_photos(page) == len(first)
    chip = page.get_by_role("link", name="Remove blue (colour)")
    assert chip.is_visible()

    # when the colour chip is removed
    chip.click()
    page.wait_for_load_state()

    # then the search runs without it
    assert page.get_by_label("Search garments").input_value() == "shirt"
    assert page.get_by_role("link", name="Remove blue (colour)").count() == 0
    assert card_ids(page) != first
    assert blocked_requests == [] and console_errors == []


def test_next_page_and_more_like_this(page: Any, blocked_requests, console_errors):
    page.goto("/?q=shirt&limit=6")
    first = card_ids(page)

    page.get_by_role("link", name="Next page").click()
    page.wait_for_load_state()
    second = card_ids(page)
    assert second and not set(first) & set(second)

    title = page.locator("li.card h3").first.inner_text()
    page.get_by_role("link", name=f"More like {title}").first.click()
    page.wait_for_load_state()
    assert "similar_to=" in page.url
    assert page.locator("p.context", has_text="More like").is_visible()
    assert loaded_photos(page) == len(card_ids(page)) > 0
    assert blocked_requests == [] and console_errors == []


def test_why_this_result_opens_with_the_keyboard(page: Any):
    search(page, "red tshirt")
    summary = page.locator("details.why summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("details.why").first.get_attribute("open") is not None
    assert page.locator("details.why table").first.is_visible()


def test_a_photo_upload_shows_results(page: Any, blocked_requests, console_errors):
    page.goto("/")
    page.get_by_text("Search with a photo").click()
    page.get_by_label("Photo (JPEG").set_input_files(str(PHOTO))
    page.locator("img.preview").wait_for()  # the script's preview, from a data: URL the CSP allows
    page.get_by_label("Like this photo but").fill("in red")
    page.get_by_role("button", name="Search by photo").click()
    page.wait_for_url("**/?photo=*")

    assert page.locator("p.context", has_text="look like your photo").is_visible()
    assert loaded_photos(page) == len(card_ids(page)) > 0
    assert blocked_requests == [] and console_errors == []
