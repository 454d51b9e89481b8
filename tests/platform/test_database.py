"""The database in use: features detected at run time, migrations complete and reversible."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from prethrift.db_features import database_features, parse_version


@pytest.mark.parametrize(
    ("text", "expected"), [("0.6.2", (0, 6, 2)), ("0.8.0", (0, 8, 0)), ("0.7.0-dev", (0, 7, 0)), ("16", (16,))]
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.django_db
def test_features_of_the_database_in_use_are_detected():
    features = database_features(refresh=True)
    assert features.pgvector_version is not None
    assert features.pgvector_version >= (0, 6, 0)
    assert features.supports_iterative_scan == (features.pgvector_version >= (0, 8, 0))
    assert features.server_version >= 130000
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
        trgm_installed = cursor.fetchone()[0] == 1
    assert trgm_installed == features.has_pg_trgm  # migration 0003 installs it wherever the server offers it
    assert "pgvector" in features.describe()


@pytest.mark.django_db
def test_indexes_exist_with_the_right_methods_and_options():
    assert_indexes()


def assert_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'garments_garment'")
        indexes = dict(cursor.fetchall())
    for name in ("garment_image_vec_hnsw", "garment_text_vec_hnsw", "garment_openai_vec_hnsw"):
        assert "USING hnsw" in indexes[name]
        assert "vector_cosine_ops" in indexes[name]
        assert "m='16'" in indexes[name]
        assert "ef_construction='64'" in indexes[name]
    assert "USING gin (search_vector)" in indexes["garment_search_vector_gin"]
    for attribute in ("category", "brand", "primary_color", "sleeve_length"):
        assert any(f"({attribute})" in definition and "btree" in definition for definition in indexes.values())
    if database_features().has_pg_trgm:
        assert "gin_trgm_ops" in indexes["garment_title_trgm"]
        assert "gin_trgm_ops" in indexes["garment_brand_trgm"]


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_migrations_round_trip_to_zero_and_back():
    def tables() -> set[str]:
        return set(connection.introspection.table_names())

    call_command("migrate", "garments", "zero", verbosity=0)
    assert "garments_garment" not in tables()
    call_command("migrate", verbosity=0)
    assert {"garments_garment", "garments_garmentimage"} <= tables()
    assert_indexes()
