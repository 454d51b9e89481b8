"""The engine's fast paths keep their promises: few statements, cached facets that stay exact as the
catalogue moves, estimates instead of counts, a starved index scan answered exactly, keyword stages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.query import parse_query
from prethrift.db_features import database_features
from search.engine import HybridSearchEngine, keyword_stages, keyword_words
from search.facets import compute_facets
from search.planner import exact, nearest

pytestmark = pytest.mark.django_db
engine = HybridSearchEngine()


def test_a_vector_search_is_three_statements_and_a_hybrid_one_four(catalogue, django_assert_num_queries):
    engine.search(query="blue jeans", only_signals={"text"}, facets=False)  # estimates and vectors cached
    # bounded count, nearest rows with what ranking needs (and the newest id), the page's rows
    with django_assert_num_queries(3):
        result = engine.search(query="blue jeans", only_signals={"text"}, facets=False)
    assert len(result.hits) == 20 and result.planner == {"text": "exact"}
    engine.search(query="blue jeans", facets=False)
    # + the keyword signal; every word matched enough garments, so no trigram query either
    with django_assert_num_queries(4):
        result = engine.search(query="blue jeans", facets=False, explain=True)
    assert any("keyword" in hit.signals for hit in result.hits)


def test_facets_are_cached_per_filter_set_and_move_with_the_catalogue(catalogue, settings):
    settings.SEARCH_FACETS_CACHE_TTL = 60
    first = engine.search(query="shirt", filters={"gender": "men"}, limit=5)
    with CaptureQueriesContext(connection) as captured:
        second = engine.search(query="t-shirt", filters={"gender": "men"}, limit=5)
    assert second.facets == first.facets  # another text, the same filters: one computation serves both
    assert not any("GROUPING SETS" in query["sql"] for query in captured.captured_queries)
    expected = Garment.objects.filter(gender="men", status="available").count()
    assert first.facets.total == expected
    # a new listing moves the newest id, so the next search counts it
    garment_create(sku="new-men-1", title="Men navy shirt", price="12", attributes={"gender": "men"})
    third = engine.search(query="shirt", filters={"gender": "men"}, limit=5)
    assert third.facets.total == expected + 1


def test_facets_without_cache_are_recomputed_every_search(catalogue, settings):
    settings.SEARCH_FACETS_CACHE_TTL = 0
    engine.search(query="dress", filters={"gender": "women"}, limit=5)
    sold = Garment.objects.filter(gender="women", status="available").first()
    assert sold is not None
    garment_update(garment=sold, listing={"status": "sold"})
    after = engine.search(query="dress", filters={"gender": "women"}, limit=5)
    assert after.facets.total == Garment.objects.filter(gender="women", status="available").count()


def test_one_scan_facets_match_separate_counts(catalogue):
    facets = compute_facets(Garment.objects.filter(status="available", gender="women"))
    women = Garment.objects.filter(status="available", gender="women")
    assert facets.total == women.count()
    for value, count in facets.attributes["subcategory"]:
        assert count == women.filter(subcategory=value).count()
    assert [count for _, _, count in facets.prices] == [
        women.filter(price__gte=low, **({"price__lt": high} if high else {})).count() for low, high, _ in facets.prices
    ]


def test_a_large_estimate_skips_the_count_and_a_starved_scan_falls_back_to_exact(catalogue, settings):
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 5  # every filter below is "large": HNSW
    vector = [float(x) for x in Garment.objects.exclude(text_embedding_vec=None).first().text_embedding_vec]
    everything = Garment.objects.all()
    with CaptureQueriesContext(connection) as captured:
        result = nearest(everything, "text_embedding_vec", vector, 10)
    assert result.path.startswith("hnsw") and result.filtered_rows is None  # 500 rows estimated: no COUNT
    assert not any("COUNT(" in query["sql"] for query in captured.captured_queries)
    # 60 garments match and 100 are asked for: the index scan comes back short, so the planner
    # answers from an exact scan rather than short ...
    sixty = Garment.objects.filter(pk__in=catalogue[:60])
    starved = nearest(sixty, "text_embedding_vec", vector, 100)
    assert starved.path == "hnsw_then_exact" and len(starved.ids) == 60
    # ... unless what came back fills the page the engine must show (min_rows): no exact rescan
    enough = nearest(sixty, "text_embedding_vec", vector, 100, min_rows=20)
    assert enough.path.startswith("hnsw") and len(enough.ids) == 60
    assert enough.ids[:10] == exact(sixty, "text_embedding_vec", vector, 10).ids


def test_hnsw_settings_are_sent_once_per_connection_outside_transactions(catalogue, settings):
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 5
    vector = [float(x) for x in Garment.objects.exclude(text_embedding_vec=None).first().text_embedding_vec]
    # inside a transaction (every test runs in one) a rollback could undo a SET: it is sent every time
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            nearest(Garment.objects.all(), "text_embedding_vec", vector, 10)
        assert sum(query["sql"].startswith("SET hnsw.") for query in captured.captured_queries) == 1


def test_keyword_words_leave_out_prices_sizes_and_negated_terms():
    assert keyword_words("women black heels under $50", parse_query("women black heels under $50")) == [
        "women", "black", "heels"
    ]  # fmt: skip
    assert "leather" not in keyword_words("jacket not leather", parse_query("jacket not leather"))
    assert keyword_words("size M navy coat", parse_query("size M navy coat")) == ["navy", "coat"]


def test_keyword_stages_go_from_every_word_to_any_word():
    assert keyword_stages(["red"]) == ["red"]
    assert keyword_stages(["red", "dress"]) == ["red & dress", "red | dress"]
    assert keyword_stages(["a", "b", "c"]) == ["a & b & c", "(b & c) | (a & c) | (a & b)", "a | b | c"]


def test_hybrid_search_skips_the_any_word_stage_but_keyword_only_keeps_it(catalogue):
    # no garment is both a "kurta" and a "sneakers": the AND stage finds none
    with CaptureQueriesContext(connection) as captured:
        engine.search(query="kurta sneakers", facets=False)
    assert not any("kurta | sneakers" in query["sql"] for query in captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        alone = engine.search(query="kurta sneakers", only_signals={"keyword"}, facets=False)
    assert any("kurta | sneakers" in query["sql"] for query in captured.captured_queries)
    assert alone.hits


def test_a_misspelled_word_is_found_by_trigram_similarity_where_pg_trgm_exists(catalogue):
    if not database_features().has_pg_trgm:
        pytest.skip("pg_trgm is not on this server (the embedded one); CI's system PostgreSQL has it")
    with CaptureQueriesContext(connection) as captured:
        result = engine.search(query="sandels", facets=False, explain=True)
    assert any("%>" in query["sql"] for query in captured.captured_queries)  # the index-backed operator
    assert any("trigram" in hit.signals for hit in result.hits)
    assert sum("sandal" in hit.garment.title.lower() for hit in result.hits) >= 5
