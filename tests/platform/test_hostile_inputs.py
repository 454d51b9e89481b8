"""Hostile request inputs, table-driven: each is a 4xx in the stable error shape and changes nothing.

Search (GET, JSON and multipart), similar, the ontology, and the request-level cases of the garment
endpoints (malformed, deep and oversized bodies; their semantics are tested in tests/garments).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garments.models import Garment
from tests.factories import StaffFactory, UserFactory, jpeg_bytes

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"
MB = 1024 * 1024
JSON = "application/json"
MULTIPART_BOUNDARY = "hostile-boundary"


@dataclass
class Case:
    name: str
    method: str
    path: str  # "{pk}" is a garment's id
    body: bytes | None = None
    content_type: str = JSON
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 400
    code: str | None = None  # the error code, where one is promised
    staff: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, content) in files.items():
        head = (
            f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{MULTIPART_BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
DEEP_OBJECT = b'{"q": "dress", "filters": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
VERY_DEEP_ARRAY = b'{"q": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
TRUNCATED_JPEG = jpeg_bytes(size=(256, 256))[:400]
HUGE = b"x" * (50 * MB)

SEARCH_CASES = [
    # bodies that are not what they claim
    Case("malformed JSON", "POST", SEARCH, b'{"q": "dress",', code="parse_error"),
    Case("deeply nested JSON object", "POST", SEARCH, DEEP_OBJECT, code="parse_error"),
    Case("JSON nested past Python's recursion limit", "POST", SEARCH, VERY_DEEP_ARRAY, code="parse_error"),
    Case("not UTF-8", "POST", SEARCH, b'{"q": "\xff\xfe"}', code="parse_error"),
    Case("a JSON array, not an object", "POST", SEARCH, _json(["dress"]), code="invalid_request"),
    Case("a JSON string, not an object", "POST", SEARCH, _json("dress"), code="invalid_request"),
    Case("text/plain body", "POST", SEARCH, b"q=dress", content_type="text/plain", status=415),
    Case(
        "a body without a Content-Type",
        "POST",
        SEARCH,
        _json({"filters": {"status": "sold"}}),
        content_type="",
        status=415,
        code="unsupported_media_type",
    ),
    # wrong types
    Case("q as a list", "POST", SEARCH, _json({"q": ["dress"]}), code="validation_error"),
    Case("q as an object", "POST", SEARCH, _json({"q": {"$ne": ""}}), code="validation_error"),
    Case("limit as a word", "POST", SEARCH, _json({"q": "dress", "limit": "ten"}), code="validation_error"),
    Case("limit as a fraction", "POST", SEARCH, _json({"q": "dress", "limit": 2.5}), code="validation_error"),
    Case("filters as a list", "POST", SEARCH, _json({"q": "dress", "filters": ["red"]}), code="validation_error"),
    Case(
        "a filter value as an object", "POST", SEARCH, _json({"filters": {"brand": {"$gt": ""}}}), code="invalid_filter"
    ),
    Case("explain as a list", "POST", SEARCH, _json({"q": "dress", "explain": [1]}), code="validation_error"),
    Case("similar_to as a word", "POST", SEARCH, _json({"similar_to": "one"}), code="validation_error"),
    Case("similar_to past bigint", "POST", SEARCH, _json({"similar_to": 2**70}), code="validation_error"),
    # unknown names and values
    Case("unknown field", "POST", SEARCH, _json({"query": "dress"}), code="unknown_field"),
    Case("unknown filter", "POST", SEARCH, _json({"filters": {"colour": "red"}}), code="invalid_filter"),
    Case("unknown filter value", "POST", SEARCH, _json({"filters": {"category": "spaceship"}}), code="invalid_filter"),
    Case("unknown status", "POST", SEARCH, _json({"filters": {"status": "stolen"}}), code="invalid_filter"),
    Case(
        "unknown price_range key",
        "POST",
        SEARCH,
        _json({"filters": {"price_range": {"minimum": 5}}}),
        code="invalid_filter",
    ),
    Case("unknown query parameter", "GET", SEARCH, params={"query": "dress"}, code="unknown_field"),
    Case("unknown filter parameter", "GET", SEARCH, params={"colour": "red"}, code="unknown_field"),
    Case("unknown filter value parameter", "GET", SEARCH, params={"category": "spaceship"}, code="invalid_filter"),
    # numbers
    Case("NaN", "POST", SEARCH, b'{"q": "dress", "limit": NaN}', code="parse_error"),
    Case("Infinity price", "POST", SEARCH, b'{"filters": {"price_range": {"min": Infinity}}}', code="parse_error"),
    Case("-Infinity price", "POST", SEARCH, b'{"filters": {"price_range": [-Infinity, 5]}}', code="parse_error"),
    Case("1e999999 price", "POST", SEARCH, b'{"filters": {"price_range": {"max": 1e999999}}}', code="parse_error"),
    Case(
        "1e999999 price as text",
        "POST",
        SEARCH,
        _json({"filters": {"price_range": {"max": "1e999999"}}}),
        code="invalid_filter",
    ),
    Case(
        "1e-999999 price as text",
        "POST",
        SEARCH,
        _json({"filters": {"price_range": {"min": "1e-999999", "max": "x"}}}),
        code="invalid_filter",
    ),
    Case(
        "NaN price as text", "POST", SEARCH, _json({"filters": {"price_range": {"min": "NaN"}}}), code="invalid_filter"
    ),
    Case("absurd price", "POST", SEARCH, _json({"filters": {"price_range": [0, 10**30]}}), code="invalid_filter"),
    Case("negative price", "POST", SEARCH, _json({"filters": {"price_range": [-5, 10]}}), code="invalid_filter"),
    Case("price as a bool", "POST", SEARCH, _json({"filters": {"price_range": [True, 10]}}), code="invalid_filter"),
    Case("an int of 5,000 digits", "POST", SEARCH, b'{"limit": ' + b"9" * 5000 + b"}", code="parse_error"),
    Case("limit 10^9", "POST", SEARCH, _json({"q": "dress", "limit": 10**9}), code="validation_error"),
    Case("limit 10^9 parameter", "GET", SEARCH, params={"limit": 10**9}, code="validation_error"),
    Case("limit as a word parameter", "GET", SEARCH, params={"limit": "ten"}, code="validation_error"),
    Case("price_min 1e999999 parameter", "GET", SEARCH, params={"price_min": "1e999999"}, code="invalid_filter"),
    Case("price_max Infinity parameter", "GET", SEARCH, params={"price_max": "Infinity"}, code="invalid_filter"),
    Case("price_max NaN parameter", "GET", SEARCH, params={"price_max": "NaN"}, code="invalid_filter"),
    Case("price_min huge parameter", "GET", SEARCH, params={"price_min": "9" * 400}, code="invalid_filter"),
    # long, control and unencodable text
    Case("100 KB query", "POST", SEARCH, _json({"q": "dress " * 17_000}), code="validation_error"),
    Case("100 KB query parameter", "GET", SEARCH, params={"q": "dress " * 17_000}, code="validation_error"),
    Case("NUL in q", "POST", SEARCH, _json({"q": "red\x00dress"}), code="validation_error"),
    Case("NUL in q parameter", "GET", SEARCH, params={"q": "red\x00dress"}, code="validation_error"),
    Case("control characters in q", "POST", SEARCH, _json({"q": "red \x1b[31mdress\x07"}), code="validation_error"),
    Case("lone surrogate in q", "POST", SEARCH, b'{"q": "red \\ud800 dress"}', code="validation_error"),
    Case("NUL in a filter", "POST", SEARCH, _json({"filters": {"brand": "nike\x00"}}), code="invalid_filter"),
    Case("NUL in a filter parameter", "GET", SEARCH, params={"brand": "nike\x00"}, code="invalid_filter"),
    Case("lone surrogate in a filter", "POST", SEARCH, b'{"filters": {"brand": "\\udfff"}}', code="invalid_filter"),
    Case(
        "control characters in a filter", "POST", SEARCH, _json({"filters": {"size": "m\x1b"}}), code="invalid_filter"
    ),
    Case(
        "a 1,000-character filter value",
        "POST",
        SEARCH,
        _json({"filters": {"brand": "n" * 1000}}),
        code="invalid_filter",
    ),
    Case("NUL in currency", "POST", SEARCH, _json({"filters": {"currency": "US\x00"}}), code="invalid_filter"),
    # SQL and LIKE metacharacters where only known values are allowed
    Case(
        "SQL in a closed filter", "POST", SEARCH, _json({"filters": {"category": "' OR 1=1 --"}}), code="invalid_filter"
    ),
    Case("LIKE wildcards in a closed filter", "GET", SEARCH, params={"category": "%_%"}, code="invalid_filter"),
    Case("backslash in a closed filter", "GET", SEARCH, params={"material": "\\"}, code="invalid_filter"),
    Case("SQL in currency", "GET", SEARCH, params={"currency": "';--"}, code="invalid_filter"),
    Case("SQL in status", "GET", SEARCH, params={"status": "sold' OR '1'='1"}, code="invalid_filter"),
    # cursors
    Case(
        "forged cursor",
        "POST",
        SEARCH,
        _json({"q": "dress", "cursor": "eyJvIjogMTAwMDAwMDAwMCwgInMiOiAxLCAiZiI6ICIifQ"}),
        code="invalid_search",
    ),
    Case("forged cursor parameter", "GET", SEARCH, params={"cursor": "eyJvIjogLTF9"}, code="invalid_search"),
    Case("a 10 KB cursor", "GET", SEARCH, params={"cursor": "a" * 10_000}, code="validation_error"),
    # multipart
    Case(
        "non-image upload",
        "POST",
        SEARCH,
        _multipart({"q": "dress"}, {"image": ("photo.jpg", b"%PDF-1.4 not a photo")}),
        content_type=MULTIPART,
        code="validation_error",
    ),
    Case(
        "truncated JPEG",
        "POST",
        SEARCH,
        _multipart({}, {"image": ("photo.jpg", TRUNCATED_JPEG)}),
        content_type=MULTIPART,
    ),
    Case(
        "multipart filters not JSON",
        "POST",
        SEARCH,
        _multipart({"filters": "{colour"}, {}),
        content_type=MULTIPART,
        code="validation_error",
    ),
    Case(
        "multipart filters nested deep",
        "POST",
        SEARCH,
        _multipart({"filters": "[" * 500 + "]" * 500}, {}),
        content_type=MULTIPART,
        code="validation_error",
    ),
    Case(
        "multipart unknown field",
        "POST",
        SEARCH,
        _multipart({"query": "dress"}, {}),
        content_type=MULTIPART,
        code="unknown_field",
    ),
    Case(
        "multipart without a boundary",
        "POST",
        SEARCH,
        b"garbage",
        content_type="multipart/form-data",
        code="parse_error",
    ),
    # size and framing
    Case("50 MB JSON body", "POST", SEARCH, HUGE, status=413, code="request_too_large"),
    Case("50 MB multipart body", "POST", SEARCH, HUGE, content_type=MULTIPART, status=413, code="request_too_large"),
    Case(
        "50 MB form body",
        "POST",
        SEARCH,
        HUGE,
        content_type="application/x-www-form-urlencoded",
        status=413,
        code="request_too_large",
    ),
    Case("50 MB body on a GET", "GET", SEARCH, HUGE, status=413, code="request_too_large"),
    Case(
        "chunked body",
        "POST",
        SEARCH,
        _json({"q": "dress", "filters": {"status": "sold"}}),
        headers={"transfer-encoding": "chunked"},
        status=411,
        code="length_required",
    ),
    # similar
    Case(
        "similar: unknown parameter", "GET", "/api/v1/garments/{pk}/similar/", params={"q": "red"}, code="unknown_field"
    ),
    Case(
        "similar: unknown filter value",
        "GET",
        "/api/v1/garments/{pk}/similar/",
        params={"category": "x"},
        code="invalid_filter",
    ),
    Case(
        "similar: forged cursor",
        "GET",
        "/api/v1/garments/{pk}/similar/",
        params={"cursor": "eyJvIjogLTF9"},
        code="invalid_search",
    ),
    Case(
        "similar: limit 10^9", "GET", "/api/v1/garments/{pk}/similar/", params={"limit": 10**9}, code="validation_error"
    ),
    Case(
        "similar: an id past bigint",
        "GET",
        "/api/v1/garments/99999999999999999999999/similar/",
        code="validation_error",
    ),
    # ontology
    Case("ontology: unknown parameter", "GET", "/api/v1/ontology/", params={"x": "1"}, code="unknown_field"),
    Case("ontology: a POST body", "POST", "/api/v1/ontology/", b'{"q":', status=405, code="method_not_allowed"),
    Case("ontology: 50 MB body", "POST", "/api/v1/ontology/", HUGE, status=413, code="request_too_large"),
]

GARMENT_CASES = [
    Case("garments: malformed JSON", "POST", "/api/v1/garments/", b'{"sku": "x", ', staff=True, code="parse_error"),
    Case(
        "garments: deep JSON",
        "POST",
        "/api/v1/garments/",
        b'{"sku": "x", "attributes": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        staff=True,
        code="parse_error",
    ),
    Case(
        "garments: NaN price",
        "POST",
        "/api/v1/garments/",
        b'{"sku": "n", "title": "t", "price": NaN}',
        staff=True,
        code="parse_error",
    ),
    Case("garments: 50 MB body", "POST", "/api/v1/garments/", HUGE, staff=True, status=413, code="request_too_large"),
    Case(
        "garments: PATCH malformed JSON",
        "PATCH",
        "/api/v1/garments/{pk}/",
        b'{"price": ',
        staff=True,
        code="parse_error",
    ),
    Case(
        "garments: PATCH deep JSON",
        "PATCH",
        "/api/v1/garments/{pk}/",
        b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        staff=True,
        code="parse_error",
    ),
    Case(
        "garments: PATCH 50 MB body",
        "PATCH",
        "/api/v1/garments/{pk}/",
        HUGE,
        staff=True,
        status=413,
        code="request_too_large",
    ),
    Case(
        "garments: chunked PATCH",
        "PATCH",
        "/api/v1/garments/{pk}/",
        _json({"title": "changed"}),
        staff=True,
        headers={"transfer-encoding": "chunked"},
        status=411,
        code="length_required",
    ),
]


@pytest.fixture(autouse=True)
def _clear_throttles() -> None:
    cache.clear()


@pytest.fixture
def garment(garment_factory) -> Garment:
    return garment_factory(title="Red wool scarf")


def _client(user: Any) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _catalogue() -> list[tuple[Any, ...]]:
    return list(Garment.objects.order_by("pk").values_list("pk", "sku", "title", "price", "status", "updated_at"))


def _send(case: Case, garment: Garment) -> Any:
    client = _client(StaffFactory.create() if case.staff else UserFactory.create())
    path = case.path.format(pk=garment.pk)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in case.headers.items()}
    if case.params:
        query = "&".join(f"{key}={_quote(value)}" for key, value in case.params.items())
        path = f"{path}?{query}"
    if case.body is None:
        return client.generic(case.method, path, **headers)
    return client.generic(case.method, path, case.body, content_type=case.content_type, **headers)


def _quote(value: Any) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


@pytest.mark.parametrize("case", SEARCH_CASES + GARMENT_CASES, ids=lambda case: case.name)
def test_hostile_input_is_a_4xx_in_the_stable_shape_and_changes_nothing(case, garment, settings):
    settings.CLIP_MODEL_PATH = ""  # image rows must fail on the upload itself, not on a missing model
    before = _catalogue()
    response = _send(case, garment)
    assert response.status_code == case.status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    if case.code:
        assert body["error"]["code"] == case.code, body
    assert _catalogue() == before


def test_an_unknown_field_is_named_with_the_accepted_ones(garment):
    body = _client(UserFactory.create()).post(SEARCH, {"query": "dress", "q": "x"}, format="json").json()
    assert "query" in body["error"]["message"] and "q" in body["error"]["details"]["accepted"]
    assert body["error"]["details"]["unknown"] == ["query"]
    params = _client(UserFactory.create()).get(SEARCH, {"colour": "red"}).json()
    assert params["error"]["details"]["unknown"] == ["colour"] and "primary_color" in params["error"]["message"]


@pytest.mark.parametrize(
    "text",
    ["levi's jeans", "50% off", "under_score", "dress -- sale", "back\\slash", "'; DROP TABLE garments_garment; --"],
)
def test_sql_and_like_metacharacters_in_the_query_are_plain_text(text, garment):
    """A query is words: an apostrophe ("levi's") or a percent sign is searched for, never run."""
    before = _catalogue()
    response = _client(UserFactory.create()).get(SEARCH, {"q": text})
    assert response.status_code == 200, response.content[:500]
    assert _catalogue() == before


def test_a_json_body_just_over_the_limit_is_refused_by_the_parser_before_reading(garment, settings):
    """Over DATA_UPLOAD_MAX_MEMORY_SIZE but under what multipart may carry: the JSON parser refuses it."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _client(UserFactory.create()).generic("POST", SEARCH, _json({"q": "dress " * 200}), content_type=JSON)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_a_multipart_upload_over_the_image_limit_is_refused_before_it_is_parsed(garment, settings, monkeypatch):
    from django.http import multipartparser

    parsed: list[int] = []
    real_parse = multipartparser.MultiPartParser.parse

    def counted_parse(self: Any) -> Any:
        parsed.append(1)
        return real_parse(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", counted_parse)
    settings.SEARCH_MAX_IMAGE_BYTES = 10_000
    photo = jpeg_bytes(size=(512, 512)) + b"\0" * 200_000
    body = _multipart({"q": "dress"}, {"image": ("photo.jpg", photo)})
    response = _client(UserFactory.create()).generic("POST", SEARCH, body, content_type=MULTIPART)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert parsed == []  # refused on its Content-Length: nothing was spooled


def test_request_data_too_big_while_drf_reads_the_body_is_a_413(garment, settings):
    """Django's own limit on multipart fields (RequestDataTooBig) surfaces as a 413 in the stable shape."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = _multipart({"q": "dress " * 1000}, {})
    response = _client(UserFactory.create()).generic("POST", SEARCH, body, content_type=MULTIPART)
    assert response.status_code == 413, response.content[:300]
    assert response.json()["error"]["code"] == "request_too_large"


def test_the_image_upload_limit_is_still_checked_after_parsing(garment, settings):
    settings.SEARCH_MAX_IMAGE_BYTES = 2000
    upload = io.BytesIO(jpeg_bytes(size=(256, 256)) + b"\0" * 2000)
    upload.name = "photo.jpg"
    response = _client(UserFactory.create()).post(SEARCH, {"image": upload}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
