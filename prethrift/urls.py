"""URL root: the search page, admin, the versioned API, its schema and docs, health and metrics."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from prethrift import health
from prethrift.api_docs import RedocView, SwaggerView
from prethrift.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("prethrift.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),  # offline: prethrift/api_docs.py
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("storefront.urls")),
    path("metrics", metrics_view, name="prometheus-django-metrics"),  # every process: prethrift/metrics.py
]
# Django's own errors (no route, a bad Host, a body too large, an unhandled exception) in the API's
# JSON shape; prethrift.errors says when a browser gets the HTML page instead.
handler400 = "prethrift.errors.bad_request"
handler403 = "prethrift.errors.permission_denied"
handler404 = "prethrift.errors.page_not_found"
handler500 = "prethrift.errors.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
