"""Chips: what a query was read as, and the query text without each piece (read back by the same parser)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import QueryDict

from storefront.chips import near_terms, parsed, text_chips, text_without_filter, text_without_words


def chips_of(text: str, **params: str) -> dict[str, str | None]:
    query = QueryDict(mutable=True)
    query["q"] = text
    for key, value in params.items():
        query[key] = value
    return {chip.label: chip.remove_url for chip in text_chips(query, parsed(text))}


def q_of(url: str | None) -> str:
    assert url is not None, "the chip has no removal link"
    return parse_qs(urlsplit(url).query).get("q", [""])[0]


def readings(text: str) -> set[tuple[str, str]]:
    return {(term.attribute, term.value) for term in parsed(text).soft}


@pytest.mark.parametrize("text", ["blue denim jacket under $100", "men's navy hoodie", "red wool coat in stock"])
def test_removing_a_soft_chip_drops_that_reading_and_keeps_the_others(text):
    before = parsed(text)
    for term in before.soft:
        edited = text_without_words(text, term.words)
        assert edited is not None
        after = readings(edited)
        assert (term.attribute, term.value) not in after
        others = {(t.attribute, t.value) for t in before.soft if t.words != term.words}
        assert others <= after
        assert parsed(edited).filters == before.filters


def test_a_price_chip_takes_its_whole_phrase_and_nothing_else():
    removed = text_without_filter("vintage blue jacket under $100", ("price_min", "price_max"))
    assert removed is not None
    edited, words = removed

    assert (edited, words) == ("vintage blue jacket", "under $100")
    assert "price_max" not in parsed(edited).filters


def test_a_range_and_a_stock_phrase_are_separate_chips():
    chips = chips_of("red dress in stock between $20 and $50")

    assert q_of(chips["between $20 and $50"]) == "red dress in stock"
    assert q_of(chips["in stock"]) == "red dress between $20 and $50"


def test_a_size_chip_takes_the_word_size_with_it():
    chips = chips_of("black boots size 9")

    size_chip = next(label for label in chips if "9" in label)
    assert "size" not in parsed(q_of(chips[size_chip])).filters
    assert q_of(chips[size_chip]) == "black boots"


def test_a_negated_term_goes_with_its_negation():
    chips = chips_of("black boots not leather")

    edited = q_of(chips["not leather"])
    assert edited == "black boots"
    assert parsed(edited).negated == []


def test_a_hyphenated_word_keeps_its_other_half():
    assert text_without_words("vintage blue-denim jacket", "blue") == "vintage denim jacket"


def test_chip_links_keep_the_other_parameters_and_drop_the_cursor():
    chips = chips_of("blue shirt", primary_color="blue", cursor="abc")

    url = chips["shirt"]
    assert url is not None
    params = parse_qs(urlsplit(url).query)
    assert params["primary_color"] == ["blue"] and "cursor" not in params and params["q"] == ["blue"]


def test_removing_the_last_chip_leaves_no_q():
    assert chips_of("jacket")["jacket"] == "/"


def test_an_unknown_word_gets_the_nearest_vocabulary_terms():
    near = near_terms(parsed("blue jackett"))

    assert "jacket" in near["jackett"]
    assert near_terms(parsed("blue jacket")) == {}
