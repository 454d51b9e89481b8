"""Search request and response shapes (documented in the OpenAPI schema)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import serializers

from garments.attributes import ATTRIBUTE_NAMES
from garments.serializers import GarmentSerializer, garment_payload
from prethrift.errors import ApplicationError

from .engine import MAX_CURSOR_CHARS, MAX_LIMIT, MAX_QUERY_CHARS, Hit, HybridSearchEngine, SearchResult

MAX_GARMENT_ID = 2**63 - 1  # bigint
# C0 and C1 controls but tab, newline and carriage return (which the engine folds into spaces): no
# shopper types them; NUL and lone surrogates DRF's CharField refuses already.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class SearchRequestSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=MAX_QUERY_CHARS, default="")
    filters = serializers.DictField(required=False, default=dict, help_text=(
        "Any of the 16 attributes (a value or a list), price_range {min, max} or [min, max], currency, "
        "status (a value, a list or 'any'; available only by default)."
    ))  # fmt: skip
    similar_to = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_GARMENT_ID
    )
    image = serializers.ImageField(required=False, allow_null=True, default=None, help_text="multipart only")
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=MAX_LIMIT)
    cursor = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default=None, max_length=MAX_CURSOR_CHARS,
        help_text="next_cursor of the previous page (signed, valid for 24 hours; results go to rank 1,000)",
    )  # fmt: skip
    explain = serializers.BooleanField(required=False, default=False)
    facets = serializers.BooleanField(required=False, default=True)

    def validate_q(self, value: str) -> str:
        if CONTROL_CHARACTERS.search(value):
            raise serializers.ValidationError("the query holds control characters")
        return value

    def validate_image(self, image: Any) -> Any:
        if image is not None and image.size > settings.SEARCH_MAX_IMAGE_BYTES:
            raise serializers.ValidationError(
                f"the image is {image.size} bytes; the limit is {settings.SEARCH_MAX_IMAGE_BYTES}"
            )
        return image


class UnknownFieldError(ApplicationError):
    code = "unknown_field"


def reject_unknown(given: Any, accepted: Any, what: str) -> None:
    """A misspelt field ("query" for "q") is an error that names it, not a silently broader search."""
    unknown = sorted(str(name)[:100] for name in given if name not in accepted)
    if unknown:
        raise UnknownFieldError(
            f"unknown {what}: {', '.join(unknown[:20])}; accepted: {', '.join(sorted(accepted))}",
            details={"unknown": unknown[:20], "accepted": sorted(accepted)},
        )


def filters_from_query_params(params: Any) -> dict[str, Any]:
    """GET /search/?category=tops&brand=nike&brand=puma&price_min=10&price_max=50&status=any"""
    filters: dict[str, Any] = {}
    for name in (*ATTRIBUTE_NAMES, "status"):
        values = [v for v in params.getlist(name) if v != ""]
        if values:
            filters[name] = values if len(values) > 1 else values[0]
    if params.get("price_min") or params.get("price_max"):
        filters["price_range"] = {"min": params.get("price_min") or None, "max": params.get("price_max") or None}
    if params.get("currency"):
        filters["currency"] = params["currency"]
    return filters


class SignalSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    distance = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True)


class MatchedTermSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    value = serializers.CharField()
    words = serializers.CharField()
    confidence = serializers.FloatField()


class HitSerializer(serializers.Serializer):
    garment = GarmentSerializer()
    score = serializers.FloatField()
    signals = serializers.DictField(child=SignalSerializer(), help_text="with explain: which signals found it")
    matched_terms = MatchedTermSerializer(many=True, help_text="with explain: query terms its attributes match")


class SoftTermSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    value = serializers.CharField()
    confidence = serializers.FloatField()
    words = serializers.CharField()


class ParsedQuerySerializer(serializers.Serializer):
    text = serializers.CharField()
    filters = serializers.DictField(help_text="hard filters read from the text (explicit filters win)")
    soft = SoftTermSerializer(many=True, help_text="boosts, shown to shoppers as removable chips")
    negated = SoftTermSerializer(many=True)
    residual = serializers.CharField()


class SearchResponseSerializer(serializers.Serializer):
    results = HitSerializer(many=True)
    parsed = ParsedQuerySerializer(allow_null=True)
    filters = serializers.DictField(help_text="the filters applied")
    facets = serializers.DictField(allow_null=True, help_text="counts per attribute value, and price buckets")
    next_cursor = serializers.CharField(allow_null=True)
    mode = serializers.CharField()
    planner = serializers.DictField(child=serializers.CharField())
    timings_ms = serializers.DictField(child=serializers.FloatField())


def run_search(values: Mapping[str, Any], *, image: bytes | None = None) -> SearchResult:
    """The engine's search for SearchRequestSerializer's validated values (the photo's bytes apart): the API, the
    search page and the admin's playground ask the engine the same way."""
    return HybridSearchEngine().search(
        query=values["q"],
        image=image,
        similar_to=values["similar_to"],
        filters=values["filters"],
        limit=values["limit"],
        cursor=values["cursor"] or None,
        explain=values["explain"],
        facets=values["facets"],
    )


def _jsonable(value: Any) -> Any:
    return str(value) if value.__class__.__name__ == "Decimal" else value


def result_payload(result: SearchResult, context: dict[str, Any]) -> dict[str, Any]:
    def hit(item: Hit) -> dict[str, Any]:
        return {
            "garment": garment_payload(item.garment, context.get("request")),
            "score": item.score,
            "signals": {name: vars(signal) for name, signal in item.signals.items()},
            "matched_terms": item.matched_terms,
        }

    parsed = result.parsed
    facets = result.facets
    return {
        "results": [hit(item) for item in result.hits],
        "parsed": None if parsed is None else {
            "text": parsed.text,
            "filters": {key: _jsonable(value) for key, value in parsed.filters.items()},
            "soft": [vars(term) for term in parsed.soft],
            "negated": [vars(term) for term in parsed.negated],
            "residual": parsed.residual,
        },
        "filters": result.filters.as_dict(),
        "facets": None if facets is None else {
            "total": facets.total,
            "attributes": {
                name: [{"value": v, "count": n} for v, n in rows] for name, rows in facets.attributes.items()
            },
            "price": [{"min": low, "max": high, "count": n} for low, high, n in facets.prices],
        },
        "next_cursor": result.next_cursor,
        "mode": result.mode,
        "planner": result.planner,
        "timings_ms": result.timings_ms,
    }  # fmt: skip
