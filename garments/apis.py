"""Garment endpoints: list and detail for readers; create, update and delete for staff."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Garment
from .selectors import garment_list
from .serializers import GarmentSerializer
from .services import garment_create, garment_update


class GarmentCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class GarmentWriteSerializer(serializers.Serializer):
    """What staff send; validation beyond types happens in the services (one stable error shape)."""

    sku = serializers.CharField(max_length=64, required=False)
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False)
    status = serializers.CharField(required=False)
    attributes = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class StaffWritesReadersRead(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return bool(request.user and request.user.is_staff)


class GarmentViewSet(viewsets.ModelViewSet):
    serializer_class = GarmentSerializer
    pagination_class = GarmentCursorPagination
    permission_classes = (StaffWritesReadersRead,)

    def get_queryset(self) -> QuerySet[Garment]:
        return garment_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return GarmentSerializer if self.request.method in permissions.SAFE_METHODS else GarmentWriteSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = GarmentWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        if "sku" not in data or "title" not in data:
            raise serializers.ValidationError({"sku": "required", "title": "required"})
        garment = garment_create(**{k: v for k, v in data.items() if k != "attributes"},
                                 attributes=data.get("attributes"))  # fmt: skip
        return Response(GarmentSerializer(garment, context={"request": request}).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        garment = self.get_object()
        incoming = GarmentWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        attributes = data.pop("attributes", None)
        data.pop("sku", None)  # identity: imports match on it
        garment_update(garment=garment, listing=data, attributes=attributes)
        return Response(GarmentSerializer(garment, context={"request": request}).data)
