"""Checking and storing garment photos: bounded in bytes and pixels, decoded whole, re-encoded by us.

Every photo is decoded by Pillow (only as JPEG, PNG, WebP or GIF: no other decoder is ever offered
the bytes), refused before decoding when it is too many bytes or pixels (a decompression bomb
declares its size in a header of a few bytes), decoded completely (a truncated file is refused, not
stored half grey), and then re-encoded: EXIF and other metadata are dropped (the orientation is
applied first, so the photo still looks upright), an animation keeps its first frame only, and the
stored name is the hash of the re-encoded bytes plus an extension we choose. Nothing the client
wrote (a file name, trailing bytes, a polyglot's second payload) reaches storage.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from prethrift.errors import ApplicationError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# A 6000x6000 photo is 36 Mpx; anything far beyond is a decompression bomb, not a garment.
MAX_IMAGE_PIXELS = 40_000_000
# The decoders we accept, and the format each is stored in (a GIF's first frame is stored as PNG).
STORED_FORMAT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}
ALLOWED_FORMATS = tuple(STORED_FORMAT)
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Quality 90: indistinguishable from the upload at catalogue sizes, about half the bytes of 100.
JPEG_QUALITY = 90
WEBP_QUALITY = 90


class InvalidImageError(ApplicationError):
    code = "invalid_image"


@dataclass(frozen=True)
class CheckedImage:
    content: bytes  # the re-encoded photo, as it is stored
    sha256: str
    extension: str
    width: int
    height: int

    @property
    def storage_name(self) -> str:
        return f"garments/{self.sha256[:2]}/{self.sha256}.{self.extension}"


def _too_many_pixels(width: int, height: int) -> InvalidImageError:
    return InvalidImageError(
        f"The image is {width}x{height} pixels, which exceeds the pixel limit of {MAX_IMAGE_PIXELS}.",
        details={"width": width, "height": height, "max_pixels": MAX_IMAGE_PIXELS},
    )


def _check_bytes(content: bytes) -> None:
    if not content:
        raise InvalidImageError("The image is empty.")
    if len(content) > MAX_IMAGE_BYTES:
        raise InvalidImageError(
            f"The image is {len(content)} bytes, which exceeds the limit of {MAX_IMAGE_BYTES} bytes.",
            details={"bytes": len(content), "max_bytes": MAX_IMAGE_BYTES},
        )


def _decode(content: bytes, *, draft_size: int | None = None) -> Image.Image:
    """The first frame of `content`, fully decoded; bombs are refused from the header, before decoding."""
    _check_bytes(content)
    # No warnings.catch_warnings() here: it is not thread-safe (gunicorn runs threads), and it is not
    # needed: our pixel limit is below Pillow's warning threshold, so the check right after open()
    # refuses first, and what is beyond Pillow's error threshold raises DecompressionBombError.
    try:
        image = Image.open(io.BytesIO(content), formats=list(ALLOWED_FORMATS))
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(width, height)
        if draft_size is not None and image.format == "JPEG":
            image.draft("RGB", (draft_size, draft_size))
        image.load()  # the first frame only; a truncated file fails here, not in a worker later
        if image.width * image.height > MAX_IMAGE_PIXELS:  # a frame larger than the header said
            raise _too_many_pixels(image.width, image.height)
        return image
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(
            f"The image exceeds the pixel limit of {MAX_IMAGE_PIXELS} (a decompression bomb?).",
            details={"max_pixels": MAX_IMAGE_PIXELS},
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            f"The file is not a readable image; accepted formats are {', '.join(sorted(ALLOWED_FORMATS))}."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise InvalidImageError(f"The image is damaged or truncated: {exc}") from exc


def _for_format(image: Image.Image, stored_format: str) -> Image.Image:
    """Pixels in a mode `stored_format` can hold, without the metadata of the upload."""
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if stored_format == "JPEG":
        wanted = image.mode if image.mode in ("L", "RGB") else "RGB"
    elif image.mode in ("L", "RGB", "RGBA") and not (image.mode != "RGBA" and transparent):
        wanted = image.mode
    else:
        wanted = "RGBA" if transparent else "RGB"
    converted = image.convert(wanted) if image.mode != wanted else image.copy()
    converted.info = {}  # no EXIF, XMP, comments or text chunks travel on
    return converted


def _encode(image: Image.Image, stored_format: str) -> bytes:
    buffer = io.BytesIO()
    if stored_format == "JPEG":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    elif stored_format == "WEBP":
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def check_image(content: bytes) -> CheckedImage:
    """Decode `content` whole, refusing what is not a sane photo, and return it re-encoded by us with its hash."""
    image = _decode(content)
    source_format = image.format or ""
    if source_format not in ALLOWED_FORMATS:  # Image.open was offered only these; kept as a guard
        raise InvalidImageError(
            f"Image format {source_format or 'unknown'} is not accepted; use one of {sorted(ALLOWED_FORMATS)}."
        )
    stored_format = STORED_FORMAT[source_format]
    try:
        upright = ImageOps.exif_transpose(image)
        encoded = _encode(_for_format(upright, stored_format), stored_format)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"The image cannot be re-encoded: {exc}") from exc
    if len(encoded) > MAX_IMAGE_BYTES:
        raise InvalidImageError(
            f"The image is {len(encoded)} bytes once re-encoded, which exceeds the limit of {MAX_IMAGE_BYTES} bytes.",
            details={"bytes": len(encoded), "max_bytes": MAX_IMAGE_BYTES},
        )
    return CheckedImage(
        content=encoded,
        sha256=hashlib.sha256(encoded).hexdigest(),
        extension=EXTENSIONS[stored_format],
        width=upright.width,
        height=upright.height,
    )


def open_guarded(content: bytes, size: int) -> Image.Image:
    """Decode `content` as an upright RGB image whose shorter side is at least `size` where the photo
    allows, with the same guards as check_image (bytes, pixels before decoding, formats, truncation).
    JPEG draft mode decodes straight to the smallest DCT scale still >= `size` (a 3000 px photo at
    1/8 of the work). For stored photos and for search queries alike."""
    image = _decode(content, draft_size=size)
    try:
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"The image is damaged: {exc}") from exc


def store_image(image: CheckedImage, storage: Storage | None = None) -> str:
    """Save the photo under its hash unless already there; return its storage name."""
    storage = storage or default_storage
    name = image.storage_name
    if not storage.exists(name):
        saved = storage.save(name, ContentFile(image.content))
        if saved != name:  # another process stored the same photo between exists() and save()
            storage.delete(saved)
    return name
