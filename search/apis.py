"""Search endpoints: thin views over HybridSearchEngine; every error is a 4xx with the stable body."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from garments.attributes import ATTRIBUTE_NAMES
from ontology.vocabulary import load_vocabulary
from prethrift import throttling as shared_throttling
from prethrift.errors import ApplicationError
from prethrift.parsers import BoundedFormParser, BoundedJSONParser, BoundedMultiPartParser, loads_bounded

from .serializers import (
    SearchRequestSerializer,
    SearchResponseSerializer,
    filters_from_query_params,
    reject_unknown,
    result_payload,
    run_search,
)

logger = logging.getLogger(__name__)

ERROR_RESPONSE = {
    400: OpenApiTypes.OBJECT,
    401: OpenApiTypes.OBJECT,
    404: OpenApiTypes.OBJECT,
    411: OpenApiTypes.OBJECT,
    413: OpenApiTypes.OBJECT,
    429: OpenApiTypes.OBJECT,
}


class SearchPermission(permissions.BasePermission):
    """Token or session users; anyone when SEARCH_ALLOW_ANONYMOUS is set (a public storefront)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.SEARCH_ALLOW_ANONYMOUS or (request.user and request.user.is_authenticated))


class SearchThrottle(shared_throttling.ScopedRateThrottle):
    scope_attr = "throttle_scope"


class ImageSearchThrottle(shared_throttling.UserRateThrottle):
    """Tighter: an image search runs the CLIP image tower.

    Decided from the Content-Type, before the body is parsed: asking request.FILES parsed the
    multipart body (spooling the upload) before the throttle could refuse it. Every multipart search
    counts, photo or not: a photo is the reason to send multipart."""

    scope = "image_search"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST" or not is_multipart(request):
            return True
        return super().allow_request(request, view)


def is_multipart(request: Request) -> bool:
    return (request.content_type or "").strip().lower().startswith("multipart/")


def _run(request: Request, data: dict[str, Any]) -> Response:
    serializer = SearchRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    image = values["image"].read() if values.get("image") else None
    result = run_search(values, image=image)
    # One line per search for operators: how it ran, never what was asked (the text's length, not the text;
    # the filters' names, not their values). The request id comes from prethrift.logging.
    logger.info(
        "search mode=%s results=%d total_ms=%s",
        result.mode,
        len(result.hits),
        result.timings_ms.get("total_ms"),
        extra={
            "event": "search",
            "mode": result.mode,
            "planner": result.planner,
            "timings_ms": result.timings_ms,
            "results": len(result.hits),
            "query_chars": len(values["q"] or ""),
            "image": image is not None,
            "similar_to": values["similar_to"] is not None,
            "filters": sorted(values["filters"] or {}),
            "limit": values["limit"],
            "next_page": bool(values["cursor"]),
        },
    )
    return Response(result_payload(result, {"request": request}))


SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="shopper text, e.g. 'blue denim jacket under $100'"),
    OpenApiParameter("limit", int, description="1..100, default 20"),
    OpenApiParameter(
        "cursor",
        str,
        description="next_cursor of the previous page (signed, valid for 24 hours; results go to rank 1,000)",
    ),
    OpenApiParameter("explain", bool),
    OpenApiParameter("facets", bool),
    OpenApiParameter("price_min", float),
    OpenApiParameter("price_max", float),
    OpenApiParameter("currency", str),
    OpenApiParameter("status", str, many=True, description="available (default), reserved, sold, or any"),
    *[OpenApiParameter(name, str, many=True, description=f"filter on {name}") for name in ATTRIBUTE_NAMES],
]
# "format" is DRF's own (?format=json picks the renderer).
GET_SEARCH_PARAMETERS = frozenset({parameter.name for parameter in SEARCH_PARAMETERS} | {"format"})
GET_SIMILAR_PARAMETERS = GET_SEARCH_PARAMETERS - {"q"}
BODY_FIELDS = sorted(SearchRequestSerializer().fields)


class SearchView(APIView):
    permission_classes = (SearchPermission,)
    throttle_classes = (SearchThrottle, ImageSearchThrottle)
    throttle_scope = "search"
    parser_classes = (BoundedJSONParser, BoundedMultiPartParser, BoundedFormParser)

    @extend_schema(parameters=SEARCH_PARAMETERS, responses={200: SearchResponseSerializer, **ERROR_RESPONSE})
    def get(self, request: Request) -> Response:
        params = request.query_params
        reject_unknown(params, GET_SEARCH_PARAMETERS, "query parameters")
        data: dict[str, Any] = {
            key: params[key] for key in ("q", "limit", "cursor", "explain", "facets") if key in params
        }
        data["filters"] = filters_from_query_params(params)
        return _run(request, data)

    @extend_schema(request=SearchRequestSerializer, responses={200: SearchResponseSerializer, **ERROR_RESPONSE})
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, Mapping):
            raise ApplicationError("the body is a JSON object of search fields", details={"accepted": BODY_FIELDS})
        data: dict[str, Any] = dict(request.data.items())  # multipart: the last value of each field
        reject_unknown(data, BODY_FIELDS, "fields")
        if isinstance(data.get("filters"), str):  # multipart: filters as a JSON string
            try:
                data["filters"] = loads_bounded(data["filters"].encode("utf-8", "surrogatepass"))
            except ParseError as exc:
                raise ValidationError({"filters": [f"not a JSON object: {exc.detail}"]}) from exc
        return _run(request, data)


class SimilarView(APIView):
    permission_classes = (SearchPermission,)
    throttle_classes = (SearchThrottle,)
    throttle_scope = "search"

    @extend_schema(parameters=SEARCH_PARAMETERS[1:], responses={200: SearchResponseSerializer, **ERROR_RESPONSE})
    def get(self, request: Request, pk: int) -> Response:
        params = request.query_params
        reject_unknown(params, GET_SIMILAR_PARAMETERS, "query parameters")
        data: dict[str, Any] = {key: params[key] for key in ("limit", "cursor", "explain", "facets") if key in params}
        data["filters"] = filters_from_query_params(params)
        data["similar_to"] = pk
        return _run(request, data)


class OntologyView(APIView):
    permission_classes = (SearchPermission,)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """The vocabulary: canonical values and synonyms per attribute (read-only)."""
        reject_unknown(request.query_params, {"format"}, "query parameters")
        return Response(load_vocabulary().to_dict())
