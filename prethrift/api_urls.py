"""The versioned API (/api/v1/). Each app contributes its routes."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from garments.apis import GarmentViewSet

router = DefaultRouter()
router.register("garments", GarmentViewSet, basename="garment")

urlpatterns = [
    path("", include(router.urls)),
]
