"""The filtered nearest-neighbour planner: exact scan for small filtered sets, HNSW for large ones.

HNSW with a WHERE clause applies the filter after the index hands back ef_search candidates, so a
selective filter silently returns fewer than k rows. Below EXACT_SCAN_MAX_ROWS matching rows the
planner scans them exactly (the b-tree indexes find them; the distance is computed for each).
Above it, HNSW: with pgvector 0.8's iterative scan where the server has it, else with ef_search
raised in proportion to how selective the filter is (pgvector 0.6.2, the embedded server). If the
index still returns fewer than k while more rows match, the planner falls back to the exact scan:
`limit` hits whenever that many garments match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import FloatField, QuerySet, Value
from django.db.models.expressions import CombinedExpression
from pgvector.django import CosineDistance

from garments.models import Garment
from prethrift.db_features import database_features

MAX_EF_SEARCH = 1000  # pgvector's ceiling
# pgvector's default of 40 left some unfiltered queries with 0 of the exact top 10 on the Myntra
# catalogue (docs/search.md); 100 costs a few milliseconds more.
MIN_EF_SEARCH = 100
OVERFETCH_SAFETY = 2.0  # ef_search = k / selectivity x this, for servers without iterative scans


@dataclass(frozen=True)
class VectorResult:
    ids: list[int]
    distances: list[float]
    path: str  # "exact", "hnsw_iterative", "hnsw_overfetch", "hnsw_then_exact"
    filtered_rows: int


def _estimated_selectivity(queryset: QuerySet[Garment], column: str) -> float:
    """Share of vector rows the filter keeps, from PostgreSQL's own estimates (no COUNT of millions)."""
    import json

    with connection.cursor() as cursor:
        sql, params = queryset.values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        rows = float((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Garment._meta.db_table])
        total = float(cursor.fetchone()[0] or 0)
    if total <= 0:  # never analysed: count instead
        total = float(Garment.objects.filter(**{f"{column}__isnull": False}).count())
    return min(1.0, max(rows / max(total, 1.0), 1e-6))


def _count_upto(queryset: QuerySet[Garment], cap: int) -> int:
    return queryset.values("pk")[: cap + 1].count()


def _exact(queryset: QuerySet[Garment], column: str, vector: list[float], k: int) -> tuple[list[int], list[float]]:
    # "+ 0" keeps PostgreSQL from using the HNSW index: only `column <=> constant` matches it.
    distance = CombinedExpression(CosineDistance(column, vector), "+", Value(0.0), output_field=FloatField())
    rows = queryset.annotate(distance=distance).order_by("distance", "pk").values_list("pk", "distance")[:k]
    ids, distances = zip(*rows, strict=True) if rows else ((), ())
    return list(ids), [float(d) for d in distances]


def _hnsw(
    queryset: QuerySet[Garment], column: str, vector: list[float], k: int, local: dict[str, str]
) -> list[tuple[int, float]]:
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in local.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        rows = list(
            queryset.annotate(distance=CosineDistance(column, vector))
            .order_by("distance")
            .values_list("pk", "distance")[:k]
        )
    return sorted(((pk, float(d)) for pk, d in rows), key=lambda row: (row[1], row[0]))  # relaxed order: re-sort


def nearest(queryset: QuerySet[Garment], column: str, vector: list[float], k: int) -> VectorResult:
    """The k garments of `queryset` nearest to `vector` in `column` (cosine), choosing the plan."""
    candidates = queryset.filter(**{f"{column}__isnull": False})
    threshold = settings.SEARCH_EXACT_SCAN_MAX_ROWS
    filtered = _count_upto(candidates, threshold)
    if filtered <= threshold:
        ids, distances = _exact(candidates, column, vector, k)
        return VectorResult(ids, distances, "exact", filtered)
    features = database_features()
    if features.supports_iterative_scan:
        local = {
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": str(max(MIN_EF_SEARCH, min(MAX_EF_SEARCH, 2 * k))),
            "hnsw.max_scan_tuples": str(settings.SEARCH_HNSW_MAX_SCAN_TUPLES),
        }
        path = "hnsw_iterative"
    else:
        selectivity = _estimated_selectivity(candidates, column)
        ef = int(min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, math.ceil(k / selectivity * OVERFETCH_SAFETY))))
        local = {"hnsw.ef_search": str(ef)}
        path = "hnsw_overfetch"
    rows = _hnsw(candidates, column, vector, k, local)
    if len(rows) < k:
        ids, distances = _exact(candidates, column, vector, k)
        return VectorResult(ids, distances, "hnsw_then_exact", filtered)
    return VectorResult([pk for pk, _ in rows], [d for _, d in rows], path, filtered)
