"""Query understanding: shopper text in; hard filters, soft terms and residual text out.

    "blue denim jacket under $100" -> filters {price_max: 100, currency: USD},
                                      soft [primary_color blue, material denim, subcategory jacket, category outerwear],
                                      residual "jacket"

Hard filters are what the words state exactly and a shopper expects to be obeyed: a price bound,
an explicit size ("size M", "EU 38"), availability ("in stock"). Everything read through the
vocabulary is soft (colour, material, subcategory, brand, gender, ...): search boosts it, and a
client may promote it to a filter, because a vocabulary reading can be wrong ("Red Tape" shoes).
Explicit filters sent by a client win over anything parsed here. Negated terms ("not leather")
come back separately, for search to demote or exclude.

Seller words read the same way as in listings: "euc levis 501 w32" is condition like_new (soft),
brand levi's (soft), model "501" (kept in the keywords too) and size w32 (hard). A shoe size whose
wearer the query does not say ("trainers uk 8") filters on every reading of it: uk 8, and the
men's and women's EU sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .extractors.text import Match, scan
from .language import detect_language
from .sizes import KIND_OF_SUBCATEGORY, WEARER_OF_GENDER, SizeContext, find_sizes
from .vocabulary import Vocabulary, fold, load_vocabulary, tokenize

MAX_QUERY_CHARS = 500  # longer input is cut: a query is a few words, and this bounds the work
MAX_PRICE = Decimal("99999999.99")
CURRENCY_WORDS = {
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP",
}  # fmt: skip
_CURRENCY = r"(?:usd|dollars?|bucks|eur|euros?|gbp|pounds?|quid)"
_AMOUNT = (
    r"(?P<pre{n}>[$€£])?\s*(?P<num{n}>\d+(?:[.,]\d{1,2})?)\s*(?P<k{n}>k\b)?\s*"
    rf"(?P<post{{n}}>[$€£]|{_CURRENCY}\b)?"
)
UPPER_WORDS = r"under|below|less\s+than|cheaper\s+than|lower\s+than|max(?:imum)?|at\s+most|up\s*to|no\s+more\s+than|not\s+more\s+than|within|<=?|≤"  # noqa: E501
LOWER_WORDS = r"over|above|more\s+than|greater\s+than|at\s+least|min(?:imum)?|from|starting\s+(?:at|from)|>=?|≥"
AROUND_WORDS = r"around|about|approx(?:imately)?|roughly|~"
AROUND_SPREAD = Decimal("0.2")  # "around $50" means 40..60
STOPWORDS = {
    "a", "an", "the", "for", "in", "on", "with", "and", "or", "of", "to", "my", "me", "i", "im", "want", "looking",
    "need", "some", "any", "please", "show", "find", "that", "is", "are", "size", "sized", "price", "priced", "cost",
    "costs", "stock", "than", "less", "more",
}  # fmt: skip
NEGATION_WORDS = {"not", "no", "without", "non"}
# Soft terms whose words stay in the residual text: the garment kind is what keyword search needs.
RESIDUAL_SECTIONS = {"subcategory", "category"}


@dataclass(frozen=True)
class SoftTerm:
    attribute: str
    value: str
    confidence: float
    words: str


@dataclass
class ParsedQuery:
    text: str
    filters: dict[str, object] = field(default_factory=dict)
    soft: list[SoftTerm] = field(default_factory=list)
    negated: list[SoftTerm] = field(default_factory=list)
    residual: str = ""
    # The words full-text search should look for: the text without price, size and stock phrases,
    # stopwords or negated terms ("not leather" must not require "leather").
    keywords: list[str] = field(default_factory=list)
    # A model name or number right after a brand ("levis 501", "dr martens 1460"), as written.
    model: str = ""

    def soft_values(self, attribute: str) -> list[str]:
        return [term.value for term in self.soft if term.attribute == attribute]


def _amount_pattern(n: int) -> str:
    return _AMOUNT.replace("{n}", str(n))


_BETWEEN = re.compile(
    rf"\b(?:between|from)\s+{_amount_pattern(1)}\s*(?:and|to|-|\u2013)\s*{_amount_pattern(2)}", re.IGNORECASE
)
_RANGE = re.compile(rf"(?<![\w.]){_amount_pattern(1)}\s*(?:-|\u2013|to)\s*{_amount_pattern(2)}", re.IGNORECASE)
_UPPER = re.compile(rf"(?:(?<=\s)|^)(?:{UPPER_WORDS})\s*{_amount_pattern(1)}", re.IGNORECASE)
_LOWER = re.compile(rf"(?:(?<=\s)|^)(?:{LOWER_WORDS})\s*{_amount_pattern(1)}", re.IGNORECASE)
_AROUND = re.compile(rf"(?:(?<=\s)|^)(?:{AROUND_WORDS})\s*{_amount_pattern(1)}", re.IGNORECASE)
_BARE = re.compile(rf"(?:(?<=\s)|^){_amount_pattern(1)}", re.IGNORECASE)
_IN_STOCK = re.compile(r"\b(?:in\s+stock|available(?:\s+now)?|not\s+sold)\b", re.IGNORECASE)


def _amount(match: re.Match[str], n: int) -> tuple[Decimal, str | None, bool] | None:
    raw = match.group(f"num{n}").replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if match.group(f"k{n}"):
        value *= 1000
    marker = (match.group(f"pre{n}") or match.group(f"post{n}") or "").lower()
    currency = CURRENCY_WORDS.get(marker)
    return min(value, MAX_PRICE), currency, bool(marker)


def _parse_prices(text: str, filters: dict[str, object]) -> str:
    """Read price expressions into filters; return the text with them blanked out."""

    def consume(match: re.Match[str]) -> str:
        return " " * (match.end() - match.start())

    def currency(*found: tuple[Decimal, str | None, bool] | None) -> None:
        for item in found:
            if item and item[1]:
                filters["currency"] = item[1]

    for pattern in (_BETWEEN, _RANGE):
        match = pattern.search(text)
        if match:
            low, high = _amount(match, 1), _amount(match, 2)
            # "20-50" is only a price with a currency or a price word ("5-10" may be a size or a pack)
            if low and high and (pattern is _BETWEEN or low[2] or high[2]):
                filters["price_min"], filters["price_max"] = sorted((low[0], high[0]))
                currency(low, high)
                text = text[: match.start()] + consume(match) + text[match.end() :]
                break
    for pattern, key in ((_UPPER, "price_max"), (_LOWER, "price_min")):
        if key in filters:
            continue
        match = pattern.search(text)
        if match and (amount := _amount(match, 1)):
            filters[key] = amount[0]
            currency(amount)
            text = text[: match.start()] + consume(match) + text[match.end() :]
    if "price_min" not in filters and "price_max" not in filters:
        match = _AROUND.search(text)
        if match and (amount := _amount(match, 1)):
            filters["price_min"] = (amount[0] * (1 - AROUND_SPREAD)).quantize(Decimal("0.01"))
            filters["price_max"] = (amount[0] * (1 + AROUND_SPREAD)).quantize(Decimal("0.01"))
            currency(amount)
            text = text[: match.start()] + consume(match) + text[match.end() :]
        else:
            # "dress $30": an amount with a currency and no bound word is a budget, read as a maximum
            for match in _BARE.finditer(text):
                amount = _amount(match, 1)
                if amount and amount[2]:
                    filters["price_max"] = amount[0]
                    currency(amount)
                    text = text[: match.start()] + consume(match) + text[match.end() :]
                    break
    return text


def parse_query(text: str, *, vocabulary: Vocabulary | None = None) -> ParsedQuery:
    vocabulary = vocabulary or load_vocabulary()
    original = " ".join(str(text).split())[:MAX_QUERY_CHARS]
    parsed = ParsedQuery(text=original)
    # Prices first, on text that still has its currency signs (folding to ASCII drops € and £).
    working = fold(_parse_prices(original.lower(), parsed.filters))
    if _IN_STOCK.search(working):
        parsed.filters["status"] = "available"
        working = _IN_STOCK.sub(" ", working)
    tokens = tokenize(working)
    language = detect_language(tokens, vocabulary)
    matches = scan(tokens, vocabulary, "query", language)
    currency = parsed.filters.get("currency") or (None if language == "en" else "EUR")  # "taille 38" is EU
    sizes = find_sizes(working, vocabulary, context=_size_context(matches, currency))
    if sizes:
        parsed.filters["size"] = list(
            dict.fromkeys(
                value
                for size in sizes
                for value in (size.value, *(reading.split("'s ", 1)[-1] for reading in size.alternatives))
            )
        )
        for size in sizes:
            working = working[: size.start] + " " * (size.end - size.start) + working[size.end :]
        tokens = tokenize(working)
        matches = scan(tokens, vocabulary, "query", language)
    parsed.model = _model(tokens, matches)
    consumed: set[int] = set()
    negated_tokens: set[int] = set()
    colours_seen = 0
    for match in matches:
        words = " ".join(tokens[match.start : match.end])
        for value in match.values:
            if value.section == "size":
                continue
            attribute = "primary_color" if value.section == "color" else value.section
            if attribute == "primary_color" and colours_seen and not match.negated:
                attribute = "secondary_color"
            confidence = 0.9 if len(match.values) == 1 else 0.7  # a word with two readings is less sure
            term = SoftTerm(attribute, value.canonical, confidence, words)
            (parsed.negated if match.negated else parsed.soft).append(term)
            if value.section == "subcategory" and value.category and not match.negated:
                parsed.soft.append(SoftTerm("category", value.category, confidence, words))
        if any(value.section == "color" for value in match.values) and not match.negated:
            colours_seen += 1
        if match.negated:
            negated_tokens.update(range(match.start, match.end))
        if match.negated or not any(value.section in RESIDUAL_SECTIONS for value in match.values):
            consumed.update(range(match.start, match.end))
    residual = [
        token
        for index, token in enumerate(tokens)
        if index not in consumed and token not in STOPWORDS and token not in NEGATION_WORDS
    ]
    parsed.residual = " ".join(residual)
    parsed.keywords = list(
        dict.fromkeys(
            token
            for index, token in enumerate(tokens)
            if index not in negated_tokens and token not in STOPWORDS and token not in NEGATION_WORDS
        )
    )
    parsed.soft = _dedupe(parsed.soft)
    return parsed


def _size_context(matches: list[Match], currency: object) -> SizeContext:
    """What the query says about the garment and wearer, for reading its size."""
    values = [value for match in matches if not match.negated for value in match.values]
    subcategories = [value for value in values if value.section == "subcategory"]
    genders = [value.canonical for value in values if value.section == "gender"]
    footwear = any(v.category == "footwear" for v in subcategories) or any(
        v.section == "category" and v.canonical == "footwear" for v in values
    )
    kind = KIND_OF_SUBCATEGORY.get(subcategories[-1].canonical) if subcategories else None
    wearer = WEARER_OF_GENDER.get(genders[0]) if len(set(genders)) == 1 else None
    return SizeContext(footwear=footwear, wearer=wearer, currency=currency if isinstance(currency, str) else None,
                       kind=kind)  # fmt: skip


def _model(tokens: list[str], matches: list[Match]) -> str:
    """A model number or name written right after a brand: a token with a digit ("501", "1460", "af1")."""
    for match in matches:
        if any(value.section == "brand" for value in match.values) and match.end < len(tokens):
            following = tokens[match.end]
            if any(ch.isdigit() for ch in following) and len(following) <= 12:
                return following
    return ""


def _dedupe(terms: list[SoftTerm]) -> list[SoftTerm]:
    seen: set[tuple[str, str]] = set()
    out = []
    for term in terms:
        if (term.attribute, term.value) not in seen:
            seen.add((term.attribute, term.value))
            out.append(term)
    return out
