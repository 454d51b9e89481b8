"""The vocabulary file: loads, validates, normalises surface forms."""

from __future__ import annotations

import copy
import tomllib

import pytest

from ontology.vocabulary import VOCABULARY_PATH, VocabularyError, build_vocabulary, load_vocabulary, tokenize


@pytest.fixture(scope="module")
def raw() -> dict:
    with VOCABULARY_PATH.open("rb") as handle:
        return tomllib.load(handle)


def test_the_shipped_vocabulary_is_valid_and_rich():
    vocabulary = load_vocabulary()
    assert vocabulary.version >= 1
    assert len(vocabulary.values["subcategory"]) > 100 and len(vocabulary.values["color"]) > 30
    assert len(vocabulary.values["brand"]) > 100


@pytest.mark.parametrize(
    ("section", "text", "canonical"),
    [
        ("subcategory", "tee", "t-shirt"),
        ("subcategory", "T-Shirt", "t-shirt"),
        ("subcategory", "tshirt", "t-shirt"),
        ("subcategory", "t shirt", "t-shirt"),
        ("subcategory", "jumper", "sweater"),
        ("subcategory", "pullover", "sweater"),
        ("subcategory", "trainers", "sports shoes"),
        ("subcategory", "sneakers", "casual shoes"),
        ("color", "navy", "navy"),
        ("color", "Navy Blue", "navy"),
        ("color", "gray", "grey"),
        ("material", "jean", None),
        ("brand", "LEVI STRAUSS", "levi's"),
        ("brand", "levis", "levi's"),
        ("brand", "Levi's", "levi's"),
        ("size", "extra large", "xl"),
        ("condition", "NWT", "new_with_tags"),
        ("gender", "ladies", "women"),
        ("brand", "Lakmé", "lakme"),
    ],
)
def test_surface_forms_map_to_canonical_values(section, text, canonical):
    assert load_vocabulary().canonical(section, text) == canonical


def test_plurals_are_generated_for_garment_kinds():
    phrases = load_vocabulary().phrases
    assert {v.canonical for v in phrases[("dresses",)]} == {"dress", "dresses"}  # subcategory and category
    assert any(v.canonical == "watch" for v in phrases[("watches",)])
    assert any(v.canonical == "t-shirt" for v in phrases[("tees",)])
    assert phrases[("jeans",)][0].canonical == "jeans"


def test_navy_is_a_shade_of_blue_and_subcategories_know_their_category():
    vocabulary = load_vocabulary()
    assert vocabulary.color_family("navy") == vocabulary.color_family("blue") == "blue"
    assert vocabulary.value("subcategory", "jeans").category == "bottoms"
    assert vocabulary.value("subcategory", "bra").gender == "women"


def test_tokenize_folds_case_accents_apostrophes_and_other_scripts():
    assert tokenize("Men's T-Shirt, L'Oréal 3/4 sleeve") == ["men", "t", "shirt", "loreal", "3", "4", "sleeve"]
    assert tokenize("платье 红色") == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "integer `version`"),
        (lambda d: d.update(flavour={}), "unknown sections"),
        (lambda d: d.pop("brand"), "missing sections"),
        (lambda d: d["color"].update(teal={"family": "ocean", "rgb": [0, 1, 2], "synonyms": []}), "family must be"),
        (lambda d: d["color"].update(teal={"family": "blue", "rgb": [0, 1], "synonyms": []}), "rgb must be"),
        (lambda d: d["subcategory"].update(kilt={"category": "skirts", "synonyms": []}), "is not in [category]"),
        (lambda d: d["subcategory"].update(kilt={"synonyms": []}), "names its category"),
        (lambda d: d["pattern"].update(Tartan={"synonyms": []}), "lowercase"),
        (lambda d: d["pattern"].update(tartan={"synonyms": ["stripes"]}), "is a surface form of both"),
        (lambda d: d["pattern"].update(tartan={"synonyms": "plaid"}), "must be a list"),
        (lambda d: d["pattern"].update(tartan={"synonym": []}), "unknown keys"),
    ],
)
def test_a_broken_vocabulary_is_refused_with_the_reason(raw, mutate, message):
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(VocabularyError) as error:
        build_vocabulary(data)
    assert message in str(error.value)
