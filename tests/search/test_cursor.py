"""The search cursor: signed, bounded in depth, and anything else is a 400 in the stable shape."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.core import signing
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from search import engine
from search.engine import CURSOR_MAX_AGE_SECONDS, CURSOR_SALT, MAX_CURSOR_OFFSET, HybridSearchEngine, InvalidSearchError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_throttles() -> None:
    cache.clear()


@pytest.fixture
def five(garment_factory):
    return [garment_factory(title=f"Plain cotton tee {i}") for i in range(5)]


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory.create()).key}")
    return client


def _fingerprint_of(cursor: str | None) -> str:
    assert cursor is not None
    return signing.loads(cursor, salt=CURSOR_SALT)["f"]


def _unsigned(payload: object) -> str:
    """What the old cursor was: base64 JSON that anyone could write."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_cursor_this_api_issued_walks_every_page_once(five):
    search = HybridSearchEngine()
    seen, cursor = [], None
    for _ in range(10):
        page = search.search(limit=2, cursor=cursor, facets=False)
        seen += [hit.garment.pk for hit in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(g.pk for g in five)


def test_the_cursor_is_signed_so_an_edited_offset_is_refused(five):
    # given a real cursor, and the same one with its offset rewritten (what the old base64 allowed)
    first = HybridSearchEngine().search(limit=1, facets=False)
    assert first.next_cursor is not None
    fingerprint = _fingerprint_of(first.next_cursor)
    forged = [
        _unsigned({"o": 10**9, "s": 10**9, "f": fingerprint}),  # one request ranking every vector exactly
        _unsigned({"o": -5, "s": 1, "f": fingerprint}),  # was a 500 (negative slicing)
        first.next_cursor[:-1] + ("A" if first.next_cursor[-1] != "A" else "B"),  # a byte of the signature
        signing.dumps({"o": 1, "s": 10**9, "f": fingerprint}),  # signed, but for another purpose (salt)
        signing.dumps({"o": 1, "s": 10**9, "f": fingerprint}, salt=CURSOR_SALT, key="another-secret-key" * 3),
    ]
    for cursor in forged:
        # then each is refused, before any candidate is read
        with pytest.raises(InvalidSearchError, match="not one this API issued"):
            HybridSearchEngine().search(limit=1, cursor=cursor, facets=False)


@pytest.mark.parametrize(
    "payload",
    [
        {"o": MAX_CURSOR_OFFSET + 1, "s": 1},
        {"o": -1, "s": 1},
        {"o": 1e308, "s": 1},
        {"o": float("inf"), "s": 1},
        {"o": True, "s": 1},
        {"o": "5", "s": 1},
        {"o": 1, "s": 2**64},
        {"o": 1, "s": -1},
        {"o": 1, "s": [[[[[[[[1]]]]]]]]},
        {"o": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "s": 1},
    ],
)
def test_a_correctly_signed_cursor_with_a_hostile_payload_is_refused(five, payload):
    """Should the secret key leak, a forged payload is still checked field by field: never a 500."""
    fingerprint = _fingerprint_of(HybridSearchEngine().search(limit=1, facets=False).next_cursor)
    forged = signing.dumps({**payload, "f": fingerprint}, salt=CURSOR_SALT, compress=False)
    with pytest.raises(InvalidSearchError, match="not one this API issued"):
        HybridSearchEngine().search(limit=1, cursor=forged, facets=False)


def test_an_expired_cursor_is_refused(five, monkeypatch):
    search = HybridSearchEngine()
    issued_long_ago = signing.b62_encode(int(time.time()) - CURSOR_MAX_AGE_SECONDS - 60)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: issued_long_ago)
    old = search.search(limit=1, facets=False).next_cursor
    monkeypatch.undo()
    with pytest.raises(InvalidSearchError, match="expired"):
        search.search(limit=1, cursor=old, facets=False)


def test_paging_stops_at_the_maximum_depth(five, monkeypatch):
    """No cursor is issued past MAX_CURSOR_OFFSET, and none past it is accepted."""
    monkeypatch.setattr(engine, "MAX_CURSOR_OFFSET", 2)
    search = HybridSearchEngine()
    first = search.search(limit=1, facets=False)
    second = search.search(limit=1, cursor=first.next_cursor, facets=False)
    third = search.search(limit=1, cursor=second.next_cursor, facets=False)  # offset 2: the deepest
    assert [len(page.hits) for page in (first, second, third)] == [1, 1, 1]
    assert third.next_cursor is None  # five garments, but rank 4 is past the depth served
    fingerprint = _fingerprint_of(first.next_cursor)
    deeper = signing.dumps({"o": 3, "s": 10**6, "f": fingerprint}, salt=CURSOR_SALT, compress=False)
    with pytest.raises(InvalidSearchError, match="bad offset"):
        search.search(limit=1, cursor=deeper, facets=False)


def test_the_depth_bounds_every_signal_pool(settings):
    """The candidates one page may read per signal: the pool, or the deepest page (documented bound)."""
    assert MAX_CURSOR_OFFSET == 1000
    assert max(settings.SEARCH_CANDIDATES_PER_SIGNAL, MAX_CURSOR_OFFSET + engine.MAX_LIMIT) == 1100


@pytest.mark.parametrize(
    "cursor",
    [
        _unsigned({"o": 10**9, "s": 10**9, "f": "0" * 16}),
        _unsigned({"o": -5, "s": 1, "f": "0" * 16}),
        _unsigned({"o": 1e999, "s": 1, "f": "0" * 16}).replace("=", ""),
        "x" * 5000,
        "nonsense",
        "a:b:c",
    ],
)
def test_the_api_answers_a_forged_cursor_with_a_400_in_the_stable_shape(api, five, cursor):
    for response in (
        api.get("/api/v1/search/", {"cursor": cursor}),
        api.post("/api/v1/search/", {"q": "tee", "cursor": cursor}, format="json"),
        api.get(f"/api/v1/garments/{five[0].pk}/similar/", {"cursor": cursor}),
    ):
        assert response.status_code == 400, response.content
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] in ("invalid_search", "validation_error")


def test_a_cursor_from_the_api_continues_the_same_search(api, five):
    first = api.get("/api/v1/search/", {"limit": 2}).json()
    second = api.get("/api/v1/search/", {"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    ids = [hit["garment"]["id"] for hit in first["results"] + second.json()["results"]]
    assert len(set(ids)) == 4
    other = api.get("/api/v1/search/", {"limit": 2, "cursor": first["next_cursor"], "status": "any"})
    assert other.status_code == 400 and other.json()["error"]["code"] == "invalid_search"
