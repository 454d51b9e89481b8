"""Garment endpoints: list and detail for readers; create, update and delete for staff with the model's
permissions (the ones the admin enforces), with optimistic concurrency by ETag and If-Match."""

from __future__ import annotations

import re
from base64 import b64decode
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from urllib import parse

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from .attributes import ATTRIBUTE_MAX_LENGTH
from .models import Garment
from .selectors import garment_list
from .serializers import GarmentSerializer
from .services import GarmentPreconditionFailed, garment_create, garment_delete, garment_update, garment_version

# Control characters other than tab and line breaks: PostgreSQL refuses NUL in text, and the
# others are never part of a garment's words. Refused (a 400 naming the field), never stripped,
# so what staff sent is either stored as sent or not at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ONE_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# An If-Match value: "*" or a list of quoted (possibly weak) ETags.
CURSOR_KEYS = {"o", "r", "p"}  # offset, reverse, position: what DRF's encode_cursor writes
_ETAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*(?:,|$)')


class GarmentCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor decoding, strict: printable base64 of exactly the keys DRF writes (o, r, p),
        and a position that is an aware timestamp. DRF lets a forged position through to the
        database as a created_at value, which fails there: a 500 instead of a 404."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            if not querystring.isprintable():
                raise ValueError("control characters")
            tokens = parse.parse_qs(querystring, keep_blank_values=True, strict_parsing=bool(querystring))
            if set(tokens) - CURSOR_KEYS or any(len(values) != 1 for values in tokens.values()):
                raise ValueError("unknown or repeated keys")
            offset = min(int(tokens.get("o", ["0"])[0]), self.offset_cutoff)
            reverse = int(tokens.get("r", ["0"])[0])
            position = tokens.get("p", [None])[0]
            if offset < 0 or reverse not in (0, 1):
                raise ValueError("out of range")
            if position is not None and datetime.fromisoformat(position).tzinfo is None:
                raise ValueError("a timestamp without a time zone")
        except ValueError:  # binascii.Error and UnicodeError are ValueErrors too
            raise NotFound(self.invalid_cursor_message) from None
        # DRF's stubs type the position as an int; DRF itself stores the str(created_at) it wrote.
        return Cursor(offset=offset, reverse=bool(reverse), position=cast(Any, position))


def _no_control_characters(value: str) -> None:
    if _CONTROL.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")


def _no_control_characters_on_one_line(value: str) -> None:
    if _ONE_LINE_CONTROL.search(value):
        raise serializers.ValidationError("Control characters and line breaks are not allowed.")


ONE_LINE = [_no_control_characters_on_one_line]
# Descriptions are prose, not documents: the longest in the Myntra sample is under 5,000 characters.
MAX_DESCRIPTION_CHARS = 20_000


def _attribute_value(value: str) -> None:
    _no_control_characters_on_one_line(value)
    if len(value) > ATTRIBUTE_MAX_LENGTH:
        raise serializers.ValidationError(f"At most {ATTRIBUTE_MAX_LENGTH} characters.")


class GarmentWriteSerializer(serializers.Serializer):
    """What staff send. Types, lengths and characters are checked here; the vocabulary, prices and
    codes in the services (one stable error shape). A field it does not know is an error, never
    silently dropped: a typo ("titel") must not answer 200 with nothing changed."""

    sku = serializers.CharField(max_length=64, required=False, validators=ONE_LINE)
    title = serializers.CharField(max_length=300, required=False, validators=ONE_LINE)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_CHARS, required=False, allow_blank=True, validators=[_no_control_characters]
    )
    price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, validators=ONE_LINE)
    status = serializers.CharField(max_length=16, required=False, validators=ONE_LINE)
    attributes = serializers.DictField(
        child=serializers.CharField(allow_blank=True, validators=[_attribute_value]), required=False
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            accepted = sorted(self.fields)
            read_only = set(GarmentSerializer.Meta.fields) - set(accepted)
            errors = {
                name: [
                    f"{name} is read-only." if name in read_only else "Unknown field.",
                    f"Accepted fields: {', '.join(accepted)}.",
                ]
                for name in data
                if name not in self.fields
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class GarmentPermissions(permissions.DjangoModelPermissions):
    """Readers: any authenticated user. Writes: what the admin asks of the same change, staff
    status and the model permission (add_garment, change_garment, delete_garment)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return bool(request.user and request.user.is_staff) and super().has_permission(request, view)


def _if_match(request: Request) -> str | None:
    """The version an If-Match header names (None when absent or "*"); a malformed one is a 412."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tags = _ETAG.findall(header)
    if len(tags) != 1:
        raise GarmentPreconditionFailed(
            'If-Match takes the one ETag a read returned, such as "12-5f1c0a3b2d4e0".', details={"if_match": header}
        )
    return str(tags[0])


def _with_etag(response: Response, garment: Garment) -> Response:
    response["ETag"] = f'"{garment_version(garment)}"'
    return response


_ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description='{"error": {"code", "message", "details"}}')
_READ_ERRORS = {401: _ERROR, 403: _ERROR, 404: _ERROR, 429: _ERROR}
_WRITE_ERRORS = {400: _ERROR, 409: _ERROR, 412: _ERROR, **_READ_ERRORS}


# Writes take GarmentWriteSerializer and answer with the garment as GET shows it (GarmentSerializer):
# the schema says so, so clients and the fuzzer (tests/fuzz) check the real response shape.
@extend_schema_view(
    list=extend_schema(responses={200: GarmentSerializer(many=True), 400: _ERROR, **_READ_ERRORS}),
    retrieve=extend_schema(responses={200: GarmentSerializer, **_READ_ERRORS}),
    create=extend_schema(request=GarmentWriteSerializer, responses={201: GarmentSerializer, **_WRITE_ERRORS}),
    update=extend_schema(request=GarmentWriteSerializer, responses={200: GarmentSerializer, **_WRITE_ERRORS}),
    partial_update=extend_schema(request=GarmentWriteSerializer, responses={200: GarmentSerializer, **_WRITE_ERRORS}),
    destroy=extend_schema(responses={204: None, **_WRITE_ERRORS}),
)
class GarmentViewSet(viewsets.ModelViewSet):
    serializer_class = GarmentSerializer
    pagination_class = GarmentCursorPagination
    permission_classes = (GarmentPermissions,)

    def get_queryset(self) -> QuerySet[Garment]:
        return garment_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return GarmentSerializer if self.request.method in permissions.SAFE_METHODS else GarmentWriteSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        garment = self.get_object()
        return _with_etag(Response(GarmentSerializer(garment, context={"request": request}).data), garment)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = GarmentWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        missing = [name for name in ("sku", "title") if name not in data]
        if missing:
            raise serializers.ValidationError({name: ["This field is required."] for name in missing})
        garment = garment_create(**{k: v for k, v in data.items() if k != "attributes"},
                                 attributes=data.get("attributes"))  # fmt: skip
        response = Response(GarmentSerializer(garment, context={"request": request}).data, status.HTTP_201_CREATED)
        return _with_etag(response, garment)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        garment = self.get_object()
        expected = _if_match(request)
        incoming = GarmentWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        attributes = data.pop("attributes", None)
        sku = data.pop("sku", None)
        if sku is not None and " ".join(sku.split()) != garment.sku:
            raise serializers.ValidationError(
                {"sku": ["The sku is fixed once the garment exists: imports match on it."]}
            )
        garment = garment_update(garment=garment, listing=data, attributes=attributes, expected_version=expected)
        return _with_etag(Response(GarmentSerializer(garment, context={"request": request}).data), garment)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        garment = self.get_object()
        garment_delete(garment_id=garment.pk, expected_version=_if_match(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
