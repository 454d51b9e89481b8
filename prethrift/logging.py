"""Structured logs: one JSON object per line in production, readable text elsewhere, and a request id
on every line logged while a request is served.

The request id is the proxy's X-Request-ID when it is a sane token (nginx's $request_id is 32 hex
digits), otherwise one made here; it is echoed in the response's X-Request-ID header, so a client's
report, the proxy's log and ours meet on one value. Nothing here logs a header, a query string or a
body: a search's text and a client's token never reach a log line through this module.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and . _ : - up to 128 characters: a uuid, nginx's $request_id, a load balancer's trace id.
# Anything else (spaces, quotes, newlines, a header stuffed with a payload) is replaced, never logged.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
request_logger = logging.getLogger("prethrift.request")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def current_request_id() -> str:
    """The id of the request this thread serves, or '-' outside a request."""
    return request_id_var.get()


def request_id_from(header: str | None) -> str:
    """The proxy's id when it is a sane token, else a new one (32 hex digits, like nginx's)."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record, for either formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        # django.request attaches the request to its records: its repr holds the query string (what a shopper
        # typed). The request line of RequestIdMiddleware has the method and path under the same id.
        if isinstance(entry.get("request"), HttpRequest):
            entry["request"] = {"method": entry["request"].method, "path": entry["request"].path}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_jsonable, ensure_ascii=False)


def _jsonable(value: object) -> str:
    """Plain values (a Decimal, a path, a time, a uuid) as their text; any other object as its type's name
    only, since an object's text may hold what it was built from (a request's URL, a connection's password)."""
    if isinstance(value, Decimal | PurePath | datetime.date | datetime.time | uuid.UUID | Enum):
        return str(value)
    return f"<{type(value).__name__}>"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_format() -> str:
    """'json' or 'text': DJANGO_LOG_FORMAT (LOG_FORMAT) when set, else JSON in production only."""
    chosen = str(getattr(settings, "LOG_FORMAT", "") or "")
    if chosen:
        return chosen
    return "json" if getattr(settings, "SETTINGS_MODE", "") == "production" else "text"


def configured_formatter() -> logging.Formatter:
    """The formatter LOGGING names: built when Django configures logging, after every settings module ran."""
    return JsonFormatter() if log_format() == "json" else logging.Formatter(TEXT_FORMAT)


class RequestIdMiddleware:
    """First in MIDDLEWARE: sets the request id for every log line of the request, echoes it in the
    response, and logs one line per request (method, path without its query string, status, duration)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "event": "request",
                    "method": request.method,
                    "path": request.path,  # never the query string: it holds what shoppers typed
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
