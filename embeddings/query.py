"""Query vectors for search, cached in the Django cache (Redis when REDIS_URL is set).

The key is the encoder's model id plus a hash of the normalised text, so a model change never
serves a stale vector. A cache that is down costs a model call, never an error.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.conf import settings
from django.core.cache import cache

from garments.managers import EmbeddingSpace

from .metrics import query_embedding_cache_total
from .registry import get_encoder
from .runtime import model_slot

logger = logging.getLogger(__name__)
CACHE_VERSION = 1


def normalise_query(text: str) -> str:
    return " ".join(text.split()).lower()


def query_cache_key(model_id: str, text: str) -> str:
    digest = hashlib.sha256(normalise_query(text).encode()).hexdigest()
    return f"qvec:{CACHE_VERSION}:{model_id}:{digest}"


def embed_query(text: str, space: EmbeddingSpace) -> np.ndarray | None:
    """The unit vector of `text` in `space` (CLIP's text tower for "image"), or None if unconfigured."""
    encoder = get_encoder(space)
    if encoder is None or not encoder.supports_text:
        return None
    key = query_cache_key(encoder.id, text)
    try:
        cached = cache.get(key)
    except Exception:  # a cache backend that raises: count it and go to the model
        logger.warning("query-vector cache read failed", exc_info=True)
        query_embedding_cache_total.labels(result="error").inc()
        cached = None
    if isinstance(cached, bytes) and len(cached) == encoder.dimensions * 4:
        query_embedding_cache_total.labels(result="hit").inc()
        return np.frombuffer(cached, dtype=np.float32).copy()
    query_embedding_cache_total.labels(result="miss").inc()
    with model_slot():
        vector = encoder.embed_query(normalise_query(text))
    try:
        cache.set(key, vector.astype(np.float32).tobytes(), timeout=settings.VECTOR_SEARCH_CACHE_TTL)
    except Exception:
        logger.warning("query-vector cache write failed", exc_info=True)
        query_embedding_cache_total.labels(result="error").inc()
    return vector
