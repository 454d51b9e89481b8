"""A database that does not answer is a 503 the client can retry, never a 500 with a traceback.

When PostgreSQL restarts, fails over or refuses connections, every view that touches it raises
django.db's OperationalError or InterfaceError. This middleware answers those with 503 and the
stable error body ({"error": {"code": "service_unavailable", ...}}) plus Retry-After, so load
balancers and clients back off and retry. Nothing else is needed to recover: the broken connection
is closed at the end of the request (Django's close_old_connections with CONN_HEALTH_CHECKS), and
the next request connects afresh, so gunicorn keeps running through the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from prometheus_client import Counter

from prethrift.errors import error_body

logger = logging.getLogger(__name__)

# Seconds a client should wait: a PostgreSQL restart or failover takes a few seconds.
RETRY_AFTER_SECONDS = 5

database_unavailable_responses_total = Counter(
    "database_unavailable_responses_total", "Requests answered 503 because the database did not answer."
)


def service_unavailable_response(message: str) -> JsonResponse:
    response = JsonResponse(error_body("service_unavailable", message), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Maps a view's database OperationalError/InterfaceError to 503 service_unavailable with Retry-After.

    Listed last in MIDDLEWARE (before Prometheus's, which counts the exception first), so it sees the
    exception before any other middleware turns it into a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        database_unavailable_responses_total.inc()
        # One line, no traceback: during an outage every request logs this, and the cause is in the message.
        logger.error("database unavailable for %s %s: %s", request.method, request.path, str(exception).strip())
        return service_unavailable_response("The database is unavailable; retry shortly.")
