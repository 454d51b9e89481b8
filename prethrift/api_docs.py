"""The API docs pages: Swagger UI and ReDoc from drf-spectacular-sidecar's static files, so they render with no
network and under a Content-Security-Policy that names no outside host."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file of its own: the CSP allows no inline script."""


class RedocView(SpectacularRedocView):
    """ReDoc without the Google Fonts links of drf-spectacular's template, and with one CSP addition: ReDoc runs its
    search index in a Web Worker it creates from a blob: URL. (Its bundle also names a logo on cdn.redoc.ly; the
    policy blocks that image, so nothing is fetched from outside and the page shows no logo.)"""

    template_name = "prethrift/redoc.html"

    @extend_schema(exclude=True)  # a page about the API, not an operation of it (as drf-spectacular's own view)
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = f"{settings.CONTENT_SECURITY_POLICY}; worker-src 'self' blob:"
        return response
