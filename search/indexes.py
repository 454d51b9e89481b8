"""The garments table's search indexes: their state, a rebuild that never leaves search without one,
and the clean-up of what an interrupted concurrent build leaves behind.

A rebuild builds the new index beside the old one (CREATE INDEX CONCURRENTLY under a temporary
name: reads and writes go on), then swaps the names in one short transaction (ALTER INDEX ...
RENAME takes SHARE UPDATE EXCLUSIVE on the index only, which no read or write conflicts with), then
drops the old one CONCURRENTLY. At every moment the table has a valid index under the name.

An interrupted CREATE INDEX CONCURRENTLY (cancelled, a lost connection, a failed build) leaves an
INVALID index: never used by the planner, yet maintained on every write. Ours carry a temporary
suffix, REINDEX CONCURRENTLY's carry _ccnew/_ccold; `leftovers()` finds them and `clean_leftovers()`
drops them.
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connection, transaction
from pgvector.django import HnswIndex
from psycopg import sql

from garments.managers import EmbeddingSpace
from garments.models import HNSW_EF_CONSTRUCTION, HNSW_M, Garment

TABLE = Garment._meta.db_table
HNSW_BY_SPACE: dict[EmbeddingSpace, str] = {
    "image": "garment_image_vec_hnsw",
    "text": "garment_text_vec_hnsw",
    "openai_text": "garment_openai_vec_hnsw",
}
# Built by garments/migrations/0003 where the server has pg_trgm (the embedded one has not).
TRIGRAM_INDEXES: dict[str, str] = importlib.import_module("garments.migrations.0003_trigram_indexes").TRIGRAM_INDEXES
SEARCH_INDEXES = (*HNSW_BY_SPACE.values(), "garment_search_vector_gin", *TRIGRAM_INDEXES)
BUILD_SUFFIX, OLD_SUFFIX = "_rebuild", "_old"
# Ours, and the names REINDEX INDEX CONCURRENTLY gives its copies (_ccnew, _ccnew1, ..., _ccold).
LEFTOVER = re.compile(
    rf"^({'|'.join(map(re.escape, SEARCH_INDEXES))})({BUILD_SUFFIX}|{OLD_SUFFIX}|_ccnew\d*|_ccold\d*)$"
)
# pgvector's bounds for HNSW build parameters (hnsw.c), checked before a build starts.
HNSW_M_RANGE, HNSW_EF_CONSTRUCTION_RANGE = (2, 100), (4, 1000)
# The swap waits at most this long for its lock (behind a long-running ALTER or VACUUM FULL), then retries.
SWAP_LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 5


class IndexMaintenanceError(Exception):
    """A rebuild that cannot run as asked (bad parameters, an index this server cannot have)."""


@dataclass(frozen=True)
class IndexState:
    name: str
    valid: bool
    size_bytes: int
    options: dict[str, str]  # reloptions, e.g. {"m": "16", "ef_construction": "64"}
    scans: int
    tuples_read: int
    tuples_fetched: int

    @property
    def is_leftover(self) -> bool:
        return LEFTOVER.match(self.name) is not None


def index_states() -> dict[str, IndexState]:
    """Our indexes and any leftovers of interrupted builds on the garments table, by name."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.indisvalid, pg_relation_size(c.oid), coalesce(c.reloptions, '{}'),
                   coalesce(s.idx_scan, 0), coalesce(s.idx_tup_read, 0), coalesce(s.idx_tup_fetch, 0)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
            WHERE i.indrelid = to_regclass(%s)
            """,
            [TABLE],
        )
        rows = cursor.fetchall()
    states = {}
    for name, valid, size, options, scans, read, fetched in rows:
        if name in SEARCH_INDEXES or LEFTOVER.match(name):
            parsed = dict(option.split("=", 1) for option in options)
            states[name] = IndexState(name, bool(valid), int(size), parsed, int(scans), int(read), int(fetched))
    return states


def has_pg_trgm() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def _execute(statement: str | sql.Composable, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        text = statement if isinstance(statement, str) else statement.as_string(cursor.connection)
        cursor.execute(text, params)


def drop_concurrently(name: str) -> None:
    _execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))


def clean_leftovers(states: dict[str, IndexState] | None = None) -> list[IndexState]:
    """Drop every leftover of an interrupted build (valid or not: a valid _old or _rebuild is an
    interrupted swap, and the next rebuild makes its own); what was dropped."""
    leftovers = [state for state in (states or index_states()).values() if state.is_leftover]
    for state in leftovers:
        drop_concurrently(state.name)
    return leftovers


def validate_hnsw_options(m: int | None, ef_construction: int | None) -> None:
    if m is not None and not HNSW_M_RANGE[0] <= m <= HNSW_M_RANGE[1]:
        raise IndexMaintenanceError(f"--m must be {HNSW_M_RANGE[0]}..{HNSW_M_RANGE[1]}, got {m}")
    low, high = HNSW_EF_CONSTRUCTION_RANGE
    if ef_construction is not None and not low <= ef_construction <= high:
        raise IndexMaintenanceError(f"--ef-construction must be {low}..{high}, got {ef_construction}")


def _create_sql(name: str, build_name: str, options: dict[str, int]) -> str | sql.Composable:
    """CREATE INDEX CONCURRENTLY for `name` under `build_name`, from our own definitions (never from
    the current index, which may be an invalid leftover of something else under our name)."""
    if name in TRIGRAM_INDEXES:
        return sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} USING gin ({} gin_trgm_ops)").format(
            sql.Identifier(build_name), sql.Identifier(TABLE), sql.Identifier(TRIGRAM_INDEXES[name])
        )
    index = next(index for index in Garment._meta.indexes if index.name == name)
    if isinstance(index, HnswIndex):
        m, ef_construction = options["m"], options["ef_construction"]
        if ef_construction < 2 * m:
            raise IndexMaintenanceError(f"ef_construction ({ef_construction}) must be at least 2 x m ({m}) for {name}")
        index = HnswIndex(name=build_name, fields=index.fields, m=m, ef_construction=ef_construction,
                          opclasses=index.opclasses)  # fmt: skip
    else:
        index = index.clone()
        index.name = build_name
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    return str(index.create_sql(Garment, editor, concurrently=True))


def hnsw_options(name: str, state: IndexState | None, m: int | None, ef_construction: int | None) -> dict[str, int]:
    """The HNSW build parameters: those asked for, else the current valid index's, else the model's."""
    if name not in HNSW_BY_SPACE.values():
        return {}
    current = state.options if state is not None and state.valid else {}
    return {
        "m": m if m is not None else int(current.get("m", HNSW_M)),
        "ef_construction": (
            ef_construction
            if ef_construction is not None
            else int(current.get("ef_construction", HNSW_EF_CONSTRUCTION))
        ),
    }


def _swap(name: str, build_name: str) -> None:
    """Rename the new index into place in one short transaction; retried when the lock is busy."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TIMEOUT)))
                _execute(sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
                    sql.Identifier(name), sql.Identifier(name + OLD_SUFFIX)))  # fmt: skip
                _execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(build_name),
                                                                       sql.Identifier(name)))  # fmt: skip
            return
        except OperationalError as error:  # lock_timeout: someone held a conflicting lock that long
            if "lock timeout" not in str(error) or attempt == SWAP_ATTEMPTS:
                raise
            time.sleep(attempt)


@dataclass(frozen=True)
class Rebuilt:
    name: str
    seconds: float
    size_before: int
    size_after: int
    options: dict[str, int]


def index_rebuild(*, name: str, m: int | None = None, ef_construction: int | None = None) -> Rebuilt:
    """Build `name` afresh beside the current one, swap the names, drop the old one (module docstring)."""
    if connection.in_atomic_block:
        raise IndexMaintenanceError("an index rebuild cannot run inside a transaction (CREATE INDEX CONCURRENTLY)")
    if name in TRIGRAM_INDEXES and not has_pg_trgm():
        raise IndexMaintenanceError(f"{name} needs pg_trgm, which this server does not have")
    states = index_states()
    state = states.get(name)
    options = hnsw_options(name, state, m, ef_construction)
    build_name = name + BUILD_SUFFIX
    create = _create_sql(name, build_name, options)
    for leftover in (build_name, name + OLD_SUFFIX):
        if leftover in states:
            drop_concurrently(leftover)
    started = time.monotonic()
    try:
        _execute(create)
    except Exception:
        drop_concurrently(build_name)  # a failed concurrent build leaves an invalid index behind
        raise
    _swap(name, build_name)
    drop_concurrently(name + OLD_SUFFIX)
    after = index_states()[name]
    return Rebuilt(name, time.monotonic() - started, state.size_bytes if state else 0, after.size_bytes, options)


def vacuum_analyze() -> None:
    _execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(TABLE)))
