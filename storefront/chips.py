"""What the page shows of a search's reading: removable chips, facet links, and suggestions for no results.

No search logic lives here: the pieces come from the engine's ParsedQuery and filters (the same the
API returns), and every link is a plain GET of the page with its parameters edited, so the engine
decides what each one finds. Editing the query text reads ontology.query only for which words a
parsed piece was made of.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from ontology.query import NEGATION_WORDS, STOPWORDS, ParsedQuery, parse_query
from ontology.vocabulary import load_vocabulary, tokenize

# Parameters that describe the search itself; a link that changes it drops the cursor (page 1 again).
FILTER_PARAMETERS = ("price_min", "price_max", "currency", "status")
# A hard filter the text stated, the keys of ParsedQuery.filters it sets, shown as one chip.
PARSED_FILTER_CHIPS = (("price", ("price_min", "price_max")), ("size", ("size",)), ("status", ("status",)))
# Removing a price or size phrase tries windows of this many words at most: "between $20 and $50" is 5.
MAX_PHRASE_WORDS = 5
# The words nearest an unknown word that are offered, and how close they must be (difflib's ratio).
SUGGESTIONS_PER_WORD = 3
SUGGESTION_CUTOFF = 0.75

ATTRIBUTE_LABELS = {
    "primary_color": "colour",
    "secondary_color": "second colour",
    "sleeve_length": "sleeves",
    "subcategory": "kind",
}
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}


def attribute_label(name: str) -> str:
    return ATTRIBUTE_LABELS.get(name, name.replace("_", " "))


@dataclass(frozen=True)
class Chip:
    label: str  # what it reads, e.g. "blue"
    kind: str  # what it is, e.g. "colour"
    remove_url: str | None  # the page without it; None when the words cannot be told apart


def page_url(params: Mapping[str, Iterable[str]], *, cursor: str | None = None) -> str:
    """The page's URL for these parameters (empty values dropped); a cursor only when given, as the
    page any other change leads to is the first."""
    pairs = [(key, value) for key, values in params.items() if key != "cursor" for value in values if value != ""]
    if cursor:
        pairs.append(("cursor", cursor))
    return "/?" + urlencode(pairs) if pairs else "/"


def _params(query: QueryDict) -> dict[str, list[str]]:
    return {key: list(query.getlist(key)) for key in query}


def with_params(query: QueryDict, **changes: list[str]) -> str:
    """The page's URL with some parameters replaced (an empty list drops one)."""
    params = _params(query)
    params.update(changes)
    return page_url(params)


def adding(query: QueryDict, name: str, value: str) -> str:
    params = _params(query)
    if value not in params.get(name, []):
        params[name] = [*params.get(name, []), value]
    return page_url(params)


def removing(query: QueryDict, name: str, value: str | Collection[str] | None = None) -> str:
    """The page's URL without parameter `name` (or without only that value, or those values, of it)."""
    params = _params(query)
    drop = {value} if isinstance(value, str) else set(value or ())
    params[name] = [] if value is None else [v for v in params.get(name, []) if v not in drop]
    return page_url(params)


# --- editing the query text ---------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parsed(text: str, vocabulary_version: int) -> ParsedQuery:
    return parse_query(text)


def parsed(text: str) -> ParsedQuery:
    """parse_query, memoised per text and vocabulary (about 1 ms a parse; a chip may need a few)."""
    return _parsed(text, load_vocabulary().version)


def _words_without_tokens(words: list[str], target: list[str]) -> list[str] | None:
    """`words` (the query split on spaces) without the first run of tokens equal to `target`; a word
    holding other tokens too ("blue-denim") keeps those. None when the run is not there."""
    flat = [(index, token) for index, word in enumerate(words) for token in tokenize(word)]
    tokens = [token for _, token in flat]
    for start in range(len(tokens) - len(target) + 1):
        if tokens[start : start + len(target)] != target:
            continue
        dropped = set(range(start, start + len(target)))
        # a negation right before ("not leather") goes with the term it negates
        if start > 0 and tokens[start - 1] in NEGATION_WORDS:
            dropped.add(start - 1)
        touched = {flat[position][0] for position in dropped}
        out = []
        for index, word in enumerate(words):
            if index not in touched:
                out.append(word)
                continue
            rest = [token for position, (i, token) in enumerate(flat) if i == index and position not in dropped]
            if rest:
                out.append(" ".join(rest))
        return out
    return None


def text_without_words(text: str, words: str) -> str | None:
    """The query text without the words a soft term was read from (e.g. "denim")."""
    kept = _words_without_tokens(text.split(), words.split())
    return None if kept is None else " ".join(kept)


def _content_tokens(reading: ParsedQuery) -> set[str]:
    tokens = set(reading.keywords)
    for term in (*reading.soft, *reading.negated):
        tokens.update(term.words.split())
    return tokens


def text_without_filter(text: str, keys: tuple[str, ...]) -> tuple[str, str] | None:
    """The query text without the phrase that stated a hard filter ("under $100", "size M", "in stock"),
    and that phrase.

    The phrase is the shortest run of words, among those that carry no search words, whose removal
    drops exactly that filter: every other filter, soft term and keyword is read as before."""
    before = parsed(text)
    words = text.split()
    content = _content_tokens(before)
    quiet = [not (set(tokenize(word)) & content) for word in words]
    soft = {(t.attribute, t.value) for t in before.soft}
    negated = {(t.attribute, t.value) for t in before.negated}
    others = {key: value for key, value in before.filters.items() if key not in keys and key != "currency"}

    def without(start: int, end: int) -> str | None:
        """The text without words[start:end] if that drops exactly the filter; else None."""
        if start < 0 or end > len(words) or not all(quiet[start:end]):
            return None
        candidate = " ".join(words[:start] + words[end:])
        after = parsed(candidate)
        same = (
            not any(key in after.filters for key in keys)
            and {k: v for k, v in after.filters.items() if k != "currency"} == others
            and {(t.attribute, t.value) for t in after.soft} == soft
            and {(t.attribute, t.value) for t in after.negated} == negated
            and set(after.keywords) <= set(before.keywords)
        )
        return candidate if same else None

    def filler(index: int) -> bool:  # "size" of "size 9", "in" of "in stock": words that say nothing alone
        return 0 <= index < len(words) and set(tokenize(words[index])) <= STOPWORDS

    for size in range(1, MAX_PHRASE_WORDS + 1):
        for start in range(len(words) - size + 1):
            found = without(start, start + size)
            if found is None:
                continue
            end = start + size
            while filler(start - 1) and (wider := without(start - 1, end)) is not None:
                start, found = start - 1, wider
            while filler(end) and (wider := without(start, end + 1)) is not None:
                end, found = end + 1, wider
            return found, " ".join(words[start:end])
    return None


# --- the chips ------------------------------------------------------------------------------------------


def money(value: Any, currency: str) -> str:
    text = str(value)
    text = text[:-3] if text.endswith(".00") else text
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{text}" if sign else f"{text} {currency}".strip()


def price_label(low: Any, high: Any, currency: str = "") -> str:
    if low is not None and high is not None:
        return f"{money(low, currency)}\u2013{money(high, currency)}"  # an en dash
    if high is not None:
        return f"under {money(high, currency)}"
    return f"over {money(low, currency)}"


def _filter_label(name: str, reading: ParsedQuery) -> str:
    if name == "price":
        currency = str(reading.filters.get("currency") or "")
        return price_label(reading.filters.get("price_min"), reading.filters.get("price_max"), currency)
    if name == "size":
        sizes = reading.filters["size"]
        return "size " + (", ".join(str(s) for s in sizes) if isinstance(sizes, list) else str(sizes))
    return "in stock"


def _text_chip(query: QueryDict, text: str, label: str, kind: str, edited: str | None) -> Chip:
    remove = None if edited is None else with_params(query, q=[edited] if edited.strip() else [])
    return Chip(label=label, kind=kind, remove_url=remove)


def text_chips(query: QueryDict, reading: ParsedQuery | None) -> list[Chip]:
    """A chip per piece the text was read as: soft terms (one per run of words), negated terms, and
    the hard filters it stated; each one's link re-runs the search with those words taken out."""
    if reading is None:
        return []
    text = reading.text
    chips: list[Chip] = []
    groups: dict[str, list[str]] = {}
    for term in reading.soft:  # "jacket" reads as subcategory jacket and category outerwear: one chip
        groups.setdefault(term.words, []).append(attribute_label(term.attribute))
    for words, kinds in groups.items():
        chips.append(_text_chip(query, text, words, kinds[0], text_without_words(text, words)))
    for term in reading.negated:
        chips.append(_text_chip(query, text, f"not {term.words}", attribute_label(term.attribute),
                                text_without_words(text, term.words)))  # fmt: skip
    for name, keys in PARSED_FILTER_CHIPS:
        if not any(key in reading.filters for key in keys):
            continue
        # Labelled with the shopper's own words ("uk 8", not the five sizes that reads as), else with the filter.
        found = text_without_filter(text, keys)
        if found is not None:
            chips.append(_text_chip(query, text, found[1], name, found[0]))
        else:
            chips.append(_text_chip(query, text, _filter_label(name, reading), name, None))
    return chips


def filter_chips(query: QueryDict) -> list[Chip]:
    """A chip per filter the page's parameters set (a facet that was clicked), each with a link without it."""
    from garments.attributes import ATTRIBUTE_NAMES

    chips = []
    for name in ATTRIBUTE_NAMES:
        for value in query.getlist(name):
            if value:
                chips.append(Chip(value, attribute_label(name), removing(query, name, value)))
    low, high = query.get("price_min") or None, query.get("price_max") or None
    if low or high:
        label = price_label(low, high, query.get("currency") or "")
        chips.append(Chip(label, "price", with_params(query, price_min=[], price_max=[])))
    for value in query.getlist("status"):
        if value:
            chips.append(Chip("any status" if value == "any" else value, "status", removing(query, "status", value)))
    return chips


# --- no results ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _vocabulary_terms(version: int) -> tuple[str, ...]:
    vocabulary = load_vocabulary()
    terms: set[str] = set()
    for values in vocabulary.values.values():
        for value in values.values():
            for form in (value.canonical, *value.synonyms):
                terms.add(" ".join(tokenize(form)))
    return tuple(sorted(term for term in terms if term))


def vocabulary_terms() -> tuple[str, ...]:
    """Every canonical value and synonym, as the query parser reads them."""
    return _vocabulary_terms(load_vocabulary().version)


def near_terms(reading: ParsedQuery | None) -> dict[str, list[str]]:
    """For each word the parser did not recognise, the vocabulary terms spelt most like it."""
    if reading is None:
        return {}
    terms = vocabulary_terms()
    known = set(terms)
    out: dict[str, list[str]] = {}
    for word in reading.residual.split():
        if word in known or word in STOPWORDS or len(word) < 3 or word.isdigit():
            continue
        near = difflib.get_close_matches(word, terms, n=SUGGESTIONS_PER_WORD, cutoff=SUGGESTION_CUTOFF)
        if near:
            out[word] = near
    return out


@dataclass(frozen=True)
class Suggestion:
    label: str
    url: str


def suggestions(query: QueryDict, reading: ParsedQuery | None, chips: list[Chip]) -> list[Suggestion]:
    """What to change when nothing was found: each chip dropped, each unknown word swapped for a near term."""
    out = [Suggestion(f"without “{chip.label}”", chip.remove_url) for chip in chips if chip.remove_url]
    if reading is not None:
        for word, near in near_terms(reading).items():
            for term in near:
                edited = " ".join(term if tokenize(w) == [word] else w for w in reading.text.split())
                out.append(Suggestion(f"“{term}” instead of “{word}”", with_params(query, q=[edited])))
    return out
