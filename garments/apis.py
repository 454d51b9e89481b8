"""Read-only garment endpoints (list, detail). Writes and search arrive with the search API."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.pagination import CursorPagination

from .models import Garment
from .selectors import garment_list
from .serializers import GarmentSerializer


class GarmentCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class GarmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = GarmentSerializer
    pagination_class = GarmentCursorPagination

    def get_queryset(self) -> QuerySet[Garment]:
        return garment_list()
