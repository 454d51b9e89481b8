"""The search page: the API's engine behind a server-rendered page (chips, facets, pages, no results)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.throttling import SimpleRateThrottle

from garments.models import Garment
from garments.services import garment_create


def links(html: str, pattern: str = "") -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]*)"', html) if re.search(pattern, unescape(href))]


def cards(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="card" id="garment-(\d+)"', html)]


def chip_links(html: str) -> dict[str, str]:
    """Chip label -> its removal link."""
    return {
        unescape(label): unescape(href)
        for href, label in re.findall(r'<a href="([^"]*)" aria-label="Remove ([^"(]*?) \(', html)
    }


def test_the_page_has_a_labelled_search_box(client, catalogue):
    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="q">' in html and 'id="q" name="q" type="search"' in html
    assert 'role="search"' in html
    assert len(cards(html)) == 24  # the newest garments, before anything is asked


def test_a_text_search_shows_cards_with_thumbnails_titles_and_prices(client, catalogue):
    response = client.get("/", {"q": "blue shirt"})

    html = response.content.decode()
    assert response.status_code == 200
    found = cards(html)
    assert found
    garments = Garment.objects.in_bulk(found)
    first = garments[found[0]]
    assert first.title in unescape(html)
    assert f"/photos/{first.image_sha256}/320.webp" in html
    assert f"/photos/{first.image_sha256}/640.webp 640w" in html
    assert re.search(r'class="price">\$\d+(\.\d\d)?<', html)
    assert f'alt="{first.title}"' in unescape(html)


def test_the_page_shows_what_the_api_finds(client, catalogue, staff_user):
    page = client.get("/", {"q": "black leather shoes"}).content.decode()
    client.force_login(staff_user)
    api = client.get("/api/v1/search/", {"q": "black leather shoes", "limit": 24}).json()

    assert cards(page) == [hit["garment"]["id"] for hit in api["results"]]


def test_chips_show_the_parsed_query_and_removing_one_searches_without_it(client, catalogue):
    html = client.get("/", {"q": "blue denim jacket under $100"}).content.decode()
    removals = chip_links(html)
    assert {"blue", "denim", "jacket", "under $100"} <= set(removals)

    # when the colour chip is removed
    without_blue = removals["blue"]
    q = parse_qs(urlsplit(without_blue).query)["q"][0]
    assert "blue" not in q and "denim" in q and "$100" in q
    after = client.get(without_blue).content.decode()

    # then the search runs without it: no colour chip, the others stay
    assert "blue" not in chip_links(after) and {"denim", "under $100"} <= set(chip_links(after))

    # and the price chip's link drops the price words
    q = parse_qs(urlsplit(removals["under $100"]).query)["q"][0]
    assert q == "blue denim jacket"


def test_a_facet_link_narrows_and_becomes_a_removable_chip(client, catalogue):
    html = client.get("/", {"q": "shirt"}).content.decode()
    facet = next(href for href in links(html, r"[?&]primary_color=") if "q=shirt" in href)
    colour = parse_qs(urlsplit(facet).query)["primary_color"][0]

    narrowed = client.get(facet).content.decode()

    found = cards(narrowed)
    assert found
    assert set(Garment.objects.filter(pk__in=found).values_list("primary_color", flat=True)) == {colour}
    assert colour in chip_links(narrowed)
    back = chip_links(narrowed)[colour]
    assert "primary_color" not in parse_qs(urlsplit(back).query)


def test_the_next_page_link_follows_the_cursor(client, catalogue):
    first = client.get("/", {"q": "shirt"}).content.decode()
    next_url = next(iter(links(first, r"cursor=")))

    second = client.get(next_url)

    assert second.status_code == 200
    assert cards(second.content.decode())
    assert not set(cards(first)) & set(cards(second.content.decode()))
    assert "First page" in second.content.decode()


def test_more_like_this_searches_by_a_garment(client, catalogue):
    html = client.get("/", {"q": "watch"}).content.decode()
    garment_id = cards(html)[0]
    more = next(iter(links(html, rf"similar_to={garment_id}$")))

    similar = client.get(more)

    found = cards(similar.content.decode())
    assert similar.status_code == 200
    assert found and garment_id not in found
    assert "More like" in similar.content.decode()


def test_why_this_result_shows_the_signals_and_matched_terms(client, catalogue):
    html = client.get("/", {"q": "red tshirt"}).content.decode()

    first = html.split('<li class="card"')[1]
    assert "<summary>Why this result</summary>" in first
    assert re.search(r'<th scope="row">(text|keyword|trigram)</th><td>\d+</td>', first)
    assert "Matches your words" in html


def test_no_results_suggest_what_to_change(client, catalogue):
    # given: a price no garment of the sample is under, and a misspelt word
    html = client.get("/", {"q": "blue jackett under $1"}).content.decode()

    assert cards(html) == []
    assert "No garments match" in html
    suggestions = re.findall(r'<ul class="suggestions">(.*?)</ul>', html, re.S)[0]
    assert "without “under $1”" in unescape(suggestions)
    assert "“jacket” instead of “jackett”" in unescape(suggestions)


def test_a_dropped_suggestion_finds_garments(client, catalogue):
    html = client.get("/", {"q": "blue shirt under $1"}).content.decode()
    drop_price = chip_links(html)["under $1"]

    assert cards(client.get(drop_price).content.decode())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "shirt", "cursor": "not-a-cursor"}, "cursor"),
        ({"q": "shirt", "limit": "100000"}, "Results per page"),
        ({"q": "shirt\x01"}, "control characters"),
        ({"q": "shirt", "colour": "blue"}, "unknown query parameters: colour"),
        ({"q": "shirt", "primary_color": "plaid-ish"}, "not a known primary_color"),
        ({"q": "shirt", "price_min": "cheap"}, "not a number"),
        ({"similar_to": "abc"}, "More like this"),
        ({"photo": "f" * 64}, "upload it again"),
        ({"photo": "../etc"}, "not valid"),
    ],
)
def test_bad_input_is_the_page_with_a_message_and_a_400(client, catalogue, params, message):
    response = client.get("/", params)

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert 'role="alert"' in html and message in html
    assert 'id="q"' in html  # the page, to search again


def test_more_like_an_unknown_garment_is_a_404_page(client, catalogue):
    response = client.get("/", {"similar_to": str(max(catalogue) + 1000)})

    assert response.status_code == 404
    assert 'role="alert"' in response.content.decode()


def test_a_cursor_of_another_search_is_refused(client, catalogue):
    first = client.get("/", {"q": "shirt"}).content.decode()
    cursor = parse_qs(urlsplit(next(iter(links(first, r"cursor=")))).query)["cursor"][0]

    response = client.get("/", {"q": "shoes", "cursor": cursor})

    assert response.status_code == 400
    assert "another search" in response.content.decode()


def test_anonymous_visitors_sign_in_first_when_search_is_not_public(client, catalogue, settings, staff_user):
    settings.SEARCH_ALLOW_ANONYMOUS = False

    response = client.get("/", {"q": "shirt"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
    assert "q%3Dshirt" in response["Location"]
    client.force_login(staff_user)
    assert client.get("/", {"q": "shirt"}).status_code == 200


def test_the_page_is_throttled_with_the_api(client, catalogue, monkeypatch):
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "search": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)

    statuses = [client.get("/", {"q": "shirt"}).status_code for _ in range(3)]
    api = client.get("/api/v1/search/", {"q": "shirt"})

    assert statuses == [200, 200, 429]
    assert api.status_code == 429  # one budget for the page and the API


def test_a_text_search_costs_what_the_engine_costs_and_nothing_more(client, catalogue, django_assert_num_queries):
    client.get("/", {"q": "blue shirt"})  # warm: the parse, the facet cache, the model
    # the engine's four statements for a hybrid search (tests/search/test_speed_paths.py), and no more:
    # the cards read nothing per garment
    with django_assert_num_queries(4):
        response = client.get("/", {"q": "blue shirt"})
    assert response.status_code == 200


def test_more_like_this_adds_one_query_for_the_garment_it_starts_from(client, catalogue, django_assert_num_queries):
    client.get("/", {"similar_to": catalogue[0]})
    with django_assert_num_queries(5):
        response = client.get("/", {"similar_to": catalogue[0]})
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_garment_without_a_photo_is_a_card_without_one(client, settings):
    """A listing may have no photo yet (an import without images, a photo removed): its card still renders."""
    settings.SEARCH_ALLOW_ANONYMOUS = True
    garment_create(sku="no-photo", title="Green corduroy trousers")
    response = client.get("/", {"q": "corduroy trousers"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Green corduroy trousers" in body and 'id="garment-' in body


def test_a_filter_written_another_way_is_the_chosen_facet_and_its_link_removes_it(client, catalogue):
    # given a filter as a person might type it into the address bar
    html = client.get("/", {"q": "shirt", "category": "TOPS"}).content.decode()
    # then the facet it applies ("tops") shows as chosen, with a link that takes the filter away
    chosen = re.findall(r'<a href="([^"]*)" aria-current="true" class="selected"><span class="visually-hidden">'
                        r"Remove filter: </span>tops ", html)  # fmt: skip
    assert len(chosen) == 1
    assert "category" not in parse_qs(urlsplit(unescape(chosen[0])).query)
    assert not links(html, r"category=TOPS&.*category=tops")  # never the same filter twice


def test_more_like_names_the_garment_it_starts_from_without_a_dead_link(client, catalogue):
    garment = Garment.objects.get(pk=catalogue[0])
    html = client.get("/", {"similar_to": garment.pk}).content.decode()
    assert f"More like <strong>{garment.title}</strong>" in unescape(html)
    assert f'href="#garment-{garment.pk}"' not in html
