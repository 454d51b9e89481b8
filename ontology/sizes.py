"""Reading sizes: letter sizes, and numeric sizes in the EU, UK and US systems, normalised.

A size is read only where the words say it is one ("size m", "size eu 38", "uk 8", "w32", or an
unambiguous letter size such as "xl"): a bare "m" or "small" is not a size. Canonical forms:
letter sizes as in the vocabulary (xs .. xxxl, "one size"), shoe and clothing numbers as
"<system> <number>" ("eu 38", "uk 8", "us 10"), waist sizes as "w32". Footwear sizes in UK or US
are converted to EU with the usual adult tables, so one filter finds them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .vocabulary import Vocabulary, fold

UNAMBIGUOUS_LETTERS = {"xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl", "2xs"}
_NUMBER = r"(\d{1,2}(?:\.5)?)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(eu|uk|us|fr|it)\s*-?\s*{_NUMBER}\b"), "system_first"),
    (re.compile(rf"\b{_NUMBER}\s*(eu|uk|us)\b"), "number_first"),
    (re.compile(r"\bw\s?(2[4-9]|3[0-9]|4[0-8])\b"), "waist"),
    (re.compile(r"\b(2[4-9]|3[0-9]|4[0-8])\s?w\b"), "waist_suffix"),
]
_SIZE_WORD = re.compile(r"\bsize[sd]?\s*:?\s*([a-z0-9][a-z0-9. ]{0,20})")


@dataclass(frozen=True)
class SizeMatch:
    value: str
    start: int
    end: int


def uk_to_eu_shoe(uk: float) -> float:
    """Adult shoe sizes: EU = UK + 33 is the common retail table (UK 5 -> EU 38)."""
    return uk + 33


def us_to_eu_shoe(us: float, *, women: bool) -> float:
    return uk_to_eu_shoe(us - (2 if women else 1))


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else str(value)


def normalise_numeric(system: str, number: str, *, footwear: bool = False, women: bool = False) -> str:
    system = {"fr": "eu", "it": "eu"}.get(system, system)
    if footwear and system == "uk":
        return f"eu {_number(str(uk_to_eu_shoe(float(number))))}"
    if footwear and system == "us":
        return f"eu {_number(str(us_to_eu_shoe(float(number), women=women)))}"
    return f"{system} {_number(number)}"


def find_sizes(text: str, vocabulary: Vocabulary, *, footwear: bool = False, women: bool = False) -> list[SizeMatch]:
    """Every size the text states, with its character span in the folded text."""
    folded = fold(text)
    found: list[SizeMatch] = []
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(folded):
            if kind == "system_first":
                value = normalise_numeric(match.group(1), match.group(2), footwear=footwear, women=women)
            elif kind == "number_first":
                value = normalise_numeric(match.group(2), match.group(1), footwear=footwear, women=women)
            else:
                value = f"w{match.group(1)}"
            found.append(SizeMatch(value, match.start(), match.end()))
    taken = [(m.start, m.end) for m in found]
    for match in _SIZE_WORD.finditer(folded):
        if any(start <= match.start(1) < end for start, end in taken):
            continue
        words = match.group(1).split()
        for length in range(min(4, len(words)), 0, -1):
            phrase = " ".join(words[:length])
            canonical = vocabulary.canonical("size", phrase)
            if canonical:
                end = match.start(1) + len(phrase)
                found.append(SizeMatch(canonical, match.start(), end))
                break
            if length == 1 and re.fullmatch(r"\d{1,2}(\.5)?", phrase):
                system = "eu" if footwear else "uk"  # a bare clothing number is UK in this market
                found.append(SizeMatch(f"{system} {_number(phrase)}", match.start(), match.start(1) + len(phrase)))
    taken = [(m.start, m.end) for m in found]
    for match in re.finditer(r"\b(" + "|".join(sorted(UNAMBIGUOUS_LETTERS, key=len, reverse=True)) + r")\b", folded):
        if not any(start <= match.start() < end for start, end in taken):
            canonical = vocabulary.canonical("size", match.group(1))
            if canonical:
                found.append(SizeMatch(canonical, match.start(), match.end()))
    return sorted(found, key=lambda m: m.start)


def whole_size(text: str, vocabulary: Vocabulary) -> str | None:
    """The canonical size `text` reads as in full ("EU 38" -> eu 38, "W32" -> w32); None when only a
    part of it reads as a size ("32/34" is kept as written, not cut to uk 32). Staff edits and search
    filters both use it, so a size stored as written is found by the same words."""
    phrase = f"size {text}"
    sizes = find_sizes(phrase, vocabulary)
    return sizes[0].value if len(sizes) == 1 and sizes[0].end == len(phrase.rstrip()) else None
