"""URL root: admin, the versioned API, its schema and docs, health and metrics."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("prethrift.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
    path("", include("django_prometheus.urls")),
]
# Django's own errors (no route, a bad Host, a body too large, an unhandled exception) in the API's
# JSON shape; prethrift.errors says when a browser gets the HTML page instead.
handler400 = "prethrift.errors.bad_request"
handler403 = "prethrift.errors.permission_denied"
handler404 = "prethrift.errors.page_not_found"
handler500 = "prethrift.errors.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
