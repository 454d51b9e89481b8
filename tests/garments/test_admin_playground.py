"""The search playground: the engine's hits with their explanations, the planner and timings; bad input
is a form error, never a 500; staff only."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from embeddings.services import embed_garments
from search.engine import HybridSearchEngine
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PLAYGROUND = reverse("admin:garments_garment_playground")
TITLES = [
    "Blue denim jacket",
    "Black leather jacket",
    "Red wool scarf",
    "Blue cotton shirt",
    "Green linen trousers",
    "White canvas sneakers",
]


@pytest.fixture
def catalogue(garment_factory) -> list[int]:
    garments = [garment_factory(title=title, description="", attributes={}) for title in TITLES]
    ids = [g.pk for g in garments]
    embed_garments(garment_ids=ids, space="text")
    return ids


def _hit_ids(body: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="playground-hit" data-garment="(\d+)">', body)]


def test_the_playground_shows_the_engines_hits_with_explanations_planner_and_timings(staff_client, catalogue):
    response = staff_client.get(PLAYGROUND, {"q": "blue denim jacket", "limit": "5"})
    body = response.content.decode()
    assert response.status_code == 200
    expected = HybridSearchEngine().search(query="blue denim jacket", limit=5, explain=True, facets=False)
    assert _hit_ids(body) == [hit.garment.pk for hit in expected.hits]  # the engine's ranking, unchanged
    assert len(_hit_ids(body)) == 5
    # the top hit was found first by the text vectors: rank 1, and what that rank added to its score
    top_contribution = settings.SEARCH_SIGNAL_WEIGHTS["text"] / (settings.SEARCH_RRF_K + 1)
    first_row = body.split('<tr class="playground-hit"')[1]
    assert expected.hits[0].signals["text"].rank == 1
    assert f"+{top_contribution:.5f}" in first_row
    assert f"{expected.hits[0].score:.5f}" in first_row
    # the soft terms the query read and the top hit matched
    assert "<code>primary_color=blue</code>" in body or "<code>subcategory=jacket</code>" in body
    # the planner's path per vector signal, and the timings
    planner = re.search(r'<table id="playground-planner">.*?</table>', body, re.S)
    assert planner and re.search(r"<td>text</td><td><code>\w+</code></td>", planner.group(0))
    timings = re.search(r'<table id="playground-timings">.*?</table>', body, re.S)
    assert timings and "<td>total_ms</td>" in timings.group(0)


def test_filters_and_similar_to_go_through_the_apis_parsing(staff_client, catalogue):
    body = staff_client.get(PLAYGROUND, {"similar_to": str(catalogue[0]), "status": "any"}).content.decode()
    assert "mode similar" in body
    assert catalogue[0] not in _hit_ids(body)
    assert set(_hit_ids(body)) <= set(catalogue[1:])
    # a filter value is canonicalised as the API does it ("Navy Blue" would be navy); none of these is navy
    body = staff_client.get(PLAYGROUND, {"q": "jacket", "primary_color": "Navy Blue"}).content.decode()
    assert "<code>primary_color=[&#x27;navy&#x27;]</code>" in body
    assert _hit_ids(body) == []
    assert "No garment matched." in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "jacket", "limit": "0"}, "greater than or equal to 1"),
        ({"q": "jacket", "limit": "many"}, "A valid integer is required"),
        ({"q": "jacket", "category": "spaceship"}, "is not a known category"),
        ({"q": "jacket", "price_min": "cheap"}, "is not a number"),
        ({"q": "jacket", "status": "lost"}, "unknown status lost"),
        ({"q": "jacket\x01"}, "control characters"),
        ({"q": "x" * 501}, "no more than 500 characters"),
        ({"similar_to": "999999999"}, "does not exist"),
        ({"similar_to": "-3"}, "greater than or equal to 1"),
    ],
)
def test_bad_input_is_a_form_error_not_a_500(staff_client, catalogue, params, message):
    response = staff_client.get(PLAYGROUND, params)
    body = response.content.decode()
    assert response.status_code == 200
    assert "errorlist" in body
    assert message in body
    assert "playground-hits" not in body


def test_the_empty_playground_is_a_form(staff_client):
    body = staff_client.get(PLAYGROUND).content.decode()
    assert '<form method="get" action="" id="playground-form"' in body
    assert '<select name="category"' in body
    assert "errorlist" not in body


def test_only_staff_reach_the_playground(client, db):
    response = client.get(PLAYGROUND)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(UserFactory(username="shopper"))
    response = client.get(PLAYGROUND, {"q": "jacket"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_changelist_and_the_index_link_to_the_playground_and_status(staff_client):
    for url in (reverse("admin:garments_garment_changelist"), reverse("admin:index")):
        body = staff_client.get(url).content.decode()
        assert f'href="{PLAYGROUND}"' in body
        assert f'href="{reverse("admin:garments_garment_status")}"' in body
