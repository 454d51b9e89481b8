"""rebuild_indexes: build beside, swap names, drop the old, so search never runs without an index;
HNSW build parameters; --check; the clean-up of invalid indexes left by interrupted builds."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from garments.models import Garment
from garments.services import garment_create
from search import indexes
from search.engine import HybridSearchEngine
from tests.faults.servers import wait_for


def _invalid_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'garments_garment'::regclass AND NOT i.indisvalid"
        )
        return [row[0] for row in cursor.fetchall()]


def _oid(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [name])
        return int(cursor.fetchone()[0])


def _make_invalid_index(name: str) -> None:
    """A real interrupted concurrent build: a UNIQUE build that meets duplicates fails half-way and
    leaves its index behind, INVALID (needs two garments with the same currency)."""
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON garments_garment (currency)")
    assert name in _invalid_indexes()


@pytest.mark.django_db(transaction=True)
def test_rebuild_and_vacuum_leave_valid_indexes():
    garment_create(sku="a", title="Red scarf")
    out = io.StringIO()
    call_command("rebuild_indexes", "--index", "garment_text_vec_hnsw", "--index", "garment_search_vector_gin",
                 "--vacuum", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "garment_text_vec_hnsw: rebuilt in" in text and "garment_search_vector_gin: rebuilt in" in text
    assert "vacuumed and analysed" in text
    assert _invalid_indexes() == []
    assert not [name for name in indexes.index_states() if name not in indexes.SEARCH_INDEXES]


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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--m", "1"], "--m must be 2..100"),
        (["--ef-construction", "2000"], "--ef-construction must be 4..1000"),
        (["--space", "text", "--m", "48", "--ef-construction", "64"], "at least 2 x m"),
        (["--index", "garment_search_vector_gin", "--m", "8"], "HNSW indexes only"),
    ],
)
def test_bad_hnsw_parameters_are_refused_before_anything_is_built(arguments, message):
    before = indexes.index_states()
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_indexes", *arguments, stdout=io.StringIO())
    assert indexes.index_states().keys() == before.keys()
    assert indexes.index_states()["garment_text_vec_hnsw"].options == before["garment_text_vec_hnsw"].options


@pytest.mark.django_db(transaction=True)
def test_check_reports_validity_size_and_use_and_fails_on_a_leftover():
    garment_create(sku="a", title="Red scarf")
    garment_create(sku="b", title="Blue scarf")
    out = io.StringIO()
    call_command("rebuild_indexes", "--check", stdout=out)
    text = out.getvalue()
    print(text)
    assert "garment_text_vec_hnsw: valid, " in text and "m=16" in text and "ef_construction=64" in text
    assert "garment_search_vector_gin: valid, " in text and " scans, " in text and " tuples read, " in text
    # given an interrupted build's leftover, then --check names it and fails
    _make_invalid_index("garment_text_vec_hnsw_rebuild")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 index problem"):
        call_command("rebuild_indexes", "--check", stdout=out)
    print(out.getvalue())
    assert "garment_text_vec_hnsw_rebuild: INVALID leftover of an interrupted build" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_run_drops_invalid_leftovers_and_rebuilds_an_invalid_index_under_our_name():
    garment_create(sku="a", title="Red scarf")
    garment_create(sku="b", title="Blue scarf")
    # given a leftover under our temporary name and one under REINDEX CONCURRENTLY's
    _make_invalid_index("garment_image_vec_hnsw_rebuild")
    _make_invalid_index("garment_search_vector_gin_ccnew")
    # and an invalid index of something else where the full-text index should be
    indexes.drop_concurrently("garment_search_vector_gin")
    _make_invalid_index("garment_search_vector_gin")
    # when rebuilt
    out = io.StringIO()
    call_command("rebuild_indexes", "--index", "garment_search_vector_gin", stdout=out)
    # then the leftovers are gone, and the index is the full-text GIN again, valid
    text = out.getvalue()
    assert "garment_image_vec_hnsw_rebuild: dropped (INVALID leftover" in text
    assert "garment_search_vector_gin_ccnew: dropped (INVALID leftover" in text
    assert _invalid_indexes() == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('garment_search_vector_gin'::regclass)")
        assert "USING gin (search_vector)" in cursor.fetchone()[0]
    call_command("rebuild_indexes", "--check", stdout=io.StringIO())  # passes


def _explain_nearest(vector: list[float]) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM garments_garment ORDER BY text_embedding_vec <=> %s::vector LIMIT 10",
            [str(vector)],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_searches_keep_answering_through_a_rebuild_with_new_parameters(catalogue, settings):
    # given searches that take the HNSW path (the sample is below the exact-scan threshold otherwise)
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 0
    engine = HybridSearchEngine()
    assert engine.search(query="red dress", facets=False).planner["text"].startswith("hnsw")
    answered: list[str] = []
    errors: list[BaseException] = []
    rebuilding = threading.Event()
    stop = threading.Event()

    def search_in_a_loop() -> None:
        try:
            while not stop.is_set():
                for query in ("red dress", "blue jeans men", "black leather shoes"):
                    result = engine.search(query=query, facets=False)
                    assert result.hits, query
                    answered.append(result.planner["text"])
                    rebuilding.set()
        except BaseException as error:  # every failure is the test's to report
            errors.append(error)
        finally:
            connections.close_all()

    searcher = threading.Thread(target=search_in_a_loop, daemon=True)
    searcher.start()
    assert rebuilding.wait(60)
    # when the text index is rebuilt with other build parameters while they run
    out = io.StringIO()
    try:
        call_command("rebuild_indexes", "--space", "text", "--m", "24", "--ef-construction", "96", stdout=out)
    finally:
        stop.set()
        searcher.join(60)
    print(out.getvalue(), f"{len(answered)} searches answered during the rebuild")
    # then every search answered, none failed, and the new index is in place and used
    assert errors == []
    assert len(answered) >= 3 and all(path.startswith("hnsw") for path in answered)
    state = indexes.index_states()["garment_text_vec_hnsw"]
    assert state.valid and state.options == {"m": "24", "ef_construction": "96"}
    assert set(indexes.index_states()) <= set(indexes.SEARCH_INDEXES)
    vector = Garment.objects.exclude(text_embedding_vec=None).values_list("text_embedding_vec", flat=True).first()
    assert "garment_text_vec_hnsw" in _explain_nearest([float(x) for x in vector])
    assert engine.search(query="red dress", facets=False).planner["text"].startswith("hnsw")
    # and a plain rebuild keeps the parameters it finds
    call_command("rebuild_indexes", "--index", "garment_text_vec_hnsw", stdout=io.StringIO())
    assert indexes.index_states()["garment_text_vec_hnsw"].options == {"m": "24", "ef_construction": "96"}


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_cancelled_half_way_leaves_the_old_index_valid_and_nothing_behind():
    garment_create(sku="a", title="Red scarf")
    old_oid = _oid("garment_search_vector_gin")
    # given a reader whose snapshot is older than the build: CREATE INDEX CONCURRENTLY waits for it
    # after it has made its (still invalid) index, the window an interruption leaves one behind in
    reader = connections.create_connection("default")
    reader.set_autocommit(False)
    with reader.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT count(*) FROM garments_garment")
    failures: list[BaseException] = []

    def rebuild() -> None:
        try:
            call_command("rebuild_indexes", "--index", "garment_search_vector_gin", stdout=io.StringIO())
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    builder = threading.Thread(target=rebuild, daemon=True)
    builder.start()

    def building_pid() -> int | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%' "
                           "AND wait_event_type = 'Lock'")  # fmt: skip
            row = cursor.fetchone()
        return row[0] if row else None

    try:
        assert wait_for(lambda: building_pid() is not None, timeout=60)
        assert "garment_search_vector_gin_rebuild" in _invalid_indexes()
        # when the build is cancelled from another session
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_cancel_backend(%s)", [building_pid()])
    finally:
        reader.rollback()  # the command's own clean-up (DROP INDEX CONCURRENTLY) waits for this reader too
        reader.close()
    builder.join(60)
    # then the command failed clearly, the old index is still there and valid, and nothing is left
    assert len(failures) == 1 and isinstance(failures[0], CommandError), failures
    assert "canceling statement" in str(failures[0])
    after = indexes.index_states()
    assert set(after) <= set(indexes.SEARCH_INDEXES)
    assert after["garment_search_vector_gin"].valid and _invalid_indexes() == []
    assert _oid("garment_search_vector_gin") == old_oid  # the very index searches used before
