"""Domain errors, the one DRF exception handler, and Django's error views, all answering one stable
JSON body.

Every 4xx (and the 500) has the shape {"error": {"code": str, "message": str, "details": ...}}.

Django's own error views (handler400/403/404/500 in prethrift.urls) answer it too: for a 404 at an
unknown /api/ path, a bad Host header, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, an unhandled error.
They answer JSON for every path, except that a client outside /api/ whose Accept header names
text/html (a browser on the admin) gets Django's HTML page: JSON is what API clients, curl and
load balancers can read, and a person in a browser keeps a page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A domain error a client can act on: it becomes a 4xx with a stable code."""

    code = "invalid_request"
    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}


class NotFoundError(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def _suspicious(exc: SuspiciousOperation) -> tuple[int, str, str]:
    """Status, code and message for a request Django found suspicious (its messages are for logs)."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", "The request body is too large."
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return 400, "too_many_fields", "The request has too many fields or files."
    if isinstance(exc, DisallowedHost):
        return 400, "bad_host", "The Host header names no site this server answers for."
    return 400, "bad_request", "The request is not valid."


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, SuspiciousOperation):  # e.g. RequestDataTooBig while DRF reads request.data
        status_code, code, message = _suspicious(exc)
        return Response(error_body(code, message), status=status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None  # not an API error: Django's 500 handling and logging take over
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", "The request is not valid.", response.data)
    else:
        codes = exc.get_codes()
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        body = error_body(codes if isinstance(codes, str) else exc.default_code, str(detail))
    response.data = body
    return response


# --- Django's error views (handler400, handler403, handler404, handler500 in prethrift.urls) ---------


def _wants_html(request: HttpRequest) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, SuspiciousOperation):
        status_code, code, message = _suspicious(exception)
    else:
        status_code, code, message = 400, "bad_request", "The request is not valid."
    return JsonResponse(error_body(code, message), status=status_code)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", "Nothing here.", {"path": request.path[:200]}), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_html(request):
        return defaults.server_error(request)
    return JsonResponse(error_body("server_error", "Something went wrong on our side; it has been logged."), status=500)
