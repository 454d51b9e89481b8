"""Request body parsers that bound what they read: the API's defaults (REST_FRAMEWORK's
DEFAULT_PARSER_CLASSES).

DRF's own parsers read the raw stream: DATA_UPLOAD_MAX_MEMORY_SIZE, which Django applies to
request.body and request.POST, never applied to them; deeply nested JSON raised RecursionError (a
500); NaN, Infinity and 1e999999 passed as floats; and a multipart upload of any size was spooled to
disk before a view could look at its size. These refuse all of that before reading, with a 4xx in
the stable error shape (prethrift.errors).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

# Nesting a request body may have. Our bodies are at most three levels deep (a search's
# filters.price_range); 32 leaves room for any client's envelope and stays far below the depth at
# which Python's JSON decoder raises RecursionError (about 1,000).
MAX_JSON_DEPTH = 32
# What a multipart body adds around the file it carries: boundaries, part headers, the other fields
# of a search (q, filters as JSON, limit ...). 64 KiB is generous: a search's fields are < 2 KiB.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def content_length(meta: Mapping[str, Any]) -> int | None:
    """The declared body length; None when absent or not a number."""
    try:
        length = int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


def _request_meta(parser_context: Mapping[str, Any] | None) -> Mapping[str, Any]:
    request = (parser_context or {}).get("request")
    return getattr(request, "META", {}) if request is not None else {}


def refuse_if_longer(meta: Mapping[str, Any], limit: int) -> None:
    """Refuse a body whose declared length is over `limit`, before a byte of it is read."""
    length = content_length(meta)
    if length is not None and length > limit:
        raise RequestTooLarge(f"The request body is {length} bytes; the limit is {limit}.")


def read_bounded(stream: IO[bytes], limit: int) -> bytes:
    """Read at most `limit` bytes; one byte more means the body (whatever it declared) is too large."""
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
    return raw


_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_CASE_BIT = 0x20  # "{" and "}" are "[" and "]" with this bit set: folding it off counts both kinds
_OPENING, _CLOSING = ord("["), ord("]")


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON body, read before it is decoded.

    Vectorised with numpy (a 10 MB body costs tens of milliseconds; a Python loop per character or
    per decoded container cost seconds): a bracket counts unless it lies inside a string, that is
    after an odd number of unescaped quotes. In UTF-8 no byte of a multi-byte character is ASCII, so
    reading bytes is exact. On a body that is not JSON the figure may be off; the decoder refuses
    that body anyway, and stops at Python's recursion limit whatever this said.
    """
    codes = np.frombuffer(raw, dtype=np.uint8)
    if not len(codes):
        return 0
    folded = codes & np.uint8(0xFF ^ _CASE_BIT)
    positions = np.arange(len(codes), dtype=np.int32)  # bodies are bounded far below 2**31 bytes
    # a quote is escaped when an odd number of backslashes stands right before it
    last_plain = np.maximum.accumulate(np.where(codes != _BACKSLASH, positions, np.int32(-1)))
    backslashes_before = positions - 1 - np.concatenate((np.array([-1], dtype=np.int32), last_plain[:-1]))
    quotes = (codes == _QUOTE) & (backslashes_before % 2 == 0)
    outside = np.cumsum(quotes, dtype=np.int32) % 2 == 0
    steps = (outside & (folded == _OPENING)).astype(np.int32) - (outside & (folded == _CLOSING))
    return int(np.cumsum(steps, dtype=np.int32).max())


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is out of range for a number")
    return number


def loads_bounded(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON body: UTF-8, at most `max_depth` deep, finite numbers only (no NaN, no Infinity,
    no 1e999999); raises ParseError (a 400) otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.ParseError(f"JSON parse error - the body is not UTF-8: {exc.reason}") from None
    too_deep = exceptions.ParseError(f"JSON parse error - nested deeper than {max_depth} levels")
    if json_depth(raw) > max_depth:
        raise too_deep
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise too_deep from None  # a body json_depth misread: the decoder stopped cleanly all the same
    except ValueError as exc:  # JSONDecodeError, the constants above, ints over 4,300 digits
        raise exceptions.ParseError(f"JSON parse error - {exc}") from None
    return value


class BoundedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE, refused by their Content-Length first."""

    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        refuse_if_longer(_request_meta(parser_context), limit)
        if stream is None:
            return {}
        return loads_bounded(read_bounded(stream, limit))


class BoundedFormParser(FormParser):
    """URL-encoded forms up to DATA_UPLOAD_MAX_MEMORY_SIZE (DRF's reads the whole stream)."""

    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        refuse_if_longer(_request_meta(parser_context), limit)
        body = read_bounded(stream, limit) if stream is not None else b""
        return super().parse(io.BytesIO(body), media_type, parser_context)


def max_multipart_bytes() -> int:
    """The largest multipart body accepted: one photo at the image limit, plus the form around it."""
    return int(settings.SEARCH_MAX_IMAGE_BYTES) + MULTIPART_OVERHEAD_BYTES


class BoundedMultiPartParser(MultiPartParser):
    """Multipart bodies refused by their Content-Length before Django's parser spools the upload to
    memory or disk. The stream a WSGI server hands Django is limited to the Content-Length, so the
    declared length bounds what is read; a body without one (chunked) is refused by
    prethrift.middleware before it gets here."""

    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        refuse_if_longer(_request_meta(parser_context), max_multipart_bytes())
        return super().parse(stream, media_type, parser_context)  # type: ignore[arg-type]
