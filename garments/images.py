"""Checking and storing garment photos: content-addressed, verified, bounded in bytes and pixels."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from prethrift.errors import ApplicationError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# A 6000x6000 photo is 36 Mpx; anything far beyond is a decompression bomb, not a garment.
MAX_IMAGE_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


class InvalidImageError(ApplicationError):
    code = "invalid_image"


@dataclass(frozen=True)
class CheckedImage:
    content: bytes
    sha256: str
    extension: str
    width: int
    height: int

    @property
    def storage_name(self) -> str:
        return f"garments/{self.sha256[:2]}/{self.sha256}.{self.extension}"


def check_image(content: bytes) -> CheckedImage:
    """Parse and fully decode `content`, refusing what is not a sane photo; return it with its hash."""
    if not content:
        raise InvalidImageError("The image is empty.")
    if len(content) > MAX_IMAGE_BYTES:
        raise InvalidImageError(
            f"The image is {len(content)} bytes; the limit is {MAX_IMAGE_BYTES}.", details={"bytes": len(content)}
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InvalidImageError(
                        f"The image is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS} pixels.",
                        details={"width": width, "height": height},
                    )
                image_format = image.format or ""
                image.load()  # decode every byte: a truncated file fails here, not in a worker later
    except InvalidImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"The file is not a readable image: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"The image is damaged: {exc}") from exc
    if image_format not in ALLOWED_FORMATS:
        raise InvalidImageError(
            f"Image format {image_format or 'unknown'} is not accepted; use one of {sorted(ALLOWED_FORMATS)}."
        )
    return CheckedImage(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        extension=ALLOWED_FORMATS[image_format],
        width=width,
        height=height,
    )


def open_guarded(content: bytes, size: int) -> Image.Image:
    """Decode `content` as an upright RGB image whose shorter side is at least `size` where the photo
    allows, refusing bombs before decoding. JPEG draft mode decodes straight to the smallest DCT scale
    still >= `size` (a 3000 px photo at 1/8 of the work)."""
    if len(content) > MAX_IMAGE_BYTES:
        raise InvalidImageError(f"image of {len(content)} bytes exceeds the {MAX_IMAGE_BYTES}-byte limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(content))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InvalidImageError(f"image of {width}x{height} pixels exceeds the {MAX_IMAGE_PIXELS}-pixel limit")
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            image = ImageOps.exif_transpose(image)
            return image.convert("RGB")
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"unreadable image: {exc}") from exc


def store_image(image: CheckedImage, storage: Storage | None = None) -> str:
    """Save the photo under its hash unless already there; return its storage name."""
    storage = storage or default_storage
    name = image.storage_name
    if not storage.exists(name):
        saved = storage.save(name, ContentFile(image.content))
        if saved != name:  # another process stored the same photo between exists() and save()
            storage.delete(saved)
    return name
