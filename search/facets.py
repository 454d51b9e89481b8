"""Facet counts over the filtered set: per attribute, and a price histogram, to offer the next filter."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from garments.models import Garment

FACET_ATTRIBUTES = ("category", "subcategory", "gender", "primary_color", "brand", "size", "condition", "material",
                    "pattern", "style", "occasion")  # fmt: skip
VALUES_PER_FACET = 10
# Price bucket edges: round numbers a shopper would pick; the last bucket is open.
PRICE_EDGES = (Decimal(0), Decimal(10), Decimal(25), Decimal(50), Decimal(100), Decimal(200), Decimal(500))


@dataclass
class Facets:
    attributes: dict[str, list[tuple[str, int]]]
    prices: list[tuple[str, str | None, int]]  # (min, max, count); max None: open-ended
    total: int


def compute_facets(queryset: QuerySet[Garment]) -> Facets:
    attributes = {}
    for name in FACET_ATTRIBUTES:
        rows = (
            queryset.exclude(**{name: ""}).values(name).annotate(n=Count("pk")).order_by("-n", name)[:VALUES_PER_FACET]
        )
        attributes[name] = [(row[name], row["n"]) for row in rows]
    buckets = {}
    for index, low in enumerate(PRICE_EDGES):
        high = PRICE_EDGES[index + 1] if index + 1 < len(PRICE_EDGES) else None
        condition = Q(price__gte=low) & (Q(price__lt=high) if high is not None else Q())
        buckets[f"b{index}"] = Count("pk", filter=condition)
    counts = queryset.aggregate(total=Count("pk"), **buckets)
    prices = [
        (str(low), str(PRICE_EDGES[i + 1]) if i + 1 < len(PRICE_EDGES) else None, counts[f"b{i}"])
        for i, low in enumerate(PRICE_EDGES)
    ]
    return Facets(attributes=attributes, prices=prices, total=counts["total"])
