"""rebuild_indexes: concurrent rebuilds that leave a valid index, and a vacuum."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from garments.services import garment_create


@pytest.mark.django_db(transaction=True)
def test_rebuild_and_vacuum_leave_valid_indexes():
    garment_create(sku="a", title="Red scarf")
    out = io.StringIO()
    call_command("rebuild_indexes", "--index", "garment_text_vec_hnsw", "--index", "garment_search_vector_gin",
                 "--vacuum", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "garment_text_vec_hnsw: rebuilt in" in text and "garment_search_vector_gin: rebuilt in" in text
    assert "vacuumed and analysed" in text
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname LIKE 'garment_%%' AND NOT i.indisvalid"
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_dry_run_lists_sizes_and_bad_names_are_refused():
    out = io.StringIO()
    call_command("rebuild_indexes", "--dry-run", stdout=out)
    assert "garment_image_vec_hnsw: " in out.getvalue() and " MB" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("rebuild_indexes", "--index", "pg_class")


@pytest.mark.django_db
def test_inside_a_transaction_is_refused():
    with pytest.raises(CommandError, match="inside a transaction"):
        call_command("rebuild_indexes")
