"""Which encoder serves each embedding space, chosen by settings and loaded once per process.

image        CLIP from CLIP_MODEL_PATH (None when unset: image vectors are skipped)
text         the local all-MiniLM-L6-v2 (always available)
openai_text  OpenAI when OPENAI_API_KEY is set (None otherwise)
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from garments.managers import EMBEDDING_SPACES, EmbeddingSpace

from .encoders.base import Encoder

logger = logging.getLogger(__name__)
_encoders: dict[str, Encoder | None] = {}
_lock = threading.Lock()
_warned: set[str] = set()
# Which loaded encoders a setting change invalidates.
SPACES_BY_SETTING: dict[str, tuple[str, ...]] = {
    "CLIP_MODEL_PATH": ("image",),
    "EMBEDDINGS_CLIP_PRECISION": ("image",),
    "EMBEDDINGS_TEXT_PRECISION": ("text",),
    "OPENAI_API_KEY": ("openai_text",),
    "OPENAI_BASE_URL": ("openai_text",),
    "OPENAI_EMBEDDING_MODEL": ("openai_text",),
}


def _load(space: EmbeddingSpace) -> Encoder | None:
    if space == "image":
        if not settings.CLIP_MODEL_PATH:
            if "image" not in _warned:
                logger.warning("CLIP_MODEL_PATH is not set: image vectors are skipped; search uses the other signals")
                _warned.add("image")
            return None
        from .encoders.clip import ClipEncoder

        return ClipEncoder(settings.CLIP_MODEL_PATH, precision=settings.EMBEDDINGS_CLIP_PRECISION)
    if space == "text":
        from .encoders.local_text import LocalTextEncoder

        return LocalTextEncoder(precision=settings.EMBEDDINGS_TEXT_PRECISION)
    if space == "openai_text":
        if not settings.OPENAI_API_KEY:
            return None
        from .encoders.openai import OpenAIEncoder

        return OpenAIEncoder(
            api_key=settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL, model=settings.OPENAI_EMBEDDING_MODEL
        )
    raise ValueError(f"unknown embedding space {space!r}; expected one of {EMBEDDING_SPACES}")


def get_encoder(space: EmbeddingSpace) -> Encoder | None:
    """The encoder for `space`, or None when that space is not configured."""
    if space in _encoders:
        return _encoders[space]
    with _lock:
        if space not in _encoders:
            encoder = _load(space)
            if encoder is not None:
                logger.info("loaded encoder for %s: %s", space, encoder.describe())
            _encoders[space] = encoder
    return _encoders[space]


def configured_spaces() -> list[EmbeddingSpace]:
    """Spaces that have an encoder here (without loading any model)."""
    spaces: list[EmbeddingSpace] = ["text"]
    if settings.CLIP_MODEL_PATH:
        spaces.insert(0, "image")
    if settings.OPENAI_API_KEY:
        spaces.append("openai_text")
    return spaces


def reset(spaces: tuple[str, ...] = EMBEDDING_SPACES) -> None:
    with _lock:
        for space in spaces:
            _encoders.pop(space, None)
            _warned.discard(space)


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in SPACES_BY_SETTING:
        reset(SPACES_BY_SETTING[setting])
