"""Domain errors and the one DRF exception handler that turns every error into a stable JSON body.

Every 4xx the API returns has the shape {"error": {"code": str, "message": str, "details": ...}}.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
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


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
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
