"""The hybrid engine on the sample catalogue (title-only import, extracted attributes, real text vectors)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from embeddings.services import embed_garments
from garments.models import Garment
from garments.services import garment_create, garment_update
from prethrift.errors import NotFoundError
from search.engine import HybridSearchEngine, InvalidSearchError
from search.filters import InvalidFilterError
from search.planner import exact, nearest

pytestmark = pytest.mark.django_db
engine = HybridSearchEngine()


def test_text_search_finds_what_was_asked_and_explains_why(catalogue):
    result = engine.search(query="blue jeans", limit=10, explain=True)
    assert result.mode == "text" and len(result.hits) == 10
    top = result.hits[0]
    assert "jeans" in top.garment.title.lower()
    assert {"text", "keyword"} <= set(top.signals)
    assert top.signals["text"].rank >= 1 and top.signals["text"].distance is not None
    assert any(term["attribute"] == "subcategory" and term["value"] == "jeans" for term in top.matched_terms)
    jeans = sum("jeans" in hit.garment.title.lower() for hit in result.hits)
    assert jeans >= 8
    assert result.timings_ms["total_ms"] > 0 and result.planner["text"] in ("exact", "hnsw_overfetch", "hnsw_iterative")


def test_filters_restrict_every_hit(catalogue):
    result = engine.search(query="shirt", filters={"gender": "men", "price_range": {"max": 60}}, limit=20)
    assert result.hits
    assert all(hit.garment.gender == "men" and hit.garment.price <= 60 for hit in result.hits)
    brands = list(Garment.objects.exclude(brand="").values_list("brand", flat=True).distinct()[:2])
    result = engine.search(query="shoes", filters={"brand": brands}, limit=50)
    assert result.hits and all(hit.garment.brand in brands for hit in result.hits)


def test_parsed_hard_filters_apply_and_explicit_ones_win(catalogue):
    parsed = engine.search(query="t-shirt under $20", limit=30)
    assert parsed.hits and all(hit.garment.price <= Decimal("20") for hit in parsed.hits)
    explicit = engine.search(query="t-shirt under $20", filters={"price_range": [20, 200]}, limit=30)
    assert explicit.hits and all(hit.garment.price >= Decimal("20") for hit in explicit.hits)


def test_only_available_garments_unless_asked(catalogue):
    first = engine.search(query="watch", limit=1).hits[0].garment
    garment_update(garment=first, listing={"status": "sold"})
    assert first.pk not in {hit.garment.pk for hit in engine.search(query="watch", limit=50).hits}
    anything = engine.search(query="watch", filters={"status": "any"}, limit=50)
    assert first.pk in {hit.garment.pk for hit in anything.hits}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": "red"}, "unknown filters: colour"),
        ({"primary_color": "sparkly"}, "'sparkly' is not a known primary_color"),
        ({"price_range": {"min": 50, "max": 10}}, "min is above"),
        ({"price_range": "cheap"}, "price_range is"),
        ({"status": "lost"}, "unknown status lost"),
    ],
)
def test_bad_filters_are_named(filters, message):
    with pytest.raises(InvalidFilterError, match=message):
        engine.search(query="dress", filters=filters)


def test_filter_values_are_canonicalised(catalogue):
    result = engine.search(query="shirt", filters={"primary_color": "Navy Blue"}, limit=5)
    assert result.filters.attributes == {"primary_color": ["navy"]}
    assert all(hit.garment.primary_color == "navy" for hit in result.hits)


def test_the_planner_scans_small_filtered_sets_exactly_and_uses_hnsw_for_large_ones(catalogue, settings):
    vector = Garment.objects.exclude(text_embedding_vec=None).first().text_embedding_vec
    query = [float(x) for x in vector]
    small = Garment.objects.filter(subcategory="jeans")
    assert nearest(small, "text_embedding_vec", query, 10).path == "exact"
    settings.SEARCH_EXACT_SCAN_MAX_ROWS = 20
    for queryset in (
        Garment.objects.all(),
        Garment.objects.filter(category="tops"),
        Garment.objects.filter(pk__in=catalogue[::20]),
    ):
        result = nearest(queryset, "text_embedding_vec", query, 10)
        exact_ids = exact(queryset, "text_embedding_vec", query, 10).ids
        assert result.path.startswith("hnsw")
        assert len(result.ids) == min(10, queryset.count())  # always `limit` hits when that many match
        assert len(set(result.ids) & set(exact_ids)) / len(exact_ids) >= 0.9


def test_pagination_is_stable_under_concurrent_inserts(catalogue):
    first = engine.search(query="dress", limit=10)
    assert first.next_cursor
    for i in range(5):
        garment_create(sku=f"new-{i}", title=f"Red dress {i}", price="10")
    second = engine.search(query="dress", limit=10, cursor=first.next_cursor)
    both = [hit.garment.pk for hit in first.hits + second.hits]
    assert len(both) == len(set(both)) == 20
    assert not Garment.objects.filter(pk__in=both, sku__startswith="new-").exists()
    with pytest.raises(InvalidSearchError, match="another search"):
        engine.search(query="shirt", limit=10, cursor=first.next_cursor)
    with pytest.raises(InvalidSearchError, match="not one this API issued"):
        engine.search(query="dress", cursor="garbage!!")


def test_more_like_this_excludes_the_garment_itself(catalogue):
    source = Garment.objects.filter(subcategory="watch").first()
    assert source is not None
    result = engine.search(similar_to=source.pk, limit=5, explain=True)
    assert result.mode == "similar" and source.pk not in {hit.garment.pk for hit in result.hits}
    assert sum(hit.garment.subcategory == "watch" for hit in result.hits) >= 3
    with pytest.raises(NotFoundError):
        engine.search(similar_to=999_999_999)


def test_facets_count_the_filtered_set(catalogue):
    result = engine.search(query="", filters={"gender": "women"}, limit=5)
    assert result.mode == "browse"
    facets = result.facets
    assert facets is not None and facets.total == Garment.objects.filter(gender="women", status="available").count()
    assert dict(facets.attributes["gender"]) == {"women": facets.total}
    assert (
        sum(count for _, _, count in facets.prices)
        == Garment.objects.filter(gender="women", status="available", price__isnull=False).count()
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"query": "x" * 501}, "the limit is 500"), ({"query": "dress", "limit": 0}, "limit must be"),
     ({"query": "dress", "limit": 101}, "limit must be")],
)  # fmt: skip
def test_bad_requests_are_refused(kwargs, message):
    with pytest.raises(InvalidSearchError, match=message):
        engine.search(**kwargs)


def test_image_search_without_clip_is_a_clear_error(settings):
    settings.CLIP_MODEL_PATH = ""
    with pytest.raises(InvalidSearchError, match="no CLIP model"):
        engine.search(image=b"\xff\xd8")


def test_image_and_compositional_queries_with_clip(catalogue, settings, tmp_path_factory, sample_dir):
    from embeddings.random_clip import build_random_clip

    settings.CLIP_MODEL_PATH = str(build_random_clip(tmp_path_factory.mktemp("clip") / "c", tiny=True, image_size=32))
    embed_garments(garment_ids=catalogue, space="image")
    target = Garment.objects.exclude(image="").order_by("pk")[7]
    photo = (sample_dir / "images" / f"{target.sku.removeprefix('myntra-')}.jpg").read_bytes()
    by_photo = engine.search(image=photo, limit=5, explain=True)
    assert by_photo.mode == "image" and by_photo.hits[0].garment.pk == target.pk
    # int8 dynamic quantisation scales activations per batch: the same photo alone is a hair away
    assert by_photo.hits[0].signals["photo"].distance < 1e-3
    like_this_in_red = engine.search(image=photo, query="in red", limit=10, explain=True)
    assert like_this_in_red.mode == "image+text"
    # every signal ran and each contributes hits to the fused list; with random CLIP weights the text
    # tower's ranks are arbitrary, so where its first hit lands (6th since photos are re-encoded) is not
    assert {"photo", "image", "text"} <= set(like_this_in_red.planner)
    assert {"photo", "image", "text"} <= {name for hit in like_this_in_red.hits for name in hit.signals}
    with pytest.raises(InvalidSearchError, match="cannot be used"):
        engine.search(image=b"not an image")


@pytest.mark.parametrize(
    "filters",
    [
        {"size": "M"},
        {"condition": ["good", "fair"]},
        {"category": "footwear"},
        {"subcategory": ["t-shirt", "shirt"], "gender": "men"},
        {"brand": ["puma", "nike"], "price_range": {"min": 20}},
        {"price_range": [10, 30], "size": ["s", "m"], "condition": "like_new"},
    ],
)
def test_each_filter_alone_and_combined_is_exact(catalogue, filters):
    from search.filters import parse_filters

    expected = set(Garment.objects.filter(parse_filters(filters).q()).values_list("pk", flat=True))
    result = engine.search(query="casual clothes", filters=filters, limit=100, facets=True)
    found = {hit.garment.pk for hit in result.hits}
    assert found <= expected
    assert len(found) == min(100, len(expected))  # every sample garment has its own photo: nothing collapses
    assert result.facets.total == len(expected)
