"""The versioned API (/api/v1/). Each app contributes its routes."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from garments.apis import GarmentViewSet
from search.apis import OntologyView, SearchView, SimilarView

router = DefaultRouter()
router.register("garments", GarmentViewSet, basename="garment")

urlpatterns = [
    path("search/", SearchView.as_view(), name="search"),
    path("garments/<int:pk>/similar/", SimilarView.as_view(), name="garment-similar"),
    path("ontology/", OntologyView.as_view(), name="ontology"),
    path("", include(router.urls)),
]
