"""Turning stored photo bytes into model input, quickly and safely.

Guards: those of garments.images, for stored photos and search queries alike: the byte and pixel
limits (decompression bombs are refused before decoding), JPEG/PNG/WebP/GIF decoders only, the
first frame of an animation, and no truncated file. Speed: JPEG draft mode decodes straight to the
smallest DCT scale that is still at least the model's input size (a 3000 px photo decodes at 1/8 the
work), then one resize. EXIF orientation is applied, so a phone photo is seen upright.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from garments.images import InvalidImageError, open_guarded

from .encoders.base import EncoderError


def open_for_model(content: bytes, size: int) -> Image.Image:
    """Decode `content` as an RGB image whose shorter side is at least `size` (when the photo allows)."""
    try:
        return open_guarded(content, size)
    except InvalidImageError as exc:
        raise EncoderError(f"unreadable image: {exc.message}") from exc


def clip_pixels(image: Image.Image, *, size: int, crop: int, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """CLIP preprocessing: shorter side to `size` (bicubic), centre crop `crop`, scale, normalise; (3, crop, crop)."""
    width, height = image.size
    if min(width, height) != size:
        # the shorter side becomes `size`; the longer keeps the aspect ratio (truncated, as transformers does)
        new_size = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
        image = image.resize(new_size, Image.Resampling.BICUBIC)
        width, height = image.size
    if (width, height) != (crop, crop):
        left, top = (width - crop) // 2, (height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
    pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return (pixels - mean) / std
