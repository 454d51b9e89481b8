"""The benchmark catalogue: the real Myntra titles and labels, replicated with perturbed vectors to N.

Built once per N in its own database (bench.database) and reused while its recipe is unchanged: a
row in `bench_meta` records the recipe, and a second run with the same N only checks it. Rows are
written with one binary COPY (a 100,000-row catalogue loads in seconds; Django's bulk_create would
take minutes), with the text HNSW index dropped first and built after, so its build time and size
are measured on their own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from embeddings.registry import get_encoder
from garments.attributes import ATTRIBUTE_NAMES, normalise_attribute_value
from garments.catalog_import import synthesize_missing
from garments.models import HNSW_EF_CONSTRUCTION, HNSW_M, Garment
from ontology.myntra import LABELS
from ontology.vocabulary import load_vocabulary

RECIPE_VERSION = 2  # bump when rows, vectors or indexes are built differently
SEED = 20261129
# Copies beyond the first are the same listing written again by another seller: the same words, a
# vector nudged by noise of this norm (cosine ~0.95 to the original), another price and status.
COPY_NOISE_NORM = 0.3
COPY_CHUNK = 20_000  # rows per COPY batch: bounds memory at 1M rows (20k x 384 floats = 30 MB)
TEXT_INDEX = "garment_text_vec_hnsw"
HEAVY_INDEXES = ("garment_image_vec_hnsw", "garment_openai_vec_hnsw")


@dataclass(frozen=True)
class SourceRow:
    style_id: str
    title: str
    labels: dict[str, str]
    attributes: dict[str, str]


@dataclass
class BuiltCatalogue:
    garments: int
    reused: bool
    load_seconds: float
    index_build_seconds: float
    index_bytes: int
    table_bytes: int
    model_id: str


def read_source(path: Path) -> list[SourceRow]:
    """Myntra styles with a title; labels mapped to our canonical attributes (as evaluate_ontology does)."""
    vocabulary = load_vocabulary()
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            title = (record.get("productDisplayName") or "").strip()
            style_id = (record.get("id") or "").strip()
            if not title or not style_id.isdigit():
                continue
            labels = {key: value.strip() for key, value in record.items() if key and value and key != "id"}
            attributes: dict[str, str] = {}
            for attribute, (column, mapping) in LABELS.items():
                value = mapping.get(labels.get(column, ""))
                if value:
                    attributes[attribute] = value
            known = vocabulary.value("subcategory", attributes.get("subcategory", ""))
            if known is not None and known.category:
                attributes["category"] = known.category
            brand = normalise_attribute_value(title.split()[0])
            if brand:
                attributes["brand"] = brand
            synthetic = synthesize_missing(f"myntra-{style_id}", labels.get("masterCategory", ""))
            attributes["size"], attributes["condition"] = synthetic["size"], synthetic["condition"]
            rows.append(SourceRow(style_id, title, labels, attributes))
    return rows


def source_vectors(rows: list[SourceRow], cache_dir: Path) -> tuple[np.ndarray, str]:
    """Text vectors of the source titles by the configured local model, cached on disk by content."""
    encoder = get_encoder("text")
    if encoder is None:
        raise RuntimeError("no text encoder is configured")
    path = _vector_cache_path(rows, cache_dir)
    if path.exists():
        return np.load(path), encoder.id
    cache_dir.mkdir(parents=True, exist_ok=True)
    titles = [row.title for row in rows]
    vectors = np.concatenate([encoder.embed_texts(titles[start : start + 256]) for start in range(0, len(titles), 256)])
    np.save(path, vectors)
    return vectors, encoder.id


def _vector_cache_path(rows: list[SourceRow], cache_dir: Path) -> Path:
    encoder = get_encoder("text")
    model = hashlib.sha256((encoder.id if encoder else "").encode()).hexdigest()[:8]
    digest = hashlib.sha256("\n".join(row.title for row in rows).encode()).hexdigest()[:16]
    return cache_dir / f"text-{model}-{digest}.npy"


def _recipe(garments: int, rows: int, model_id: str) -> dict[str, Any]:
    return {"version": RECIPE_VERSION, "garments": garments, "source_rows": rows, "model": model_id, "seed": SEED,
            "m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}  # fmt: skip


def _stored_recipe() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (recipe jsonb NOT NULL, built jsonb NOT NULL)")
        cursor.execute("SELECT recipe, built FROM bench_meta LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return None
    recipe, built = (json.loads(x) if isinstance(x, str) else x for x in row)
    return {"recipe": recipe, "built": built}


def build(garments: int, source: Path, cache_dir: Path, *, progress: Any = None) -> BuiltCatalogue:
    """Build (or reuse) a catalogue of `garments` rows in the database the default connection uses."""
    every_row = read_source(source)
    if not every_row:
        raise ValueError(f"{source} has no usable rows")
    # N below the source size takes a random, fixed subset; above it, every row and copies of them.
    order = np.random.default_rng(SEED).permutation(len(every_row))[: min(garments, len(every_row))]
    rows = [every_row[i] for i in order]
    if garments >= len(every_row) or _vector_cache_path(every_row, cache_dir).exists():
        all_vectors, model_id = source_vectors(every_row, cache_dir)  # computed once for every size
        vectors = all_vectors[order]
    else:  # a small catalogue embeds only its own titles (seconds, not minutes)
        vectors, model_id = source_vectors(rows, cache_dir)
    call_command("migrate", verbosity=0, interactive=False)
    digest = hashlib.sha256("\n".join(row.title for row in rows).encode()).hexdigest()[:16]
    recipe = _recipe(garments, len(rows), model_id) | {"source": digest}
    stored = _stored_recipe()
    if stored and stored["recipe"] == recipe:
        built = stored["built"]
        return BuiltCatalogue(garments, True, built["load_seconds"], built["index_build_seconds"],
                              _relation_bytes(TEXT_INDEX), _relation_bytes("garments_garment"), model_id)  # fmt: skip
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE garments_garment CASCADE")
        cursor.execute("DELETE FROM bench_meta")
        for name in (TEXT_INDEX, *HEAVY_INDEXES):
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    _copy_rows(garments, rows, vectors, model_id, progress)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{_maintenance_memory(garments)}'")
    _create_index(TEXT_INDEX)
    index_seconds = time.perf_counter() - started
    for name in HEAVY_INDEXES:  # empty columns: instant
        _create_index(name)
    with connection.cursor() as cursor:
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("VACUUM ANALYZE garments_garment")
        built = {"load_seconds": round(load_seconds, 2), "index_build_seconds": round(index_seconds, 2)}
        cursor.execute("INSERT INTO bench_meta VALUES (%s, %s)", [json.dumps(recipe), json.dumps(built)])
    return BuiltCatalogue(garments, False, built["load_seconds"], built["index_build_seconds"],
                          _relation_bytes(TEXT_INDEX), _relation_bytes("garments_garment"), model_id)  # fmt: skip


def _create_index(name: str) -> None:
    """The index as the model defines it (garments.models), built by Django's schema editor."""
    index = next(index for index in Garment._meta.indexes if index.name == name)
    with connection.schema_editor() as editor:
        editor.add_index(Garment, index)


def _maintenance_memory(garments: int) -> str:
    """Enough for the graph to be built in memory (pgvector slows down badly once it spills)."""
    needed_mb = int(garments * 384 * 4 * 2.2 / 2**20) + 64
    return f"{min(max(needed_mb, 64), 4096)}MB"


def _relation_bytes(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(pg_total_relation_size(to_regclass(%s)), 0)", [name])
        return int(cursor.fetchone()[0])


COLUMNS = (
    "sku", "title", "description", "price", "currency", "status", "sold_at", "created_at", "updated_at",
    "image", "image_sha256", *ATTRIBUTE_NAMES, "ontology_confidence", "ontology_source", "ontology_locked",
    "ontology_input_hash", "ontology_extracted_hash", "ontology_version", "ontology_extracted_at",
    "ontology_conflicts", "source_attributes", "text_content_hash",
    "image_embedding_model", "image_embedding_source_hash",
    "text_embedding_vec", "text_embedding_model", "text_embedding_computed_at", "text_embedding_source_hash",
    "openai_text_embedding_model", "openai_text_embedding_source_hash", "embedding_errors",
)  # fmt: skip


def _column_types() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = 'garments_garment'::regclass AND attnum > 0"
        )
        oids = dict(cursor.fetchall())
    return [oids[name] for name in COLUMNS]


def _generate(garments: int, rows: list[SourceRow], vectors: np.ndarray, model_id: str) -> Iterator[list[Any]]:
    """The rows, deterministic for a given N: copy c of source row r is garment c * len(rows) + r."""
    from psycopg.types.json import Jsonb

    rng = np.random.default_rng(SEED + 1)
    base_time = datetime(2026, 1, 1, tzinfo=UTC)
    sources = {"attribute": "extracted"}
    for start in range(0, garments, COPY_CHUNK):
        count = min(COPY_CHUNK, garments - start)
        index = np.arange(start, start + count)
        source_index = index % len(rows)
        block = vectors[source_index].copy()
        copies = index >= len(rows)
        if copies.any():
            noise = rng.standard_normal((int(copies.sum()), vectors.shape[1])).astype(np.float32)
            noise *= COPY_NOISE_NORM / np.linalg.norm(noise, axis=1, keepdims=True)
            block[copies] += noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        prices = np.round(np.exp(rng.normal(3.4, 0.8, count)), 2).clip(1, 5000)  # median ~$30, a long tail
        states = rng.random(count)
        for offset in range(count):
            number = int(index[offset])
            row = rows[int(source_index[offset])]
            status = "available" if states[offset] < 0.9 else ("reserved" if states[offset] < 0.95 else "sold")
            created = base_time + timedelta(minutes=number)
            attributes = [row.attributes.get(name, "") for name in ATTRIBUTE_NAMES]
            text_hash = hashlib.sha256(row.title.encode()).hexdigest()
            yield [
                f"bench-{number}", row.title, "", Decimal(str(prices[offset])), "USD", status,
                created if status == "sold" else None, created, created, "", "", *attributes,
                Jsonb({name: 0.9 for name in ATTRIBUTE_NAMES if row.attributes.get(name)}),
                Jsonb({name: sources["attribute"] for name in ATTRIBUTE_NAMES if row.attributes.get(name)}),
                [], "", "", 0, None, Jsonb({}), Jsonb(row.labels), text_hash, "", "",
                block[offset], model_id, created, text_hash, "", "", Jsonb({}),
            ]  # fmt: skip


def _copy_rows(garments: int, rows: list[SourceRow], vectors: np.ndarray, model_id: str, progress: Any) -> None:
    from pgvector.psycopg import register_vector

    raw = connection.connection
    register_vector(raw)
    types = _column_types()
    columns = ", ".join(f'"{name}"' for name in COLUMNS)
    with raw.cursor() as cursor, cursor.copy(f"COPY garments_garment ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for number, row in enumerate(_generate(garments, rows, vectors, model_id), 1):
            copy.write_row(row)
            if progress is not None and number % 50_000 == 0:
                progress(number)
    if not raw.autocommit:
        raw.commit()


def default_source() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data" / "myntra-fashion-small" / "styles_clean.csv"
