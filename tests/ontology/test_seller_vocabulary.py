"""Seller vocabulary (issue 15): every new entry matches, language-gated words match only in their
language, and the mappings the issue found wrong are gone."""

from __future__ import annotations

from typing import Any

import pytest

from ontology.extractors.text import extract_text
from ontology.language import detect_language
from ontology.vocabulary import load_vocabulary, tokenize

from .vocabulary_cases import NEW_ENTRIES


def values(title: str, **kwargs: Any) -> dict[str, str]:
    found, _ = extract_text(title=title, **kwargs)
    return {name: extraction.value for name, extraction in found.items()}


@pytest.mark.parametrize(("section", "form", "language", "canonical"), NEW_ENTRIES)
def test_every_new_entry_reads_as_its_value(section, form, language, canonical):
    vocabulary = load_vocabulary()
    found = vocabulary.lookup(tuple(tokenize(form)), language) or ()
    if section == "size":
        assert vocabulary.canonical("size", form) == canonical
    else:
        assert any(value.section == section and value.canonical == canonical for value in found), found


def test_the_new_entries_cover_the_issue_s_kinds():
    entries = {(section, canonical) for section, _, _, canonical in NEW_ENTRIES}
    expected = {
        ("gender", "kids"), ("subcategory", "overshirt"), ("material", "acrylic"), ("material", "down"),
        ("material", "taffeta"), ("material", "tulle"), ("material", "terry"), ("material", "corduroy"),
        ("pattern", "argyle"), ("pattern", "fair isle"), ("pattern", "monogram"), ("pattern", "camouflage"),
        ("fit", "mom"), ("fit", "flare"), ("fit", "straight"), ("style", "grunge"), ("style", "workwear"),
        ("era", "40s"), ("brand", "coach"), ("brand", "lululemon"), ("brand", "golden goose"), ("brand", "next"),
        ("brand", "reformation"),
    }  # fmt: skip
    assert expected <= entries


@pytest.mark.parametrize(
    ("word", "language", "section", "canonical"),
    [("robe", "fr", "subcategory", "dress"), ("rock", "de", "subcategory", "skirt"),
     ("gonna", "it", "subcategory", "skirt"), ("pull", "fr", "subcategory", "sweater"),
     ("jersey", "es", "subcategory", "sweater"), ("rosa", "es", "color", "pink")],
)  # fmt: skip
def test_language_gated_words_mean_their_language_only_in_it(word, language, section, canonical):
    vocabulary = load_vocabulary()
    mine = vocabulary.lookup((word,), language) or ()
    english = vocabulary.lookup((word,), "en") or ()
    assert any(v.section == section and v.canonical == canonical for v in mine)
    assert not any(v.section == section and v.canonical == canonical for v in english)


@pytest.mark.parametrize(
    ("title", "description", "expected"),
    [
        ("Robe longue noire Zara taille 38", "", {"subcategory": "dress", "primary_color": "black"}),
        ("Bath robe, white cotton", "", {"subcategory": "robe"}),
        ("Rock kariert Größe S", "Neu ohne Etikett.", {"subcategory": "skirt", "pattern": "checked"}),
        ("Rock band tee", "", {"subcategory": "t-shirt"}),
        ("Vestido rojo Mango talla M", "Nuevo con etiqueta", {"subcategory": "dress", "primary_color": "red"}),
        ("Gonna midi verde taglia 42", "", {"subcategory": "skirt", "primary_color": "green"}),
        ("Jeansjacke hellblau Gr. L", "", {"subcategory": "jacket", "primary_color": "blue"}),
        ("Winterjacke schwarz Herren", "", {"subcategory": "jacket", "gender": "men", "primary_color": "black"}),
        ("Weiße Bluse Esprit", "", {"subcategory": "blouse", "primary_color": "white"}),
    ],
)
def test_french_spanish_german_italian_titles(title, description, expected):
    found = values(title, description=description, currency="EUR")
    assert {key: found.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [("Robe longue fleurie taille 38, très bon état", "fr"), ("Vestido rojo talla M, nuevo con etiqueta", "es"),
     ("Kleid schwarz Gr. 36 neu mit Etikett", "de"), ("Vestito a fiori taglia M, mai indossato", "it"),
     ("Black dress size 8, worn once", "en"), ("Converse Mono Black Canvas", "en")],
)  # fmt: skip
def test_the_language_of_a_listing(text, language):
    assert detect_language(tokenize(text), load_vocabulary()) == language


@pytest.mark.parametrize(
    ("title", "currency", "expected"),
    [
        ("Uniqlo overshirt L khaki", "GBP", {"subcategory": "overshirt", "category": "tops"}),
        ("Hunter wellies size 5 green", "GBP", {"subcategory": "boots", "category": "footwear"}),
        ("Clarks court shoes black patent", "GBP", {"subcategory": "heels", "gender": "women"}),
        ("Converse hi-top trainers white", "GBP", {"subcategory": "casual shoes"}),
        ("Vans low top sneakers", "USD", {"subcategory": "casual shoes"}),
        ("ASOS corset top white", "GBP", {"subcategory": "top", "category": "tops"}),
        ("Corset, boned, black", "GBP", {"subcategory": "shapewear"}),
        ("White cotton vest M", "GBP", {"subcategory": "top"}),
        ("Grey wool vest M", "USD", {"subcategory": "waistcoat"}),
        ("Jockey men white vest", None, {"subcategory": "innerwear vest"}),  # a retail title, no market
        ("North Face puffer vest black", "USD", {"subcategory": "jacket"}),
        ("Levi's 501 W32 L30 light wash", "USD", {"subcategory": "jeans", "primary_color": "blue"}),
        ("Mom jeans dark wash", "GBP", {"fit": "mom", "primary_color": "blue"}),
        ("Flared jeans straight leg", "GBP", {"fit": "flare"}),
        ("Straight leg chinos", "GBP", {"fit": "straight"}),
        ("Argyle knit jumper", "GBP", {"pattern": "argyle"}),
        ("Fair isle sweater", "GBP", {"pattern": "fair isle"}),
        ("LV monogram bag", "GBP", {"pattern": "monogram", "brand": "louis vuitton"}),
        ("Acrylic beanie", "GBP", {"material": "acrylic"}),
        ("Goose down filled coat", "GBP", {"material": "down", "subcategory": "coat"}),
        ("Taffeta prom dress", "GBP", {"material": "taffeta"}),
        ("Tulle skirt in blush", "GBP", {"material": "tulle", "subcategory": "skirt"}),
        ("Terry towelling polo", "GBP", {"material": "terry"}),
        ("Grunge mesh top", "GBP", {"style": "grunge"}),
        ("Carhartt workwear jacket", "GBP", {"style": "workwear", "brand": "carhartt"}),
        ("1940s tea dress", "GBP", {"era": "40s"}),
        ("Kids raincoat yellow", "GBP", {"gender": "kids"}),
        ("Coach tabby bag", "USD", {"brand": "coach", "subcategory": "handbag"}),
        ("Lululemon align leggings", "USD", {"brand": "lululemon"}),
        ("Golden Goose superstar sneakers", "EUR", {"brand": "golden goose", "primary_color": None}),
        ("Next girls party dress", "GBP", {"brand": "next", "gender": "girls"}),
        ("Reformation linen dress", "USD", {"brand": "reformation", "material": "linen"}),
    ],
)
def test_seller_garment_words(title, currency, expected):
    found = values(title, currency=currency)
    assert {key: found.get(key) for key in expected} == expected


def test_the_mappings_found_wrong_are_gone():
    assert values("Wedding guest dress").get("occasion") != "ethnic"
    assert values("Festive Christmas jumper").get("occasion") != "ethnic"
    assert values("Festive Christmas jumper").get("style") != "ethnic"
    assert values("Corduroy trousers")["material"] == "corduroy"
    assert values("Camo cargo pants")["pattern"] == "camouflage"
    assert values("Leopard print skirt")["pattern"] == "animal"
    assert values("Workwear jacket").get("style") == "workwear"
    assert values("Fabindia Blue Printed Saree")["occasion"] == "ethnic"  # a saree is still ethnic wear


def test_a_brand_that_is_an_everyday_word_is_read_in_a_title_only():
    assert values("Black t-shirt", description="Soft, worn next to skin").get("brand") is None
    assert values("Next black t-shirt").get("brand") == "next"


def test_a_garment_word_after_in_is_a_shade_not_the_garment():
    assert values("Tulle midi skirt in blush", currency="USD")["subcategory"] == "skirt"
    assert values("Lakme Absolute Blush")["subcategory"] == "blush"


@pytest.mark.parametrize(
    ("title", "gender"),
    [("Speedo swimsuit black", "women"), ("Nautica swim trunks blue", "men"), ("Steve heeled boots", "women"),
     ("Quiksilver boardshorts", "men"), ("Lands End swimsuit", "women"), ("LK Bennett court shoes", "women"),
     ("Bonobos chinos", "men")],
)  # fmt: skip
def test_garment_words_and_labels_that_tell_the_wearer(title, gender):
    assert values(title, currency="USD")["gender"] == gender
