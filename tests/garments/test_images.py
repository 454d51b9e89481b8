"""Photos: what is stored is decoded whole and re-encoded by us; hostile files are refused clearly.

Every file is made here with Pillow (the one GIF whose frame outgrows its screen is written by hand:
Pillow will not write it).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import struct
from collections.abc import Callable

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from embeddings.encoders.base import EncoderError
from embeddings.images import open_for_model
from garments.images import MAX_IMAGE_BYTES, InvalidImageError, check_image, open_guarded, store_image
from garments.models import Garment, garment_image_path
from garments.services import garment_create

EXIF_ORIENTATION, EXIF_MAKE = 0x0112, 0x010F


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _phone_jpeg() -> bytes:
    """40x20 pixels stored sideways (EXIF orientation 6) with a camera make: what phones upload."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION], exif[EXIF_MAKE] = 6, "SnoopCam"
    return _save(Image.new("RGB", (40, 20), (200, 10, 10)), "JPEG", exif=exif)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (30, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_png_with_transparency() -> bytes:
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return _save(image, "PNG", transparency=0)


@functools.cache
def _bomb_png(side: int) -> bytes:
    """side x side one-bit pixels: a few kilobytes that would decode to side² bytes or more."""
    return _save(Image.new("1", (side, side)), "PNG")


def _gif_frame_larger_than_its_screen() -> bytes:
    """A 16x16 logical screen whose first frame declares 8000x8000 (64 Mpx) in its image descriptor."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 8000, 8000, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b"\x3b"


def _jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    return _save(Image.new("RGB", size, (10, 120, 200)), "JPEG", quality=95)


# --- accepted, and re-encoded ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "extension", "size", "mode"),
    [
        pytest.param(_phone_jpeg, "jpg", (20, 40), "RGB", id="phone-jpeg-turned-upright"),
        pytest.param(
            lambda: _save(Image.new("RGBA", (20, 10), (1, 2, 3, 128)), "PNG"),
            "png",
            (20, 10),
            "RGBA",
            id="png-with-alpha",
        ),
        pytest.param(lambda: _save(Image.new("RGB", (20, 10), "red"), "WEBP"), "webp", (20, 10), "RGB", id="webp"),
        pytest.param(_animated_gif, "png", (30, 30), "RGB", id="animated-gif-first-frame"),
        pytest.param(_palette_png_with_transparency, "png", (20, 20), "RGBA", id="palette-png-transparency"),
        pytest.param(
            lambda: _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), "jpg", (16, 16), "RGB", id="cmyk-jpeg"
        ),
        pytest.param(lambda: _save(Image.new("I;16", (16, 16), 300), "PNG"), "png", (16, 16), "RGB", id="16-bit-png"),
        pytest.param(
            lambda: _jpeg() + b"<?php system($_GET['c']); ?>", "jpg", (64, 64), "RGB", id="jpeg-with-a-trailing-payload"
        ),
    ],
)
def test_accepted_photos_are_re_encoded_without_metadata_under_a_server_chosen_name(make, extension, size, mode):
    upload = make()
    checked = check_image(upload)
    assert (checked.extension, (checked.width, checked.height)) == (extension, size)
    assert checked.sha256 == hashlib.sha256(checked.content).hexdigest()
    assert checked.storage_name == f"garments/{checked.sha256[:2]}/{checked.sha256}.{extension}"
    stored = Image.open(io.BytesIO(checked.content))
    assert stored.format == {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[extension]
    assert stored.mode == mode and stored.size == size
    assert dict(stored.getexif()) == {}  # no EXIF: no camera, no GPS, no orientation left to apply
    assert b"SnoopCam" not in checked.content and b"<?php" not in checked.content
    assert getattr(stored, "n_frames", 1) == 1
    assert check_image(upload) == checked  # deterministic: the same upload is stored once


def test_an_animated_gif_keeps_its_first_frame():
    stored = Image.open(io.BytesIO(check_image(_animated_gif()).content)).convert("RGB")
    assert stored.getpixel((15, 15)) == (255, 0, 0)


def test_the_stored_name_never_comes_from_the_client(settings):
    checked = check_image(_jpeg())
    name = store_image(checked)
    assert name == checked.storage_name and default_storage.exists(name)
    assert default_storage.open(name).read() == checked.content


# --- refused ------------------------------------------------------------------------------------------

REFUSED: list[tuple[Callable[[], bytes], str]] = [
    (lambda: _bomb_png(20_000), "pixel limit"),  # 400 Mpx: Pillow's own limit trips first, same message
    (lambda: _bomb_png(8_000), "pixel limit"),  # 64 Mpx: over ours, under Pillow's warning threshold
    (_gif_frame_larger_than_its_screen, "pixel limit"),
    (lambda: _jpeg((400, 400))[:1500], "damaged or truncated"),
    (lambda: _jpeg((400, 400))[:-200], "damaged or truncated"),
    (lambda: _save(Image.new("RGB", (300, 300), "red"), "PNG")[:-40], "damaged or truncated"),
    (lambda: b"%PDF-1.4 not an image at all", "not a readable image"),
    (lambda: _save(Image.new("RGB", (8, 8)), "BMP"), "not a readable image"),
    (lambda: _save(Image.new("RGB", (8, 8)), "TIFF"), "not a readable image"),
    (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a readable image"),  # never Ghostscript
    (lambda: b"", "empty"),
    (lambda: b"\xff\xd8\xff" + b"\x00" * (50 * 1024 * 1024), f"exceeds the limit of {MAX_IMAGE_BYTES} bytes"),
]
REFUSED_IDS = ["bomb-400mpx", "bomb-64mpx", "gif-frame-outgrows-screen", "jpeg-cut-early", "jpeg-cut-late",
               "png-cut", "not-an-image", "bmp", "tiff", "eps", "empty", "50-mb"]  # fmt: skip


@pytest.mark.parametrize(("make", "message"), REFUSED, ids=REFUSED_IDS)
def test_hostile_uploads_are_refused_with_a_clear_message(make, message):
    with pytest.raises(InvalidImageError, match=message) as refused:
        check_image(make())
    assert refused.value.code == "invalid_image"


@pytest.mark.parametrize(("make", "message"), [case for case in REFUSED if case[1] != "empty"],
                         ids=[name for name in REFUSED_IDS if name != "empty"])  # fmt: skip
def test_the_search_and_embedding_path_applies_the_same_guards(make, message):
    content = make()
    with pytest.raises(InvalidImageError, match=message):
        open_guarded(content, 224)
    with pytest.raises(EncoderError, match="unreadable image"):
        open_for_model(content, 224)


@pytest.mark.django_db
def test_a_refused_upload_creates_no_garment():
    with pytest.raises(InvalidImageError, match="pixel limit"):
        garment_create(sku="bomb", title="Scarf", image_content=_bomb_png(20_000))
    assert not Garment.objects.exists()


@pytest.mark.parametrize(
    ("client_name", "stored"),
    [
        ("../../etc/cron.d/evil.jpg", r"garments/unhashed/[0-9a-f]{32}\.jpg"),
        ("shell.php", r"garments/unhashed/[0-9a-f]{32}\.jpg"),
        ("photo.PNG", r"garments/unhashed/[0-9a-f]{32}\.png"),
        ("noextension", r"garments/unhashed/[0-9a-f]{32}\.jpg"),
    ],
)
def test_a_photo_saved_without_a_hash_never_takes_the_clients_file_name(client_name: str, stored: str) -> None:
    """The model field's fallback path (a save that bypassed the services): our name, our extension."""
    path = garment_image_path(Garment(), client_name)
    assert re.fullmatch(stored, path), path
    hashed = garment_image_path(Garment(image_sha256="ab" * 32), "../x.php")
    assert hashed == f"garments/ab/{'ab' * 32}.jpg"
