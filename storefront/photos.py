"""Garment photos at grid sizes: a WebP copy per (photo, width), made with Pillow on first request and kept.

A search page of 20 cards loading 20 full originals (often 1-3 MB each) is the slowest part of the
page; a 320 px WebP is a few kilobytes. Only a small fixed set of widths is served, so a client cannot
make us store a copy per pixel, and only photos a garment holds, so a URL cannot make us decode
arbitrary files. The copy's bytes depend only on the photo's hash and the width (and THUMB_VERSION),
so the URL is immutable: a year of caching and an ETag that never changes.

Served by this view from default_storage (not from MEDIA_URL), so it works where no one serves media
(the test settings, DEBUG off) and behind any storage backend.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import get_script_prefix, reverse
from django.views.decorators.http import require_safe
from PIL import Image

from garments.images import InvalidImageError, open_guarded
from garments.models import Garment, GarmentImage
from prethrift.errors import error_body

logger = logging.getLogger(__name__)

# 160: a phone's two-column grid at 1x; 320: the grid at 2x (and desktop cards); 640: a wide card at 2x.
WIDTHS = (160, 320, 640)
# Quality 80: a 320 px garment photo is ~10-20 kB and shows no artefacts at card size.
WEBP_QUALITY = 80
# Bump when the resizing changes: it is part of the stored name and the ETag, so old copies are never served.
THUMB_VERSION = 1
# A year, and immutable: the URL names the photo's content hash, so its bytes never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def served_width(width: int) -> int:
    """The smallest served width at least `width` (the largest served one for anything wider)."""
    return next((served for served in WIDTHS if served >= width), WIDTHS[-1])


def thumbnail_url(image_sha256: str, width: int) -> str:
    """The URL of the photo with this hash, resized to the served width nearest above `width`."""
    return _thumbnail_url(get_script_prefix(), image_sha256, served_width(width))


@lru_cache(maxsize=8192)
def _thumbnail_url(script_prefix: str, image_sha256: str, width: int) -> str:
    # Memoised: a page of 24 cards asks for 72 of these, and reverse() is ~20 us each. The script
    # prefix is part of the key because reverse() depends on it.
    return reverse("storefront:photo", kwargs={"sha256": image_sha256, "width": width})


def thumbnail_name(image_sha256: str, width: int) -> str:
    """Where the resized copy is kept in default_storage."""
    return f"thumbs/v{THUMB_VERSION}/{width}/{image_sha256[:2]}/{image_sha256}.webp"


def _etag(image_sha256: str, width: int) -> str:
    return f'"{image_sha256[:32]}-{width}-v{THUMB_VERSION}"'


def _source_name(image_sha256: str) -> str | None:
    """The stored original with this hash: a garment's primary photo, else one of its extra photos."""
    name = Garment.objects.filter(image_sha256=image_sha256).exclude(image="").values_list("image", flat=True).first()
    if name:
        return str(name)
    extra = GarmentImage.objects.filter(sha256=image_sha256).values_list("image", flat=True).first()
    return str(extra) if extra else None


def resize(content: bytes, width: int) -> bytes:
    """`content` (a stored original) as a WebP at most `width` pixels wide, never enlarged."""
    image = open_guarded(content, width)  # the same byte, pixel and format guards as uploads
    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


def _not_found(message: str) -> JsonResponse:
    return JsonResponse(error_body("not_found", message), status=404)


def _thumbnail_bytes(image_sha256: str, width: int, source: str) -> bytes | None:
    """The kept copy, made from `source` and kept first if there is none yet; None if the original is unreadable."""
    name = thumbnail_name(image_sha256, width)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as kept:
            return bytes(kept.read())
    try:
        with default_storage.open(source, "rb") as original:
            content = resize(original.read(), width)
    except (OSError, InvalidImageError) as exc:
        logger.warning("thumbnail of %s unreadable: %s", image_sha256, exc)
        return None
    saved = default_storage.save(name, ContentFile(content))
    if saved != name:  # another request kept the same copy between exists() and save()
        default_storage.delete(saved)
    return content


@require_safe
def photo(request: HttpRequest, sha256: str, width: str) -> HttpResponse:
    """GET /photos/<sha256>/<width>.webp: a garment photo resized for the grid, cached for a year."""
    if int(width) not in WIDTHS:  # the URL pattern allows 1-4 digits only
        return _not_found(f"Photos are served {', '.join(map(str, WIDTHS))} pixels wide.")
    source = _source_name(sha256)
    if source is None:
        return _not_found("No garment has this photo.")
    etag = _etag(sha256, int(width))
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        content = _thumbnail_bytes(sha256, int(width), source)
        if content is None:
            return _not_found("This photo cannot be read.")
        response = HttpResponse(content, content_type="image/webp")
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response
