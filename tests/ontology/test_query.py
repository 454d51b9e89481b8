"""Query parsing: hard filters (prices in every form, sizes, availability), soft terms, residual text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ontology.query import MAX_QUERY_CHARS, parse_query

D = Decimal


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("blue denim jacket under $100", {"price_max": D("100"), "currency": "USD"}),
        ("dress below 50", {"price_max": D("50")}),
        ("boots less than 80 euros", {"price_max": D("80"), "currency": "EUR"}),
        ("coat cheaper than £120", {"price_max": D("120"), "currency": "GBP"}),
        ("scarf max 15", {"price_max": D("15")}),
        ("jeans at most 40 usd", {"price_max": D("40"), "currency": "USD"}),
        ("bag up to 200 EUR", {"price_max": D("200"), "currency": "EUR"}),
        ("shirt <= 25", {"price_max": D("25")}),
        ("trainers less than 60 quid", {"price_max": D("60"), "currency": "GBP"}),
        ("sweater no more than 45.50 dollars", {"price_max": D("45.50"), "currency": "USD"}),
        ("watch over 100", {"price_min": D("100")}),
        ("blazer above €80", {"price_min": D("80"), "currency": "EUR"}),
        ("handbag more than 1k", {"price_min": D("1000")}),
        ("leather jacket at least 150 gbp", {"price_min": D("150"), "currency": "GBP"}),
        ("skirt between 20 and 50", {"price_min": D("20"), "price_max": D("50")}),
        ("silk blouse $20 to $50", {"price_min": D("20"), "price_max": D("50"), "currency": "USD"}),
        ("floral dress 20-40 eur", {"price_min": D("20"), "price_max": D("40"), "currency": "EUR"}),
        ("kurta from 10 to 30 pounds", {"price_min": D("10"), "price_max": D("30"), "currency": "GBP"}),
        ("linen shirt around 50 dollars", {"price_min": D("40.00"), "price_max": D("60.00"), "currency": "USD"}),
        ("black dress $30", {"price_max": D("30"), "currency": "USD"}),
        ("jacket 40€", {"price_max": D("40"), "currency": "EUR"}),
        ("€30 heels", {"price_max": D("30"), "currency": "EUR"}),
        ("red wool midi skirt size M under 30 euros", {"price_max": D("30"), "currency": "EUR", "size": ["m"]}),
        # no wearer stated: the size as written and both charts' EU readings (men's 42, women's 41)
        ("sneakers uk 8", {"size": ["uk 8", "eu 42", "eu 41"]}),
        ("mens trainers uk 9", {"size": ["eu 43"]}),
        ("jeans w32 l30", {"size": ["w32 l30"]}),
        ("kids coat 5-6y", {"size": ["age 5-6"]}),
        ("robe taille 38", {"size": ["eu 38"]}),
        ("heels us 7 women", {"size": ["eu 38"]}),
        ("jeans w32", {"size": ["w32"]}),
        ("xl hoodie", {"size": ["xl"]}),
        ("dress size 10", {"size": ["uk 10"]}),
        ("in stock navy pullover", {"status": "available"}),
        ("levis 501 jeans", {}),
        ("dress 5-10", {}),
        ("2 pack socks", {}),
    ],
)
def test_hard_filters(query, filters):
    assert parse_query(query).filters == filters


@pytest.mark.parametrize(
    ("query", "soft", "residual"),
    [
        (
            "blue denim jacket under $100",
            {("primary_color", "blue"), ("material", "denim"), ("subcategory", "jacket"), ("category", "outerwear")},
            "jacket",
        ),
        (
            "men's white t-shirts",
            {("gender", "men"), ("primary_color", "white"), ("subcategory", "t-shirt"), ("category", "tops")},
            "t shirts",
        ),
        ("Red Tape shoes", {("brand", "red tape"), ("category", "footwear")}, "shoes"),
        (
            "vintage 90s levis jacket",
            {
                ("style", "vintage"),
                ("era", "90s"),
                ("brand", "levi's"),
                ("subcategory", "jacket"),
                ("category", "outerwear"),
            },
            "jacket",
        ),
        (
            "navy and white striped tee",
            {
                ("primary_color", "navy"),
                ("secondary_color", "white"),
                ("pattern", "striped"),
                ("subcategory", "t-shirt"),
                ("category", "tops"),
            },
            "tee",
        ),
        (
            "nwt zara midi dress",
            {("condition", "new_with_tags"), ("brand", "zara"), ("subcategory", "dress"), ("category", "dresses")},
            "midi dress",
        ),
        ("gift for her", {("gender", "women")}, "gift"),
        ("something cosy", set(), "something cosy"),
    ],
)
def test_soft_terms_and_residual(query, soft, residual):
    parsed = parse_query(query)
    assert {(term.attribute, term.value) for term in parsed.soft} == soft
    assert parsed.residual == residual


def test_negated_terms_are_kept_apart():
    parsed = parse_query("not leather boots")
    assert [(t.attribute, t.value) for t in parsed.negated] == [("material", "leather")]
    assert ("subcategory", "boots") in {(t.attribute, t.value) for t in parsed.soft}
    assert parsed.residual == "boots"


@pytest.mark.parametrize("query", ["", "   ", "платье красное", "🙂🙂", "$", "under", "size", "x" * 100_000])
def test_bad_input_parses_to_something_harmless(query):
    parsed = parse_query(query)
    assert len(parsed.text) <= MAX_QUERY_CHARS
    assert parsed.filters == {}
    assert parsed.soft == []
