"""Grid-sized photos: resized once with Pillow, kept in storage, cached by browsers for a year."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from garments.images import check_image, store_image
from garments.models import GarmentImage
from storefront.photos import CACHE_CONTROL, WIDTHS, served_width, thumbnail_name, thumbnail_url
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def photographed(garment_factory):
    return garment_factory(image_content=jpeg_bytes(size=(1200, 1600)))


def test_a_photo_is_served_at_the_asked_width_as_webp(client, photographed):
    # when
    response = client.get(thumbnail_url(photographed.image_sha256, 320))

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == CACHE_CONTROL
    assert response["ETag"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP"
    assert image.size == (320, 427)


def test_the_resized_copy_is_kept_and_served_again_from_storage(client, photographed):
    url = thumbnail_url(photographed.image_sha256, 160)
    first = client.get(url)
    name = thumbnail_name(photographed.image_sha256, 160)
    assert default_storage.exists(name)

    # given the kept copy is replaced, the next request serves it rather than resizing again
    default_storage.delete(name)
    default_storage.save(name, io.BytesIO(b"kept"))
    second = client.get(url)

    assert first.status_code == second.status_code == 200
    assert second.content == b"kept"


def test_a_matching_etag_answers_not_modified(client, photographed):
    url = thumbnail_url(photographed.image_sha256, 640)
    etag = client.get(url)["ETag"]

    response = client.get(url, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response["ETag"] == etag


def test_a_small_photo_is_never_enlarged(client, garment_factory):
    garment = garment_factory(image_content=jpeg_bytes(size=(100, 80)))

    response = client.get(thumbnail_url(garment.image_sha256, 640))

    assert Image.open(io.BytesIO(response.content)).size == (100, 80)


def test_a_hash_no_garment_holds_is_404_json(client, photographed):
    response = client.get(f"/photos/{'a' * 64}/320.webp")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_width_outside_the_served_set_is_404(client, photographed):
    response = client.get(f"/photos/{photographed.image_sha256}/321.webp")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not default_storage.exists(thumbnail_name(photographed.image_sha256, 321))


def test_the_url_helper_rounds_up_to_a_served_width():
    assert [served_width(w) for w in (1, 160, 161, 640, 5000)] == [160, 160, 320, 640, 640]
    assert thumbnail_url("b" * 64, 200).endswith(f"/{'b' * 64}/{WIDTHS[1]}.webp")


def test_only_get_and_head_are_answered(client, photographed):
    assert client.post(thumbnail_url(photographed.image_sha256, 160)).status_code == 405


def test_an_extra_photo_of_a_garment_is_served_too(client, photographed):
    checked = check_image(jpeg_bytes(color=(10, 200, 10), size=(400, 300)))
    GarmentImage.objects.create(garment=photographed, image=store_image(checked), sha256=checked.sha256)

    response = client.get(thumbnail_url(checked.sha256, 160))

    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (160, 120)


def test_a_photo_whose_file_is_gone_is_404_not_500(client, photographed):
    default_storage.delete(photographed.image.name)

    response = client.get(thumbnail_url(photographed.image_sha256, 320))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
