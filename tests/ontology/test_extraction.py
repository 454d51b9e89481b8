"""Text extraction: phrasing variants, brand-versus-colour traps, negation, bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ontology.extractors.text import extract_text


def values(title: str, **kwargs: Any) -> dict[str, str]:
    found, _ = extract_text(title=title, **kwargs)
    return {name: extraction.value for name, extraction in found.items()}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Turtle Check Men Navy Blue Shirt",
            {
                "gender": "men",
                "primary_color": "navy",
                "subcategory": "shirt",
                "category": "tops",
                "pattern": "checked",
            },
        ),
        ("Puma Men Grey T-shirt", {"brand": "puma", "primary_color": "grey", "subcategory": "t-shirt"}),
        ("Women's red tee", {"gender": "women", "primary_color": "red", "subcategory": "t-shirt"}),
        ("Grey tshirts for men", {"subcategory": "t-shirt", "gender": "men"}),
        ("Ladies woollen jumper", {"gender": "women", "material": "wool", "subcategory": "sweater"}),
        ("Cream cable knit pullover", {"primary_color": "cream", "subcategory": "sweater", "material": "knit"}),
        ("Nike trainers", {"brand": "nike", "subcategory": "sports shoes", "category": "footwear"}),
        ("Levis 501 denim jeans", {"brand": "levi's", "material": "denim", "subcategory": "jeans"}),
        ("Lee Cooper Men Formal Black Shoes", {"subcategory": "formal shoes", "primary_color": "black"}),
        ("Fabindia Blue Printed Saree", {"gender": "women", "subcategory": "saree", "pattern": "printed"}),
        ("Black & White striped dress", {"primary_color": "black", "secondary_color": "white", "pattern": "striped"}),
        ("Vintage 90s oversized denim jacket", {"style": "vintage", "era": "90s", "fit": "oversized"}),
        ("Long sleeve linen shirt", {"sleeve_length": "long", "material": "linen"}),
        ("Short dress", {"subcategory": "dress"}),
        ("Polo T-shirt", {"subcategory": "t-shirt"}),
        ("Mango polka dot blouse size S", {"brand": "mango", "pattern": "polka dot", "size": "s"}),
        # a UK 8 is EU 42 on the men's chart and EU 41 on the women's: with no wearer stated it stays UK 8
        ("Nike running shoes UK 8", {"size": "uk 8", "category": "footwear"}),
        ("Nike men's running shoes UK 9", {"size": "eu 43", "category": "footwear"}),
        ("Nike women's running shoes UK 8", {"size": "eu 41", "category": "footwear"}),
    ],
)
def test_phrasing_variants_and_synonyms(title, expected):
    found = values(title)
    assert {key: found.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    ("title", "brand", "colour"),
    [
        ("Red Tape Men Brown Casual Shoes", "red tape", "brown"),
        ("Red Rose Women Maroon Camisole", "red rose", "maroon"),
        ("Red Rose Women Nightdress", "red rose", None),
        ("Black Coffee Men Grey Blazer", "black coffee", "grey"),
        ("Blue Saint Men Red Jacket", "blue saint", "red"),
        ("Indigo Nation Men Grey Striped Shirt", "indigo nation", "grey"),
    ],
)
def test_brands_claim_their_colour_words(title, brand, colour):
    found = values(title)
    assert found.get("brand") == brand
    assert found.get("primary_color") == colour


def test_negation_drops_what_follows_it_and_only_that():
    _, matches = extract_text(title="Boots, not leather", description="Warm lining without zip")
    assert values("Boots, not leather").get("material") is None
    assert any(match.negated for match in matches)
    assert values("Not leather boots") == {"subcategory": "boots", "category": "footwear"}
    assert values("Faux leather jacket")["material"] == "faux leather"


def test_a_stated_brand_field_is_normalised():
    assert values("Slim fit jeans", brand="LEVI STRAUSS")["brand"] == "levi's"
    assert values("Slim fit jeans", brand="Acme Denim Co.")["brand"] == "acme denim co"


def test_confidence_is_lower_when_the_words_disagree():
    one, _ = extract_text(title="Red scarf")
    two, _ = extract_text(title="Red and green scarf")
    assert one["primary_color"].confidence > two["primary_color"].confidence
    assert all(0 <= e.confidence <= 1 for e in two.values())
    implied, _ = extract_text(title="Lace bra")
    assert implied["gender"].value == "women" and implied["gender"].confidence < 0.9


@pytest.mark.parametrize("title", ["", "   ", "платье красное 红色连衣裙", "!!!???", "1234567"])
def test_bad_input_gives_nothing_rather_than_an_error(title):
    assert values(title) == {}


def test_100_kb_of_text_is_handled_quickly():
    text = "lovely soft cotton fabric " * 4000 + " red dress"
    started = time.perf_counter()
    found = values("Dress", description=text)
    assert time.perf_counter() - started < 2
    assert found["subcategory"] == "dress"
    assert found["material"] == "cotton"
