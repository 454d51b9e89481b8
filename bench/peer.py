"""The same query vectors through an embedded peer engine, LanceDB: where our search stands against an alternative.

LanceDB is what a user might pick instead of PostgreSQL + pgvector for a catalogue this size. It is
installed for the benchmark only (`make benchmark-compare`), never a requirement of the product, so it
is imported inside the functions that use it. The peer is set up as its documentation suggests, with
its defaults unless `settings` in the report says otherwise, and scored by the same exact neighbours
(measure.Truth) as our engine.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import psycopg

from bench.measure import COLUMN, K, Scenario, Truth, percentiles

LANCEDB_VERSION = "0.40.0"  # what `make benchmark-compare` installs (Makefile LANCEDB_VERSION): keep them in step
RECIPE_VERSION = 1  # bump when the table or its indexes are built differently
# The scenarios the peer runs: a 50% filter tells little that unfiltered does not.
SCENARIOS = ("unfiltered", "filter_1pct", "filter_10pct")
EXPORT_BATCH = 10_000  # rows per Arrow batch while exporting: 10k x 384 float32 = 15 MB in flight
TABLE = "garments"
VECTOR = "vector"  # LanceDB's conventional column name (what its examples use)
RECIPE_FILE = "recipe.json"
# The documented defaults of lancedb.index.HnswSq, written out so the report shows them; only the metric is
# chosen (our vectors are compared by cosine, as pgvector's vector_cosine_ops index does).
HNSW_SQ: dict[str, Any] = {"distance_type": "cosine", "m": 20, "ef_construction": 300}


class PeerMissing(RuntimeError):
    """LanceDB is not installed: the comparison needs it, the product does not."""


def require_lancedb() -> ModuleType:
    """The lancedb module, or PeerMissing saying how to install it (checked before any catalogue is built)."""
    try:
        import lancedb
    except ImportError as error:
        raise PeerMissing(
            "--compare runs LanceDB, which is installed for the benchmark only: run `make benchmark-compare` "
            f"(or `.venv/bin/pip install lancedb=={LANCEDB_VERSION}`)"
        ) from error
    return lancedb


def compare_lancedb(scenarios: list[Scenario], vectors: list[list[float]], truth: Truth, raw: psycopg.Connection,
                    workdir: Path, rounds: int) -> dict[str, Any]:  # fmt: skip
    """recall@10 and latency of LanceDB (IVF_HNSW_SQ, cosine, prefiltered) on the same garments, filters and queries."""
    lancedb = require_lancedb()
    chosen = [scenario for scenario in scenarios if scenario.name in SCENARIOS]
    attributes = sorted({name for scenario in chosen for name in scenario.filters})
    table, index = _table(lancedb, raw, attributes, len(vectors[0]), workdir)
    queries = [np.asarray(vector, dtype=np.float32) for vector in vectors]
    wheres = {scenario.name: _where(scenario) for scenario in chosen}

    found = {scenario.name: 0 for scenario in chosen}
    possible = dict(found)
    for number, vector in enumerate(queries):  # the warm-up pass (caches, the index's pages) is the one scored
        for name, where in wheres.items():
            hits, available = truth.recall(name, number, _search(table, vector, where))
            found[name] += hits
            possible[name] += available
    samples: dict[str, list[float]] = {name: [] for name in wheres}
    for _ in range(rounds):
        for vector in queries:
            for name, where in wheres.items():
                started = time.perf_counter()
                _search(table, vector, where)
                samples[name].append((time.perf_counter() - started) * 1000)
    return {
        "engine": f"lancedb {lancedb.__version__}",
        "index": index,
        "recall@10": {name: round(found[name] / max(possible[name], 1), 4) for name in wheres},
        "ms": {name: percentiles(values) for name, values in samples.items()},
        "settings": {
            "index_type": "IVF_HNSW_SQ",
            **HNSW_SQ,
            "num_partitions": "default",
            "scalar_indexes": dict.fromkeys(("status", *attributes), "BITMAP"),
            "k": K,
            "where": wheres,
            "prefilter": True,  # LanceDB's default, and what our engine does: filter first, then rank
            # Search knobs left at LanceDB's defaults, as a user reading its docs would.
            "nprobes": "default (20)",
            "ef": f"default (1.5 x k = {int(1.5 * K)})",
            "refine_factor": None,
        },
    }


def _search(table: Any, vector: np.ndarray, where: str) -> list[int]:
    query = table.search(vector, vector_column_name=VECTOR).distance_type("cosine").where(where, prefilter=True)
    # _distance named too: LanceDB returns it either way, and warns on every search when it is left out.
    return [int(pk) for pk in query.select(["id", "_distance"]).limit(K).to_arrow().column("id").to_pylist()]


def _where(scenario: Scenario) -> str:
    """The scenario's filter in LanceDB's SQL: what search shows (available garments) and the attribute values."""
    clauses = ["status = 'available'"]
    for attribute, value in scenario.filters.items():
        clauses.append(f"`{attribute}` = {_literal(value)}")
    return " AND ".join(clauses)


def _literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"no LanceDB literal for {value!r}")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _table(lancedb: ModuleType, raw: psycopg.Connection, attributes: list[str], dims: int,
           workdir: Path) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The garments as a LanceDB table with its indexes, reused while the rows and the recipe are unchanged."""
    row = raw.execute(f"SELECT count(*) FROM garments_garment WHERE {COLUMN} IS NOT NULL").fetchone()  # noqa: S608
    rows = int(row[0]) if row else 0
    recipe = {"version": RECIPE_VERSION, "lancedb": lancedb.__version__, "rows": rows, "columns": attributes,
              "dims": dims, "catalogue": _catalogue_recipe(raw), "index": HNSW_SQ}  # fmt: skip
    recipe_path = workdir / RECIPE_FILE
    stored = json.loads(recipe_path.read_text()) if recipe_path.is_file() else None
    if stored and stored["recipe"] == recipe and (workdir / f"{TABLE}.lance").is_dir():
        table = lancedb.connect(str(workdir)).open_table(TABLE)
        if table.count_rows() == rows:
            return table, {**stored["built"], "reused": True}

    from lancedb.index import Bitmap, HnswSq

    shutil.rmtree(workdir, ignore_errors=True)  # overwriting in place would keep the old version's files
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    table = lancedb.connect(str(workdir)).create_table(TABLE, data=_export(raw, attributes, dims))
    # Bitmap indexes on the filtered columns, as LanceDB's docs advise for low-cardinality prefilters.
    for column in ("status", *attributes):
        table.create_index(column, config=Bitmap())
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    table.create_index(VECTOR, config=HnswSq(**HNSW_SQ))
    build_seconds = time.perf_counter() - started
    indexes = {config.name: config for config in table.list_indices()}
    vector_index = indexes.pop(f"{VECTOR}_idx")
    built = {
        "type": "IVF_HNSW_SQ",
        "rows": rows,
        "load_seconds": round(load_seconds, 2),  # export from PostgreSQL, write, scalar indexes
        "build_seconds": round(build_seconds, 2),
        "bytes": int(vector_index.size_bytes),
        "scalar_index_bytes": sum(int(config.size_bytes) for config in indexes.values()),
        "table_bytes": _bytes(workdir),  # on disk: rows, vectors and every index
        "details": vector_index.index_details,  # as LanceDB records it: graph degree, build ef, SQ bits
    }
    recipe_path.write_text(json.dumps({"recipe": recipe, "built": built}, indent=1))  # last: marks the table whole
    return table, {**built, "reused": False}


def _export(raw: psycopg.Connection, attributes: list[str], dims: int) -> Any:
    """The garments with a text vector as a stream of Arrow batches (a server-side cursor: bounded memory)."""
    import pyarrow as pa

    schema = pa.schema([pa.field("id", pa.int64()), pa.field("status", pa.string()),
                        *(pa.field(name, pa.string()) for name in attributes),
                        pa.field(VECTOR, pa.list_(pa.float32(), dims))])  # fmt: skip
    columns = ", ".join(["id", "status", *(f'"{name}"' for name in attributes), COLUMN])

    def batches() -> Iterator[Any]:
        with raw.transaction(), raw.cursor(name="bench_peer_export") as cursor:
            cursor.itersize = EXPORT_BATCH
            cursor.execute(f"SELECT {columns} FROM garments_garment WHERE {COLUMN} IS NOT NULL ORDER BY id")  # noqa: S608
            while chunk := cursor.fetchmany(EXPORT_BATCH):
                arrays = [pa.array([row[i] for row in chunk], schema.field(i).type) for i in range(len(schema) - 1)]
                matrix = np.vstack([_array(row[-1]) for row in chunk])
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dims))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _array(vector: Any) -> np.ndarray:
    """A pgvector value as float32 (numpy already, or pgvector's Vector, by the library's version)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


def _catalogue_recipe(raw: psycopg.Connection) -> Any:
    """The benchmark catalogue's own recipe (bench.catalogue): a rebuilt catalogue means a rebuilt table."""
    exists = raw.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = raw.execute("SELECT recipe FROM bench_meta LIMIT 1").fetchone()
    return row[0] if row else None


def _bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0
