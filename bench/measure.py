"""Recall and latency of the engine against exact search and against the bare SQL it sits on."""

from __future__ import annotations

import functools
import json
import math
import random
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from bench.catalogue import SourceRow
from embeddings.query import embed_query
from garments.models import Garment
from ontology.query import parse_query
from search.engine import HybridSearchEngine, keyword_words
from search.filters import parse_filters
from search.planner import nearest, vector_literal

K = 10
PAGE = 20  # results per page in every timed search; the engine asks the planner for at least this many
FILTER_TARGETS = {"filter_1pct": 0.01, "filter_10pct": 0.10, "filter_50pct": 0.50}
FILTER_ATTRIBUTES = ("gender", "category", "subcategory", "primary_color", "occasion", "season", "size", "condition")
NAIVE_EF_SEARCH = 40  # pgvector's default: what a plain WHERE + ORDER BY distance query runs with
COLUMN = "text_embedding_vec"


@dataclass(frozen=True)
class Scenario:
    name: str
    filters: dict[str, Any]
    share: float  # of the available garments


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]

    return {"p50": round(at(0.50), 2), "p95": round(at(0.95), 2), "p99": round(at(0.99), 2),
            "mean": round(statistics.fmean(ordered), 2)}  # fmt: skip


def pick_scenarios() -> list[Scenario]:
    """One attribute value per target share of the available garments: about 1%, 10% and 50%."""
    available = Garment.objects.filter(status="available").order_by()
    total = available.count()
    shares: list[tuple[str, str, float]] = []
    for attribute in FILTER_ATTRIBUTES:
        for value, count in available.exclude(**{attribute: ""}).values_list(attribute).annotate(n=Count("pk")):
            shares.append((attribute, value, count / total))
    scenarios = [Scenario("unfiltered", {}, 1.0)]
    for name, target in FILTER_TARGETS.items():
        attribute, value, share = min(shares, key=lambda s: (abs(math.log(s[2] / target)), s[0], s[1]))
        scenarios.append(Scenario(name, {attribute: value}, round(share, 4)))
    return scenarios


def bench_queries(rows: list[SourceRow], count: int, evaluation: Path) -> list[str]:
    """Shopper queries from the evaluation set, then titles of catalogue rows as queries, deterministic."""
    queries = [json.loads(line)["query"] for line in evaluation.read_text().splitlines() if line.strip()]
    rng = random.Random(7)  # noqa: S311  (a fixed sample of queries, not a secret)
    for row in rng.sample(rows, min(len(rows), count)):
        words = row.title.lower().split()
        queries.append(" ".join(words[1:] if len(words) > 2 else words))  # drop the brand: how shoppers type
    return list(dict.fromkeys(queries))[:count]


def query_vectors(queries: list[str]) -> list[list[float]]:
    vectors = []
    for query in queries:
        vector = embed_query(query, "text")
        if vector is None:
            raise RuntimeError("no text encoder is configured")
        vectors.append([float(x) for x in vector])
    return vectors


def _base(scenario: Scenario) -> Any:
    return Garment.objects.filter(parse_filters(scenario.filters).q())


TIE_EPSILON = 1e-5  # float32 distances computed by PostgreSQL and numpy differ by ~1e-7


class Truth:
    """Exact nearest neighbours by brute force in numpy (float64), independent of the index under test.

    Scanning 100,000 rows in PostgreSQL for every query and filter takes minutes; reading every
    vector once and multiplying takes seconds. A returned garment counts as a true neighbour when its
    distance is within the 10th true distance (ann-benchmarks' rule): the catalogue repeats titles,
    so several garments often tie at a distance, and any of them is a right answer.
    """

    def __init__(self, scenarios: list[Scenario], vectors: list[list[float]], raw: psycopg.Connection) -> None:
        attributes = sorted({name for scenario in scenarios for name in scenario.filters})
        columns = ", ".join(["id", "status", *(f'"{name}"' for name in attributes), COLUMN])
        ids: list[int] = []
        keep: dict[str, list[bool]] = {s.name: [] for s in scenarios}
        matrix = []
        with raw.transaction(), raw.cursor(name="bench_truth") as cursor:  # server-side: bounded memory
            cursor.itersize = 20_000
            cursor.execute(f"SELECT {columns} FROM garments_garment WHERE {COLUMN} IS NOT NULL ORDER BY id")  # noqa: S608
            for row in cursor:
                ids.append(row[0])
                values = dict(zip(attributes, row[2:-1], strict=True))
                for scenario in scenarios:
                    keep[scenario.name].append(
                        row[1] == "available" and all(values[k] == v for k, v in scenario.filters.items())
                    )
                vector = row[-1]
                matrix.append(vector.to_numpy() if hasattr(vector, "to_numpy") else np.asarray(vector, np.float32))
        self.rows = np.vstack(matrix).astype(np.float64)
        self.rows /= np.linalg.norm(self.rows, axis=1, keepdims=True)
        self.index = {pk: i for i, pk in enumerate(ids)}
        self.queries = np.asarray(vectors, dtype=np.float64)
        self.queries /= np.linalg.norm(self.queries, axis=1, keepdims=True)
        masks = {name: np.asarray(flags) for name, flags in keep.items()}
        # per scenario and query: (the 10th smallest distance, how many rows the filter keeps, up to 10)
        self.cutoffs: dict[str, list[tuple[float, int]]] = {name: [] for name in masks}
        for start in range(0, len(self.queries), 16):  # 16 queries x 1M rows of doubles: 128 MB at a time
            distances = 1.0 - self.queries[start : start + 16] @ self.rows.T
            for name, mask in masks.items():
                for row in distances[:, mask]:
                    available = min(K, len(row))
                    cutoff = float(np.partition(row, available - 1)[available - 1]) if available else 0.0
                    self.cutoffs[name].append((cutoff, available))

    def recall(self, scenario: str, query: int, returned: list[int]) -> tuple[int, int]:
        """(true neighbours among the first 10 returned, how many there could be)."""
        cutoff, available = self.cutoffs[scenario][query]
        vector = self.queries[query]
        rows = [self.index[pk] for pk in returned[:K] if pk in self.index]
        hits = int(np.sum(1.0 - self.rows[rows] @ vector <= cutoff + TIE_EPSILON)) if rows else 0
        return hits, available


def recall(scenarios: list[Scenario], vectors: list[list[float]], raw: psycopg.Connection,
           truth: Truth | None = None) -> dict[str, Any]:  # fmt: skip
    """recall@10 of the engine's vector path (the planner, as the engine calls it) and of the naive query.

    `truth` is built here unless given: the command builds it once and shares it with the peer engine.
    """
    pool = settings.SEARCH_CANDIDATES_PER_SIGNAL
    if truth is None:
        truth = Truth(scenarios, vectors, raw)
    engine_recall: dict[str, float] = {}
    naive_recall: dict[str, float] = {}
    paths: dict[str, dict[str, int]] = {}
    for scenario in scenarios:
        base = _base(scenario)
        found, naive_found, possible = 0, 0, 0
        counter: dict[str, int] = {}
        where, params = _where_sql(scenario)
        for number, vector in enumerate(vectors):
            result = nearest(base, COLUMN, vector, pool, min_rows=PAGE)
            counter[result.path] = counter.get(result.path, 0) + 1
            hits, available = truth.recall(scenario.name, number, result.ids)
            found += hits
            possible += available
            with raw.transaction():
                raw.execute(f"SET LOCAL hnsw.ef_search = {NAIVE_EF_SEARCH}")
                naive = raw.execute(
                    f"SELECT id FROM garments_garment WHERE {where} ORDER BY {COLUMN} <=> %s::vector LIMIT {K}",  # noqa: S608
                    [*params, vector_literal(vector)],
                ).fetchall()
            naive_found += truth.recall(scenario.name, number, [row[0] for row in naive])[0]
        engine_recall[scenario.name] = round(found / max(possible, 1), 4)
        naive_recall[scenario.name] = round(naive_found / max(possible, 1), 4)
        paths[scenario.name] = counter
    return {"recall@10": engine_recall, "naive_recall@10": naive_recall, "planner_paths": paths}


def _where_sql(scenario: Scenario) -> tuple[str, list[Any]]:
    """The scenario's filter as bare SQL (what a hand-written query would say)."""
    clauses, params = ["status = 'available'", f"{COLUMN} IS NOT NULL"], []
    for attribute, value in scenario.filters.items():
        clauses.append(f'"{attribute}" = %s')
        params.append(value)
    return " AND ".join(clauses), params


def _timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


@dataclass(frozen=True)
class Mode:
    name: str
    options: dict[str, Any]


def engine_modes(scenarios: list[Scenario]) -> list[Mode]:
    one_percent = next(s for s in scenarios if s.name == "filter_1pct")
    return [
        Mode("vector", {"only_signals": {"text"}, "facets": False}),
        Mode("hybrid", {"facets": False}),
        Mode("hybrid_facets", {"facets": True}),
        Mode("filtered_1pct", {"only_signals": {"text"}, "facets": False, "filters": one_percent.filters}),
    ]


def engine_latency(modes: list[Mode], queries: list[str], rounds: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Milliseconds per engine.search() by mode, in interleaved rounds (warm query vectors)."""
    engine = HybridSearchEngine()
    samples: dict[str, list[float]] = {mode.name: [] for mode in modes}
    for query in queries:  # warm-up, as the bare SQL gets: connections, caches, the index's pages
        for mode in modes:
            engine.search(query=query, limit=PAGE, **mode.options)
    for _ in range(rounds):
        for query in queries:
            for mode in modes:
                run = functools.partial(engine.search, query=query, limit=PAGE, **mode.options)
                samples[mode.name].append(_timed(run))
    statements: dict[str, int] = {}
    for mode in modes:
        with CaptureQueriesContext(connection) as captured:
            engine.search(query=queries[0], limit=PAGE, **mode.options)
        statements[mode.name] = len(captured.captured_queries)
    return {name: percentiles(values) for name, values in samples.items()}, statements


@contextmanager
def raw_connection(**params: Any) -> Any:
    from pgvector.psycopg import register_vector

    with psycopg.connect(**params, autocommit=True) as raw:
        register_vector(raw)
        yield raw


HYBRID_SQL = """
WITH vec AS (
    SELECT id, row_number() OVER () AS rank FROM (
        SELECT id FROM garments_garment WHERE {where} ORDER BY {column} <=> %(v)s LIMIT %(pool)s
    ) nearest
), kw AS (
    SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS rank FROM (
        SELECT id, ts_rank_cd(search_vector, query) AS rank
        FROM garments_garment, to_tsquery('english', %(words)s) query
        WHERE {where} AND search_vector @@ query ORDER BY rank DESC, id LIMIT %(pool)s
    ) matched
), fused AS (
    SELECT COALESCE(vec.id, kw.id) AS id,
           COALESCE(1.0 / (60 + vec.rank), 0) + COALESCE(1.0 / (60 + kw.rank), 0) AS score
    FROM vec FULL JOIN kw ON vec.id = kw.id ORDER BY score DESC, id LIMIT 20
)
SELECT g.id, g.title, g.price, g.status, fused.score FROM fused JOIN garments_garment g USING (id) ORDER BY score DESC
"""


def _fetch(raw: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    return raw.execute(sql, params).fetchall()


def raw_latency(queries: list[str], vectors: list[list[float]], ef_search: list[int], raw: psycopg.Connection,
                rounds: int) -> dict[str, Any]:  # fmt: skip
    """The floor: the same vector query (same ef_search, same pool), and a one-statement RRF hybrid."""
    pool = settings.SEARCH_CANDIDATES_PER_SIGNAL
    where = f"status = 'available' AND {COLUMN} IS NOT NULL"
    vector_sql = f"SELECT id, {COLUMN} <=> %(v)s AS d FROM garments_garment WHERE {where} ORDER BY d LIMIT %(pool)s"  # noqa: S608
    hybrid_sql = HYBRID_SQL.format(where=where, column=COLUMN)
    arrays = [np.asarray(v, dtype=np.float32) for v in vectors]
    samples: dict[str, list[float]] = {"vector": [], "hybrid": []}
    current_ef = None
    for round_number in range(rounds + 1):  # round 0 warms up
        for query, vector, ef in zip(queries, arrays, ef_search, strict=True):
            if ef != current_ef:
                raw.execute(f"SET hnsw.ef_search = {ef}")
                current_ef = ef
            words = " & ".join(keyword_words(query, parse_query(query)) or ["x"])  # the engine's words
            vector_ms = _timed(functools.partial(_fetch, raw, vector_sql, {"v": vector, "pool": pool}))
            hybrid_ms = _timed(functools.partial(_fetch, raw, hybrid_sql, {"v": vector, "pool": pool, "words": words}))
            if round_number:
                samples["vector"].append(vector_ms)
                samples["hybrid"].append(hybrid_ms)
    return {name: percentiles(values) for name, values in samples.items()}


def engine_ef_search(vectors: list[list[float]]) -> list[int]:
    """The ef_search the planner chose for each unfiltered query (the raw SQL runs with the same)."""
    base = Garment.objects.filter(parse_filters({}).q())
    pool = settings.SEARCH_CANDIDATES_PER_SIGNAL
    return [nearest(base, COLUMN, vector, pool, min_rows=PAGE).ef_search or 40 for vector in vectors]


def halfvec(vectors: list[list[float]], raw: psycopg.Connection) -> dict[str, Any]:
    """A half-precision HNSW index beside the full one (pgvector 0.7+): build time, size and recall@10."""
    dims = len(vectors[0])
    expression = f"({COLUMN}::halfvec({dims}))"
    raw.execute("DROP INDEX IF EXISTS bench_text_halfvec_hnsw")
    raw.execute("SET maintenance_work_mem = '1GB'")
    started = time.perf_counter()
    raw.execute(
        f"CREATE INDEX bench_text_halfvec_hnsw ON garments_garment USING hnsw ({expression} halfvec_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)"
    )
    build_seconds = time.perf_counter() - started
    size_row = raw.execute("SELECT pg_relation_size('bench_text_halfvec_hnsw')").fetchone()
    size = size_row[0] if size_row else 0
    raw.execute("SET hnsw.ef_search = 100")
    where = f"status = 'available' AND {COLUMN} IS NOT NULL"
    found = possible = 0
    samples = []
    for vector in vectors:
        literal = vector_literal(vector)
        truth = {row[0] for row in raw.execute(
            f"SELECT id FROM garments_garment WHERE {where} ORDER BY ({COLUMN} <=> %s::vector) + 0 LIMIT {K}",  # noqa: S608
            [literal]).fetchall()}  # fmt: skip
        started = time.perf_counter()
        got = raw.execute(
            f"SELECT id FROM garments_garment WHERE {where} ORDER BY {expression} <=> %s::halfvec({dims}) LIMIT {K}",  # noqa: S608
            [literal],
        ).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
        found += len(truth & {row[0] for row in got})
        possible += len(truth)
    raw.execute("DROP INDEX bench_text_halfvec_hnsw")
    raw.execute("RESET hnsw.ef_search")
    return {
        "build_seconds": round(build_seconds, 2),
        "bytes": int(size),
        "recall@10": round(found / max(possible, 1), 4),
        "ms": percentiles(samples),
    }


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split among their users), falling back to RSS."""
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
        except OSError:
            continue
    return 0.0


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def memory(web_mb: float | None) -> dict[str, Any]:
    """PostgreSQL's memory (postmaster and its processes, PSS) and the web side's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    try:
        stat = Path(f"/proc/{backend}/stat").read_text()
        postmaster = int(stat.rsplit(")", 1)[1].split()[1])
        postgres = pss_mb(postmaster) + sum(pss_mb(pid) for pid in child_pids(postmaster))
    except (OSError, ValueError, IndexError):  # a server on another machine
        postgres = None
    import os

    return {"web": round(web_mb, 1) if web_mb is not None else None,
            "benchmark_process": round(pss_mb(os.getpid()), 1),
            "postgres": round(postgres, 1) if postgres is not None else None}  # fmt: skip
