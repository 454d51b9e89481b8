"""Grading a second-hand garment's condition from the listing, with the phrases that set the grade.

The scale is the vocabulary's [condition] section, best first: new_with_tags, like_new, good, fair.
Two kinds of evidence:
- statements of a grade ("NWT", "EUC", "worn twice", "good nick", "très bon état");
- disclosed flaws ("small stain on cuff", "pilling", "faded") and statements of wear ("signs of
  wear", "well worn"), which cap the grade at fair whatever else the listing says.
A negated flaw ("no stains", "stain free", "sin manchas") is no flaw. Of the statements, the first
one (title before description) sets the grade, except that a statement of tags ("NWT", "brand
new") wins over a plain like-new one ("never worn") unless the listing says the tags are gone.
The evidence is the clause of the listing each deciding phrase sits in, so staff and shoppers read
"fair: 'small stain on cuff'".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .vocabulary import Vocabulary, tokenize

GRADES = ("new_with_tags", "like_new", "good", "fair")  # best first
FLOOR = "fair"
# Tokens that say a new garment has no tags ("NWOT", "new without tags", "tags removed").
TAGLESS = {"nwot", "bnwot", "without", "removed", "sans", "sin", "ohne", "senza", "no"}
MAX_EVIDENCE = 3
# "worn maybe 5 times", "worn about 10 times", "worn 2x": once or twice is like new, more is good.
_WORN_TIMES = re.compile(
    r"\b(?:worn|used|wore)\s+(?:maybe\s+|about\s+|around\s+|approx\.?\s+|only\s+|just\s+)?(\d{1,3}|a\s+few|few|several)"
    r"\s*(?:times|x)\b",
    re.IGNORECASE,
)
# Grade of a listing that only denies flaws ("no holes or marks"): it reads as used and sound.
DENIED_FLAWS_GRADE = "good"
_CLAUSE_BREAK = re.compile(r"[.!?;]+(?=\s|$)|,\s|\n|\s[-\u2013|]\s")


@dataclass(frozen=True)
class Clause:
    start: int  # token index where the clause starts, in its field's tokens
    end: int
    text: str


@dataclass(frozen=True)
class ConditionEvidence:
    """One condition phrase found in a listing: where it is and what it says."""

    grade: str
    form: tuple[str, ...]
    field: str
    start: int
    flaw: bool


@dataclass(frozen=True)
class Grade:
    value: str
    evidence: tuple[str, ...]  # the clauses that set it, as written

    def explain(self) -> str:
        """'fair: 'small stain on cuff'; 'faded''"""
        return f"{self.value}: " + "; ".join(f"'{text}'" for text in self.evidence)


def clauses(text: str) -> list[Clause]:
    """The text cut at sentence and comma breaks, each clause with its token span (tokens of the whole
    text, as tokenize gives them: no token spans a break)."""
    out: list[Clause] = []
    position = 0
    for piece in _CLAUSE_BREAK.split(text):
        count = len(tokenize(piece))
        if count:
            out.append(Clause(position, position + count, " ".join(piece.split())))
        position += count
    return out


def _clause_of(found: ConditionEvidence, by_field: dict[str, list[Clause]]) -> str:
    for clause in by_field.get(found.field, []):
        if clause.start <= found.start < clause.end:
            return clause.text
    return " ".join(found.form)


def worn_times(text: str, field: str) -> list[ConditionEvidence]:
    """Statements of how often a garment was worn, counted ("worn maybe 5 times")."""
    out = []
    for match in _WORN_TIMES.finditer(text):
        count = match.group(1).lower()
        grade = GRADES[1] if count.isdigit() and int(count) <= 2 else GRADES[2]
        start = len(tokenize(text[: match.start()]))
        out.append(ConditionEvidence(grade, tuple(tokenize(match.group(0))), field, start, False))
    return out


def grade_condition(
    found: list[ConditionEvidence],
    clauses_by_field: dict[str, list[Clause]],
    vocabulary: Vocabulary,
    denied: list[ConditionEvidence] | None = None,
) -> Grade | None:
    """The grade the listing's condition phrases support, or None when it says nothing of condition.

    `denied` are the flaws the listing negates ("no stains"): alone, they read as a sound used garment.
    """
    del vocabulary  # the scale is GRADES; kept in the signature for a vocabulary-defined scale later
    if not found:
        if denied:
            evidence = list(dict.fromkeys(_clause_of(item, clauses_by_field) for item in denied))[:MAX_EVIDENCE]
            return Grade(DENIED_FLAWS_GRADE, tuple(evidence))
        return None
    ordered = sorted(found, key=lambda item: (item.field != "title", item.start))
    caps = [item for item in ordered if item.flaw or item.grade == FLOOR]
    if caps:
        chosen = caps
        value = FLOOR
    else:
        tags = [item for item in ordered if item.grade == GRADES[0]]
        tagless = [item for item in ordered if item.grade == GRADES[1] and TAGLESS & set(item.form)]
        if tags and not tagless:
            chosen, value = tags, GRADES[0]
        elif tags and tagless:
            chosen, value = tagless, GRADES[1]
        else:
            value = ordered[0].grade
            chosen = [item for item in ordered if item.grade == value]
    evidence = list(dict.fromkeys(_clause_of(item, clauses_by_field) for item in chosen))[:MAX_EVIDENCE]
    return Grade(value, tuple(evidence))
