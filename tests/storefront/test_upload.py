"""Search by photo on the page: a CSRF-checked multipart POST, then the results at a GET URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from embeddings import registry
from embeddings.random_clip import build_random_clip
from embeddings.services import embed_garments
from prethrift.parsers import MULTIPART_OVERHEAD_BYTES

PHOTO = Path(__file__).resolve().parents[2] / "data" / "sample" / "images" / "10005.jpg"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", tiny=True, image_size=32)


@pytest.fixture
def photographed(catalogue: list[int], settings: Any, tiny_clip: Path) -> Iterator[list[int]]:
    settings.CLIP_MODEL_PATH = str(tiny_clip)
    embed_garments(garment_ids=catalogue, space="image")
    yield catalogue
    registry.reset(("image", "openai_text"))


def upload(content: bytes = b"", name: str = "photo.jpg", kind: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content or PHOTO.read_bytes(), content_type=kind)


def cards(html: str) -> list[str]:
    return re.findall(r'<li class="card" id="garment-(\d+)"', html)


def test_a_photo_search_redirects_to_its_results_and_pages_on(client, photographed):
    # when
    response = client.post("/", {"image": upload(), "q": "but in red"})

    # then: post, redirect, get
    assert response.status_code == 303
    query = parse_qs(urlsplit(response["Location"]).query)
    assert re.fullmatch(r"[0-9a-f]{64}", query["photo"][0]) and query["q"] == ["but in red"]
    results = client.get(response["Location"])
    html = results.content.decode()
    assert results.status_code == 200
    assert len(cards(html)) == 24
    assert "look like your photo" in html
    next_url = re.search(r'href="([^"]*cursor=[^"]*)" rel="next"', html).group(1).replace("&amp;", "&")
    second = client.get(next_url).content.decode()
    assert cards(second) and not set(cards(second)) & set(cards(html))


def test_the_form_is_csrf_protected(photographed):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/", {"image": upload()})

    assert response.status_code == 403


def test_the_form_carries_a_csrf_token_that_works(photographed):
    client = Client(enforce_csrf_checks=True)
    html = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = client.post("/", {"image": upload(), "csrfmiddlewaretoken": token})

    assert response.status_code == 303


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image": upload(b"%PDF-1.4 not a photo", "cv.pdf", "application/pdf")}, "Photo:"),
        ({"image": upload(b"GIF89a" + b"\x00" * 40, "broken.gif", "image/gif")}, "Photo:"),
        ({"q": "red"}, "Choose a photo"),
        ({"image": upload(), "colour": "red"}, "unknown fields: colour"),
        ({"image": upload(), "q": "red\x07"}, "control characters"),
    ],
)
def test_a_bad_upload_is_the_page_with_a_message(client, photographed, fields, message):
    response = client.post("/", fields)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and message in html
    assert '<details class="upload" open>' in html  # the form stays open to try again


def test_an_upload_over_the_limit_is_refused_before_it_is_read(client, photographed, settings):
    settings.SEARCH_MAX_IMAGE_BYTES = 1024
    body = b"\xff" * (1024 + MULTIPART_OVERHEAD_BYTES + 1)  # never decoded: refused from Content-Length

    response = client.post("/", {"image": upload(body)})

    assert response.status_code == 413
    assert "too large" in response.content.decode()


def test_a_photo_over_the_limit_within_the_body_allowance_is_refused_by_the_serializer(client, photographed, settings):
    settings.SEARCH_MAX_IMAGE_BYTES = 1024

    response = client.post("/", {"image": upload()})

    assert response.status_code == 400
    assert "the limit is 1024" in response.content.decode()


def test_a_photo_that_has_gone_from_the_cache_asks_for_it_again(client, photographed):
    location = client.post("/", {"image": upload()})["Location"]
    cache.clear()

    response = client.get(location)

    assert response.status_code == 400
    assert "upload it again" in response.content.decode()


def test_without_an_image_model_there_is_no_photo_form_and_an_upload_is_a_400(client, catalogue, settings):
    settings.CLIP_MODEL_PATH = ""

    page = client.get("/").content.decode()
    response = client.post("/", {"image": upload()})

    assert 'enctype="multipart/form-data"' not in page
    assert response.status_code == 400
    assert "not available" in response.content.decode()


def test_uploads_count_against_the_image_search_rate(client, photographed, monkeypatch):
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "image_search": "1/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)

    first = client.post("/", {"image": upload()})
    second = client.post("/", {"image": upload()})
    page_of_the_first = client.get(first["Location"])

    assert first.status_code == 303
    assert second.status_code == 429 and second["Retry-After"]
    assert page_of_the_first.status_code == 429  # each page of a photo runs the image model again
    assert client.get("/", {"q": "shirt"}).status_code == 200  # text searches have their own rate
