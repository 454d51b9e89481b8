"""Security middleware: who may read /metrics, the Content-Security-Policy header, admin sign-in throttling.

Settings (docs/deployment.md#security): METRICS_TOKEN, METRICS_PUBLIC, CONTENT_SECURITY_POLICY,
CONTENT_SECURITY_POLICY_API, ADMIN_LOGIN_FAILURES_PER_USERNAME, ADMIN_LOGIN_FAILURES_PER_ADDRESS,
ADMIN_LOGIN_WINDOW_SECONDS, NUM_PROXIES.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import reverse
from django.utils.html import escape
from django_prometheus.exports import ExportToDjangoView  # type: ignore[import-untyped]
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.throttling import BaseThrottle

from prethrift import throttling
from prethrift.errors import error_body
from prethrift.metrics import metrics_view

GetResponse = Callable[[HttpRequest], HttpResponseBase]


def client_address(request: HttpRequest) -> str:
    """The client's address as the throttles see it: the socket's, or X-Forwarded-For's entry written by
    the NUM_PROXIES-th proxy of ours; never a value the client chose (REST_FRAMEWORK NUM_PROXIES)."""
    return str(BaseThrottle().get_ident(request))  # type: ignore[arg-type]


class MetricsAccessMiddleware:
    """/metrics answers a bearer of METRICS_TOKEN; without a token it is open only where METRICS_PUBLIC
    (local and demo), and is otherwise not found (production)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], *args: Any) -> HttpResponseBase | None:
        if view_func is not ExportToDjangoView and view_func is not metrics_view:
            return None
        token: str = settings.METRICS_TOKEN
        if not token:
            if settings.METRICS_PUBLIC:
                return None
            return JsonResponse(error_body("not_found", "Not found."), status=404)
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
            return None
        response = JsonResponse(
            error_body("not_authenticated", "Metrics need Authorization: Bearer <METRICS_TOKEN>."), status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every response: CONTENT_SECURITY_POLICY on HTML pages (admin, API
    docs), CONTENT_SECURITY_POLICY_API (nothing may load) on the rest."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        if response.get("Content-Type", "").startswith("text/html"):
            policy: str = settings.CONTENT_SECURITY_POLICY
            match = getattr(request, "resolver_match", None)
            # drf-spectacular's Swagger page (not its split variant) initialises with an inline script.
            if match is not None and getattr(match.func, "view_class", None) is SpectacularSwaggerView:
                policy = policy.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
        else:
            policy = settings.CONTENT_SECURITY_POLICY_API
        if policy:
            response["Content-Security-Policy"] = policy
        return response


class AdminLoginThrottleMiddleware:
    """Refuses admin sign-in (429) after ADMIN_LOGIN_FAILURES_PER_ADDRESS failures from one client
    address, or ADMIN_LOGIN_FAILURES_PER_USERNAME for one username, within ADMIN_LOGIN_WINDOW_SECONDS.

    Counts live in the shared throttle store. A failure is a POST the login form answers with the form
    again (200); a successful sign-in redirects. The per-username limit lets an attacker pause one
    account's sign-in for a window: the price of stopping password guessing from many addresses.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        window = int(settings.ADMIN_LOGIN_WINDOW_SECONDS)
        keys = {
            f"admin-login:address:{client_address(request)}": int(settings.ADMIN_LOGIN_FAILURES_PER_ADDRESS),
            f"admin-login:username:{_username_digest(request)}": int(settings.ADMIN_LOGIN_FAILURES_PER_USERNAME),
        }
        if any(throttling.count(key, window) >= limit for key, limit in keys.items()):
            return _refusal(window)
        response = self.get_response(request)
        if response.status_code == 200:  # the form again: wrong credentials
            for key in keys:
                throttling.hit(key, window)
        return response


def _username_digest(request: HttpRequest) -> str:
    username = str(request.POST.get("username", "")).strip().lower()
    return hashlib.sha256(username.encode()).hexdigest()[:32]


def _refusal(window: int) -> HttpResponse:
    wait = math.ceil(throttling.seconds_left_in_window(window))
    minutes = max(1, math.ceil(wait / 60))
    response = HttpResponse(
        "<!DOCTYPE html><title>Too many sign-in attempts</title><h1>Too many failed sign-in attempts</h1>"
        f"<p>{escape('Sign-in for this account or from this address is paused.')} "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.</p>",
        status=429,
        content_type="text/html; charset=utf-8",
    )
    response["Retry-After"] = str(wait)
    return response
