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

import json
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import FloatField, QuerySet, Value
from django.db.models.expressions import CombinedExpression
from pgvector.django import CosineDistance

from garments.models import Garment
from prethrift.db_features import database_features

MAX_EF_SEARCH = 1000  # pgvector's ceiling
# pgvector's default of 40 left some unfiltered queries with 0 of the exact top 10 on the Myntra
# catalogue (docs/search.md); 100 costs a few milliseconds more.
MIN_EF_SEARCH = 100
# Servers without iterative scans: ef_search = k / selectivity x a safety factor that grows from 1.25
# (no filter) to 2 (a very selective one), since what a filter removes near the query varies more
# the more it removes. At 100,000 garments recall@10 stops rising past ef_search ~130 unfiltered
# (0.966 at 128, 0.969 at 222), while time keeps growing (3.1 -> 5.5 ms): docs/performance.md.
OVERFETCH_SAFETY_MIN, OVERFETCH_SAFETY_MAX = 1.25, 2.0
# Row estimates above this multiple of SEARCH_EXACT_SCAN_MAX_ROWS go straight to HNSW; below it a
# bounded count (at most threshold + 1 rows read) decides. PostgreSQL's estimates for one or two
# attribute filters were within 2x of the truth on the benchmark catalogue (docs/performance.md).
ESTIMATE_TRUST_FACTOR = 8
ESTIMATE_TTL_SECONDS = 60.0  # filter sets repeat; the table's statistics change slowly
_ESTIMATE_CACHE_SIZE = 1024


@dataclass(frozen=True)
class VectorResult:
    ids: list[int]
    distances: list[float]
    path: str  # "exact", "hnsw_iterative", "hnsw_overfetch", "hnsw_then_exact"
    filtered_rows: int | None  # counted when small enough to matter; None when the estimate sufficed
    ef_search: int | None = None  # what the HNSW scan ran with; None for an exact scan
    extras: list[tuple[Any, ...]] = field(default_factory=list)  # the `fields` asked for, per id


@dataclass(frozen=True)
class _Filter:
    """A filtered garment set compiled once: its WHERE clause and PostgreSQL's row estimate.

    The statements a search runs per signal are written here in SQL around that clause: compiling
    them through the ORM cost ~1 ms each (a third of a 100,000-garment vector search), for SQL
    that differs only in the query vector. `where` is None when the queryset is not a plain filter
    on the garment table (a join, say): the ORM then builds every statement.
    """

    where: str | None
    params: tuple[Any, ...]
    rows: float  # estimated rows the filter keeps
    total: float  # rows in the table
    at: float


_TABLE = Garment._meta.db_table
_filters: OrderedDict[tuple[str, str, tuple[Any, ...]], _Filter] = OrderedDict()
_filters_lock = threading.Lock()


def _compile(queryset: QuerySet[Garment]) -> _Filter:
    """The queryset's filter and its estimate, cached per filter SQL for ESTIMATE_TTL_SECONDS per process.

    Estimates come from PostgreSQL's planner statistics (EXPLAIN): no COUNT. The same few filter sets
    make up most traffic, and EXPLAIN costs a round trip and a plan.
    """
    connection = connections[queryset.db]
    sql, params = queryset.values("pk").order_by().query.sql_with_params()
    key = (connection.alias, sql, tuple(params))
    now = time.monotonic()
    with _filters_lock:
        cached = _filters.get(key)
        if cached is not None and now - cached.at < ESTIMATE_TTL_SECONDS:
            _filters.move_to_end(key)
            return cached
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        rows = float((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [_TABLE])
        total = float(cursor.fetchone()[0] or 0)
    if total <= 0:  # never analysed (-1): the estimate is a guess; make the caller count
        rows, total = 0.0, 1.0
    head, where = f'SELECT "{_TABLE}"."id" AS "pk" FROM "{_TABLE}"', None  # noqa: S608  (constants)
    if sql == head:
        where = "TRUE"
    elif sql.startswith(head + " WHERE ") and " JOIN " not in sql:
        where = sql.removeprefix(head + " WHERE ")
    compiled = _Filter(where, tuple(params), rows, total, now)
    with _filters_lock:
        _filters[key] = compiled
        while len(_filters) > _ESTIMATE_CACHE_SIZE:
            _filters.popitem(last=False)
    return compiled


def _column(name: str) -> str:
    found = Garment._meta.get_field(name)
    assert isinstance(found, models.Field)  # a concrete column, not a relation
    return str(found.column)


def _columns(fields: Sequence[str], newest: bool) -> str:
    names = [f'"{_TABLE}"."{_column(name)}"' for name in fields]
    return "".join(f", {name}" for name in [*names, *([NEWEST_ID_SQL] if newest else [])])


# The newest garment id, for a first page's cursor: read in the same statement as the candidates.
NEWEST_ID_SQL = f'(SELECT max(id) FROM "{_TABLE}")'  # noqa: S608  (a constant)


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; float32 precision is all a vector column keeps."""
    return "[" + ",".join(f"{x:.8g}" for x in vector) + "]"


def _count_upto(queryset: QuerySet[Garment], compiled: _Filter, cap: int) -> int:
    if compiled.where is None:
        # order_by(): the model's default ordering would sort every matching row before the LIMIT.
        return queryset.order_by().values("pk")[: cap + 1].count()
    sql = f'SELECT count(*) FROM (SELECT 1 FROM "{_TABLE}" WHERE {compiled.where} LIMIT {int(cap) + 1}) AS capped'  # noqa: S608
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, compiled.params)
        return int(cursor.fetchone()[0])


Row = tuple[Any, ...]  # (pk, distance, *fields)


def _orm_rows(ordered: QuerySet[Garment], fields: Sequence[str], newest: bool, k: int) -> list[Row]:
    """The ORM fallback's rows, in the shape the SQL path returns: (pk, distance, *fields[, newest])."""
    return list(ordered.values_list("pk", "distance", *fields, *(["newest"] if newest else []))[:k])


def _nearest_sql(compiled: _Filter, column: str, fields: Sequence[str], newest: bool, order_by: str, k: int) -> str:
    """SELECT id, distance, the fields [, newest] from the compiled filter; the distance's vector is the
    first parameter, then the filter's. (The filter already holds `column IS NOT NULL`.)"""
    return (
        f'SELECT "{_TABLE}"."id", "{_TABLE}"."{column}" <=> %s::vector AS distance{_columns(fields, newest)} '  # noqa: S608
        f'FROM "{_TABLE}" WHERE {compiled.where} ORDER BY {order_by} LIMIT {int(k)}'
    )


def _exact(
    queryset: QuerySet[Garment],
    column: str,
    vector: Sequence[float],
    k: int,
    fields: Sequence[str] = (),
    *,
    compiled: _Filter | None = None,
    newest: bool = False,
) -> list[Row]:
    # "+ 0" keeps PostgreSQL from using the HNSW index: only `column <=> constant` matches it.
    if compiled is None or compiled.where is None:
        distance = CombinedExpression(CosineDistance(column, vector), "+", Value(0.0), output_field=FloatField())
        return _orm_rows(queryset.annotate(distance=distance).order_by("distance", "pk"), fields, newest, k)
    literal = vector_literal(vector)
    order_by = f'("{_TABLE}"."{column}" <=> %s::vector) + 0, "{_TABLE}"."id"'
    sql = _nearest_sql(compiled, column, fields, newest, order_by, k)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, (literal, *compiled.params, literal))
        return list(cursor.fetchall())


# Session settings already applied per database connection: SET once, not per search. Only outside
# transactions (autocommit), where a SET commits at once; inside one, a rollback would undo it behind
# our back, so there the settings are sent every time. A pooler in transaction mode (PgBouncer)
# would break session settings: point DATABASE_URL at PostgreSQL or a session-mode pool.
_applied: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def apply_session_settings(connection: Any, cursor: Any, wanted: dict[str, str]) -> None:
    raw = connection.connection
    state: dict[str, str] | None
    if connection.in_atomic_block:
        _applied.pop(raw, None)  # forget what this connection had: a rollback may undo it
        state = None
    else:
        state = _applied.setdefault(raw, {})
    missing = {name: value for name, value in wanted.items() if state is None or state.get(name) != value}
    if missing:
        cursor.execute("; ".join(f"SET {name} = {value}" for name, value in missing.items()))
        if state is not None:
            state.update(missing)


def _hnsw(queryset: QuerySet[Garment], column: str, vector: Sequence[float], k: int, local: dict[str, str],
          fields: Sequence[str] = (), *, compiled: _Filter, newest: bool = False) -> list[Row]:  # fmt: skip
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        apply_session_settings(connection, cursor, local)
        if compiled.where is None:
            ordered = queryset.annotate(distance=CosineDistance(column, vector)).order_by("distance")
            rows = _orm_rows(ordered, fields, newest, k)
        else:
            # ORDER BY the select list's distance: `column <=> constant`, which the HNSW index serves.
            sql = _nearest_sql(compiled, column, fields, newest, "2", k)
            cursor.execute(sql, (vector_literal(vector), *compiled.params))
            rows = cursor.fetchall()
    return sorted(rows, key=lambda row: (row[1], row[0]))  # relaxed order (iterative scans): re-sort


def nearest(
    queryset: QuerySet[Garment],
    column: str,
    vector: Sequence[float],
    k: int,
    *,
    min_rows: int | None = None,
    fields: Sequence[str] = (),
    newest: bool = False,
) -> VectorResult:
    """The k garments of `queryset` nearest to `vector` in `column` (cosine), choosing the plan.

    `min_rows` (default k): fewer HNSW rows than this means the filter starved the index scan, and
    the planner scans exactly instead. The engine passes the end of the page it must fill: a pool a
    little short of k still ranks the page well, and is far cheaper than an exact scan of 10,000s.
    `fields` come back beside each id (`extras`), so callers need no second query for them, and with
    `newest` the newest garment id after them (the queryset must then carry a `newest` annotation for
    the ORM fallback).
    """
    candidates = queryset.filter(**{f"{column}__isnull": False})
    compiled = _compile(candidates)
    threshold = settings.SEARCH_EXACT_SCAN_MAX_ROWS
    filtered = None
    if compiled.rows <= threshold * ESTIMATE_TRUST_FACTOR:
        filtered = _count_upto(candidates, compiled, threshold)
        if filtered <= threshold:
            rows = _exact(candidates, column, vector, k, fields, compiled=compiled, newest=newest)
            return _result(rows, "exact", filtered)
    rows_kept = max(compiled.rows, float(filtered or 0), 1.0)
    selectivity = min(1.0, max(rows_kept / max(compiled.total, 1.0), 1e-6))
    safety = OVERFETCH_SAFETY_MIN + (OVERFETCH_SAFETY_MAX - OVERFETCH_SAFETY_MIN) * (1 - selectivity)
    ef = int(min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, math.ceil(k / selectivity * safety))))
    if database_features(queryset.db).supports_iterative_scan:
        # The iterative scan goes on until k rows pass the filter, but what it returns is only as good
        # as its candidate list. At 100,000 garments and a 50% filter, recall@10 was 0.932 at a fixed
        # ef_search of 2k and 0.942 sized by selectivity like the overfetch; doubling that (0.946),
        # reading 2k rows (0.943) or strict_order (0.846) bought nothing more (docs/search.md).
        local = {
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": str(ef),
            "hnsw.max_scan_tuples": str(settings.SEARCH_HNSW_MAX_SCAN_TUPLES),
        }
        path = "hnsw_iterative"
    else:
        local = {"hnsw.ef_search": str(ef)}
        path = "hnsw_overfetch"
    rows = _hnsw(candidates, column, vector, k, local, fields, compiled=compiled, newest=newest)
    if len(rows) < min(k, min_rows if min_rows is not None else k):
        rows = _exact(candidates, column, vector, k, fields, compiled=compiled, newest=newest)
        return _result(rows, "hnsw_then_exact", filtered)
    return _result(rows, path, filtered, int(local["hnsw.ef_search"]))


def exact(queryset: QuerySet[Garment], column: str, vector: Sequence[float], k: int) -> VectorResult:
    """The true k nearest by a full scan of `queryset` (ground truth for tests, and the small-set plan)."""
    candidates = queryset.filter(**{f"{column}__isnull": False})
    return _result(_exact(candidates, column, vector, k), "exact", None)


def _result(rows: list[Row], path: str, filtered: int | None, ef_search: int | None = None) -> VectorResult:
    return VectorResult([row[0] for row in rows], [float(row[1]) for row in rows], path, filtered, ef_search,
                        [tuple(row[2:]) for row in rows])  # fmt: skip
