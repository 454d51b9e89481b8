"""Facet counts over the filtered set: per attribute, and a price histogram, to offer the next filter."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
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


def _attribute_counts(queryset: QuerySet[Garment]) -> dict[str, list[tuple[str, int]]]:
    """All attribute facets in one scan of the filtered set: GROUP BY GROUPING SETS."""
    inner, params = queryset.values(*FACET_ATTRIBUTES).query.sql_with_params()
    columns = ", ".join(f'"{name}"' for name in FACET_ATTRIBUTES)
    sets = ", ".join(f'("{name}")' for name in FACET_ATTRIBUTES)
    flags = ", ".join(f'GROUPING("{name}")' for name in FACET_ATTRIBUTES)
    sql = f"SELECT {columns}, {flags}, COUNT(*) FROM ({inner}) AS filtered GROUP BY GROUPING SETS ({sets})"  # noqa: S608
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACET_ATTRIBUTES}
    width = len(FACET_ATTRIBUTES)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            values, grouped_out, total = row[:width], row[width : 2 * width], row[-1]
            index = grouped_out.index(0)  # the one column this grouping set is about
            if values[index]:
                counts[FACET_ATTRIBUTES[index]].append((values[index], total))
    return {name: sorted(rows, key=lambda r: (-r[1], r[0]))[:VALUES_PER_FACET] for name, rows in counts.items()}


def compute_facets(queryset: QuerySet[Garment]) -> Facets:
    attributes = _attribute_counts(queryset)
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
