"""The versioned API (/api/v1/). Each app contributes its routes."""

from typing import Any

from django.urls import include, path
from rest_framework import permissions, routers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from garments.apis import GarmentViewSet
from search.apis import OntologyView, SearchView, SimilarView


class APIRootView(routers.APIRootView):
    """Prethrift's search and catalogue API.

    **Getting a token.** Send `Authorization: Token <key>` with every request. Staff create a key for a user in
    the admin (/admin/, then Auth Token, Tokens, Add), or an operator runs
    `python manage.py drf_create_token <username>`; `make demo` prints the demo client's token. A browser signed
    in to the admin is authenticated by its session, so these pages work without a token.
    Search answers without one when the site is a public storefront (`SEARCH_ALLOW_ANONYMOUS`).

    **Start here.** `GET search/?q=blue+denim+jacket+under+$100&explain=true`; a photo: `POST search/` as
    multipart with `image`; more like a garment: `GET garments/{id}/similar/`. Every operation, with its
    parameters and error shapes, is documented at /api/docs/ (Swagger UI) and /api/redoc/ (ReDoc), served from
    this server: they work with no network.
    """

    # The root lists addresses and says how to get a token: someone without one must be able to read it.
    permission_classes = (permissions.AllowAny,)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The router's resources, with the search endpoints beside them."""
        response = super().get(request, *args, **kwargs)
        # No format suffix on these: /api/v1/.json is the root as JSON, and search/ and ontology/ have no
        # suffixed routes (?format=json works on every endpoint).
        extra = {
            "search": reverse("search", request=request),
            "ontology": reverse("ontology", request=request),
            "docs": reverse("swagger-ui", request=request),
        }
        return Response({**extra, **response.data})


class Router(routers.DefaultRouter):
    APIRootView = APIRootView


router = Router()
router.register("garments", GarmentViewSet, basename="garment")

urlpatterns = [
    path("search/", SearchView.as_view(), name="search"),
    path("garments/<int:pk>/similar/", SimilarView.as_view(), name="garment-similar"),
    path("ontology/", OntologyView.as_view(), name="ontology"),
    path("", include(router.urls)),
]
