"""Facet counts over the filtered set: per attribute, and a price histogram, to offer the next filter."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import QuerySet

from garments.models import Garment

from .metrics import facets_cache_total

FACET_ATTRIBUTES = ("category", "subcategory", "gender", "primary_color", "brand", "size", "condition", "material",
                    "pattern", "style", "occasion")  # fmt: skip
VALUES_PER_FACET = 10
CACHE_VERSION = 1  # of the cached Facets' shape: bump when it changes
# Price bucket edges: round numbers a shopper would pick; the last bucket is open.
PRICE_EDGES = (Decimal(0), Decimal(10), Decimal(25), Decimal(50), Decimal(100), Decimal(200), Decimal(500))


@dataclass
class Facets:
    attributes: dict[str, list[tuple[str, int]]]
    prices: list[tuple[str, str | None, int]]  # (min, max, count); max None: open-ended
    total: int


def _bucket_sql() -> str:
    """The price bucket index of a row as SQL (NULL for no price), matching PRICE_EDGES."""
    cases = " ".join(f"WHEN price < {PRICE_EDGES[index + 1]} THEN {index}" for index in range(len(PRICE_EDGES) - 1))
    return f"CASE WHEN price IS NULL THEN NULL {cases} ELSE {len(PRICE_EDGES) - 1} END"


def compute_facets(queryset: QuerySet[Garment]) -> Facets:
    """Every attribute facet, the price histogram and the total in one scan: GROUP BY GROUPING SETS."""
    inner, params = queryset.order_by().values("price", *FACET_ATTRIBUTES).query.sql_with_params()
    columns = [*(f'"{name}"' for name in FACET_ATTRIBUTES), _bucket_sql()]
    sets = ", ".join(f"({column})" for column in columns) + ", ()"
    flags = ", ".join(f"GROUPING({column})" for column in columns)
    sql = f"SELECT {', '.join(columns)}, {flags}, COUNT(*) FROM ({inner}) AS filtered GROUP BY GROUPING SETS ({sets})"  # noqa: S608
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACET_ATTRIBUTES}
    buckets = [0] * len(PRICE_EDGES)
    total = 0
    width = len(columns)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            values, grouped_out, count = row[:width], row[width : 2 * width], row[-1]
            if all(grouped_out):  # the empty grouping set: every row
                total = count
                continue
            index = grouped_out.index(0)  # the one column this grouping set is about
            if values[index] is None or values[index] == "":
                continue
            if index < len(FACET_ATTRIBUTES):
                counts[FACET_ATTRIBUTES[index]].append((values[index], count))
            else:
                buckets[int(values[index])] = count
    prices = [
        (str(low), str(PRICE_EDGES[i + 1]) if i + 1 < len(PRICE_EDGES) else None, buckets[i])
        for i, low in enumerate(PRICE_EDGES)
    ]
    attributes = {name: sorted(rows, key=lambda r: (-r[1], r[0]))[:VALUES_PER_FACET] for name, rows in counts.items()}
    return Facets(attributes=attributes, prices=prices, total=total)


def cached_facets(queryset: QuerySet[Garment], key: dict[str, Any]) -> Facets:
    """compute_facets, cached for SEARCH_FACETS_CACHE_TTL seconds per filter set (Redis when configured).

    Facets depend on the filters, not on the query text, so one computation serves every search
    with the same filters. `key` must name everything that shapes `queryset` (filters, snapshot);
    the newest garment id in it moves with every new listing. Counts may lag a status change or an
    edit by up to the TTL: the price of a facet scan that costs tens of milliseconds per 100,000 rows.
    """
    ttl = settings.SEARCH_FACETS_CACHE_TTL
    if ttl <= 0:
        return compute_facets(queryset)
    database = connections[queryset.db].settings_dict
    name = f"{database.get('HOST')}:{database.get('PORT')}/{database.get('NAME')}"
    digest = hashlib.sha256(json.dumps([name, key], sort_keys=True, default=str).encode()).hexdigest()
    cache_key = f"facets:{CACHE_VERSION}:{digest}"
    cached = cache.get(cache_key)
    if isinstance(cached, Facets):
        facets_cache_total.labels(result="hit").inc()
        return cached
    facets_cache_total.labels(result="miss").inc()
    facets = compute_facets(queryset)
    cache.set(cache_key, facets, timeout=ttl)
    return facets
