"""Request throttles whose counts live in one store shared by every process (the "throttle" cache).

DRF's stock throttles keep a history list in the default cache with a read, then a write: with a
local-memory cache each gunicorn worker counts alone (four workers allow four times the rate, a
restarted worker forgets), and with the Redis cache set to ignore errors they let everything through
when Redis is down. These count with one atomic increment per request in a fixed window, in
CACHES["throttle"] (Redis in production, see settings), and when that store does not answer they
fall back to a count in this process, so limits stay bounded (at most workers x rate) instead of
opening; each fallback is logged and counted in prethrift_throttle_store_errors_total.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from prometheus_client import Counter
from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.request import Request

logger = logging.getLogger(__name__)

CACHE_ALIAS = "throttle"
# After the store fails, requests count locally this long before the store is tried again: a store
# that does not answer would otherwise cost every request its socket timeout.
STORE_RETRY_SECONDS = 5.0
# A failing store is logged at most this often per process (each failure is counted in the metric).
LOG_EVERY_SECONDS = 60.0
STORE_ERRORS = (RedisError, OSError)

store_errors = Counter(
    "prethrift_throttle_store_errors_total",
    "Throttle counts that fell back to this process because the shared throttle store did not answer.",
)

# Per-process fallback: bounded so that a flood of distinct clients cannot grow it without limit.
_fallback = LocMemCache("prethrift-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
_state_lock = threading.Lock()
_store_down_until = 0.0
_last_logged = 0.0


def _increment(cache: BaseCache, key: str, window: int) -> int:
    # add() is a no-op when the key exists; incr() is atomic in Redis (and under a lock in memory).
    for _ in range(2):
        cache.add(key, 0, timeout=window + 1)
        try:
            return int(cache.incr(key))
        except ValueError:  # the window's key expired between add() and incr(): add it again
            continue
    return 1


def _store_failed(error: Exception) -> None:
    global _store_down_until, _last_logged
    store_errors.inc()
    now = time.monotonic()
    with _state_lock:
        _store_down_until = now + STORE_RETRY_SECONDS
        should_log = now - _last_logged >= LOG_EVERY_SECONDS
        if should_log:
            _last_logged = now
    if should_log:
        logger.error(
            "throttle store (CACHES[%r]) is unavailable (%s): counting requests per process, so each "
            "worker allows the full rate until it answers again",
            CACHE_ALIAS,
            error,
        )


def _bucket(key: str, window: int) -> str:
    return f"throttle:{key}:{window}:{int(time.time() // window)}"


def hit(key: str, window: int) -> int:
    """Count one event for `key` in the current `window`-second window; return the count so far."""
    bucket = _bucket(key, window)
    if time.monotonic() >= _store_down_until:
        try:
            return _increment(caches[CACHE_ALIAS], bucket, window)
        except STORE_ERRORS as error:
            _store_failed(error)
    return _increment(_fallback, bucket, window)


def count(key: str, window: int) -> int:
    """The events counted for `key` in the current window so far (without counting one)."""
    bucket = _bucket(key, window)
    if time.monotonic() >= _store_down_until:
        try:
            return int(caches[CACHE_ALIAS].get(bucket) or 0)
        except STORE_ERRORS as error:
            _store_failed(error)
    return int(_fallback.get(bucket) or 0)


def seconds_left_in_window(window: int) -> float:
    return window - (time.time() % window)


class SharedRateThrottle(throttling.SimpleRateThrottle):
    """SimpleRateThrottle counted in the shared throttle store, in fixed windows of the rate's period."""

    num_requests: int | None
    duration: int | None

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None or self.num_requests is None or not self.duration:
            return True
        return hit(self.key, self.duration) <= self.num_requests

    def wait(self) -> float | None:
        return seconds_left_in_window(self.duration) if self.duration else None


class AnonRateThrottle(throttling.AnonRateThrottle, SharedRateThrottle):
    """Anonymous clients by address (REST_FRAMEWORK NUM_PROXIES decides which address): the "anon" rate."""


class UserRateThrottle(throttling.UserRateThrottle, SharedRateThrottle):
    """Signed-in users by id, anonymous ones by address: the "user" rate."""


class ScopedRateThrottle(throttling.ScopedRateThrottle, SharedRateThrottle):
    """The view's throttle_scope rate (search, image_search), per user or address."""
