"""Request-level guards that run before any view reads a byte of the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body
from .parsers import content_length, max_multipart_bytes


def max_body_bytes() -> int:
    """The largest body any endpoint accepts: a JSON or form body, or a multipart photo upload."""
    return max(int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE), max_multipart_bytes())


class RequestBodyGuardMiddleware:
    """Refuse bodies the application cannot read whole and bounded.

    Chunked bodies (Transfer-Encoding) are refused with 411 Length Required. Django sizes the body
    it reads by CONTENT_LENGTH, which a chunked request has none of, so it read nothing: a chunked
    PATCH answered 200 and changed nothing, a chunked search ran without its filters. gunicorn
    (gthread) does hand a de-chunked wsgi.input to the application, readable to its end; the
    development server (wsgiref) does not de-chunk at all. Reading them under gunicorn alone would
    make the same request mean two things depending on the server, and without a length no size
    check can come before the read; every HTTP client can send a Content-Length instead.

    A body without a Content-Type under /api/ is refused with 415: DRF would read it as empty.

    A declared Content-Length above the largest body any endpoint accepts is refused with 413
    before the upload is spooled anywhere; the parsers (prethrift.parsers) apply each kind's
    tighter limit.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_TRANSFER_ENCODING" in request.META:
            return JsonResponse(
                error_body(
                    "length_required",
                    "Send the body with a Content-Length; chunked (Transfer-Encoding) bodies are not read.",
                    {"transfer_encoding": request.META["HTTP_TRANSFER_ENCODING"][:100]},
                ),
                status=411,
            )
        length = content_length(request.META)
        if length and not request.META.get("CONTENT_TYPE") and request.path.startswith("/api/"):
            # DRF reads a body without a Content-Type as no body at all: a search would run unfiltered.
            return JsonResponse(
                error_body("unsupported_media_type", "Say what the body is: send a Content-Type header."),
                status=415,
            )
        limit = max_body_bytes()
        if length is not None and length > limit:
            return JsonResponse(
                error_body(
                    "request_too_large",
                    f"The request body is {length} bytes; the limit is {limit}.",
                    {"content_length": length, "limit": limit},
                ),
                status=413,
            )
        return self.get_response(request)
