"""Query vectors: cached by model and normalised text, in locmem or real Redis; a dead cache never breaks search."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from django.core.cache import caches

from embeddings.metrics import query_embedding_cache_total
from embeddings.query import embed_query, query_cache_key
from tests.services import redis_available

REDIS_URL = "redis://127.0.0.1:6379/14"


def _count(result: str) -> float:
    return query_embedding_cache_total.labels(result=result)._value.get()


def _redis_cache(location: str) -> dict[str, dict[str, object]]:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }


def test_second_lookup_is_a_cache_hit_under_the_normalised_text():
    hits, misses = _count("hit"), _count("miss")
    first = embed_query("  Blue DENIM   jacket ", "text")
    second = embed_query("blue denim jacket", "text")
    assert first is not None and second is not None
    np.testing.assert_array_equal(first, second)
    assert (_count("miss") - misses, _count("hit") - hits) == (1, 1)
    assert query_cache_key("m", "A  b") == query_cache_key("m", "a b") != query_cache_key("other-model", "a b")


def test_an_unconfigured_space_has_no_query_vector(settings):
    settings.CLIP_MODEL_PATH = ""
    assert embed_query("red dress", "image") is None


def test_clip_text_tower_embeds_queries_for_the_image_space(clip_configured):
    vector = embed_query("red dress", "image")
    assert vector is not None and vector.shape == (512,)


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_vectors_are_shared_through_real_redis(settings):
    settings.CACHES = _redis_cache(REDIS_URL)
    caches["default"].clear()
    hits = _count("hit")
    vector = embed_query("wool coat", "text")
    caches["default"].close()
    assert caches["default"].get(query_cache_key("local:all-MiniLM-L6-v2", "wool coat")) == vector.tobytes()
    embed_query("wool coat", "text")
    assert _count("hit") == hits + 1


def test_a_cache_that_is_down_slows_search_but_never_breaks_it(settings):
    # given a Redis cache on a port where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{port}/0")
    # when / then
    vector = embed_query("linen shirt", "text")
    assert vector is not None and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
