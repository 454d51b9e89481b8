"""Sizes as sellers write them: children, waist and length, chest, collar, hats, belts, numbers read by
currency, shoes by the wearer's chart, and ambiguity said rather than guessed."""

from __future__ import annotations

import pytest

from ontology.extractors.text import extract_text
from ontology.sizes import MENS_UK_TO_EU, SizeContext, find_sizes, uk_to_eu_shoe, us_to_eu_shoe, whole_size
from ontology.vocabulary import load_vocabulary


def size(title: str, description: str = "", currency: str | None = "GBP") -> str | None:
    found, _ = extract_text(title=title, description=description, currency=currency)
    return found["size"].value if "size" in found else None


@pytest.mark.parametrize(
    ("title", "currency", "expected"),
    [
        ("Kids Nike hoodie 5-6Y", "GBP", "age 5-6"),
        ("Boden girls dress age 9-10 years", "GBP", "age 9-10"),
        ("Toddler pajama set 4T", "USD", "4t"),
        ("Baby dress 12-18 months", "USD", "age 12-18m"),
        ("T-shirt blanc 12 ans", "EUR", "age 12"),
        ("Vintage trousers 28 waist", "GBP", "w28"),
        ("Levi's 501 W32 L30", "USD", "w32 l30"),
        ("Carhartt work pants 34x32", "USD", "w34 l32"),
        ("Levi's 511 32W 32L", "GBP", "w32 l32"),
        ("Mens chinos 34R stone", "GBP", "w34 regular"),
        ("Suit jacket 40R charcoal", "USD", "chest 40 regular"),
        ("Fred Perry polo 38 chest", "GBP", "chest 38"),
        ("Barbour wax jacket 40 olive", "GBP", "chest 40"),
        ("Mens shirt 15.5 collar", "GBP", "collar 15.5"),
        ("Stetson fedora 7 1/4 grey", "USD", "hat 7 1/4"),
        ("Wool fedora 58 cm", "USD", "hat 58cm"),
        ("Gucci belt 85cm black", "GBP", "belt 85cm"),
        ("Leather belt size 34", "GBP", "belt 34"),
        ("Zara dress size 10", "GBP", "uk 10"),
        ("Zara dress size 10", "USD", "us 10"),
        ("Zara dress size 38", "EUR", "eu 38"),
        ("Whistles silk blouse 12 ivory", "GBP", "uk 12"),
        ("Madewell jeans 27 dark wash", "USD", "w27"),
        ("Patagonia fleece mens M grey", "USD", "m"),
        ("Jupe noire Mango 36", "EUR", "eu 36"),
        ("Robe Sézane taille 38", "EUR", "eu 38"),
        ("Vestido talla M", "EUR", "m"),
        ("Kleid Gr. 36", "EUR", "eu 36"),
        ("Next jeans size 16 regular", "GBP", "uk 16"),
        ("River Island jeans 10 short", "GBP", "uk 10 short"),
        ("Talbots blazer 10P", "USD", "us 10 petite"),
        ("Dress size 10 (UK)", "USD", "uk 10"),
        ("Women Small Beads Clutch", "GBP", None),
        ("Calvin Klein boxers M/L", "GBP", None),
        ("Top size S/M", "GBP", None),
    ],
)
def test_seller_sizes(title, currency, expected):
    assert size(title, currency=currency) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Dr Martens boots mens UK 9", "eu 43"),  # the men's chart, not UK + 33 = 42
        ("Dr Martens boots womens UK 9", "eu 42"),
        ("Nike trainers men's US 10", "eu 43"),
        ("Ugg boots women's US 8", "eu 39"),
        ("Converse hi tops UK 6", "eu 39"),  # both charts agree
        ("Nike Air Force 1 UK 9", "uk 9"),  # men's EU 43 or women's EU 42: kept as written
        ("Kids wellies size 12", "uk 12"),
        ("Golden Goose sneakers 38", "eu 38"),
    ],
)
def test_shoe_sizes_by_the_wearer_s_chart(title, expected):
    assert size(title) == expected


def test_an_ambiguous_shoe_size_says_so():
    found, _ = extract_text(title="Nike Air Force 1 UK 9", currency="GBP")
    assert found["size"].value == "uk 9"
    assert found["size"].evidence == "ambiguous: men's eu 43, women's eu 42; kept as written"
    sizes = find_sizes("uk 9", load_vocabulary(), context=SizeContext(footwear=True))
    assert sizes[0].alternatives == ("men's eu 43", "women's eu 42")


def test_the_charts():
    assert MENS_UK_TO_EU[9] == 43 and uk_to_eu_shoe(9, wearer="men") == 43
    assert uk_to_eu_shoe(5) == 38 and uk_to_eu_shoe(9) == 42
    assert us_to_eu_shoe(10, women=False) == 43 and us_to_eu_shoe(8, women=True) == 39


def test_a_stated_size_beats_a_bare_title_number():
    assert size("Ted Baker bow blouse 2 navy", "Ted sizing 2 = UK 10. Good condition.") == "uk 10"


def test_bare_title_numbers_need_a_currency_to_read_by():
    assert size("Whistles silk blouse 12 ivory", currency=None) is None
    assert size("Nike Air Max 90 white", currency="USD") is None  # a model number follows no garment word


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("w32 l30", "w32 l30"), ("age 5-6", "age 5-6"), ("4t", "4t"), ("chest 40 regular", "chest 40 regular"),
     ("collar 15.5", "collar 15.5"), ("hat 7 1/4", "hat 7 1/4"), ("belt 85cm", "belt 85cm"), ("uk 10-12", "uk 10-12"),
     ("W32", "w32"), ("EU 38", "eu 38"), ("M", "m"), ("32/34", None)],
)  # fmt: skip
def test_every_canonical_size_reads_back_whole(written, canonical):
    assert whole_size(written, load_vocabulary()) == canonical


def test_a_size_reads_the_wearer_when_the_words_do_not():
    found, _ = extract_text(title="Kids coat 5-6Y", currency="GBP")
    assert found["gender"].value == "kids"
    found, _ = extract_text(title="Hobbs trousers size 12", currency="GBP")
    assert found["gender"].value == "women"
    found, _ = extract_text(title="Suit jacket 40R", currency="USD")
    assert found["gender"].value == "men"
