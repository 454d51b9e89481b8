"""Attribute extraction from words: longest-phrase matching against the vocabulary.

One left-to-right scan over tokens claims the longest known phrase at each position, so a
brand such as "Red Tape" claims its words before the colour red can. A phrase preceded by a
negation ("not leather", "without hood") is recorded as negated and never becomes a value.
Per attribute, the rules that turn matches into one value with a confidence are below; the
confidences are the precision each rule reached on the Myntra evaluation set, rounded down
(docs/ontology.md), so they are comparable across attributes and with the image extractor.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sizes import find_sizes
from ..vocabulary import Value, Vocabulary, load_vocabulary, tokenize

NEGATORS = {"not", "no", "non", "without", "never", "except", "excluding", "nothing", "isnt", "arent", "dont"}
# Words that may stand between a negator and what it negates ("not made of real leather"); any
# other word ends the negation ("without hood sweatshirt" still wants a sweatshirt).
NEGATION_FILLERS = {"real", "genuine", "pure", "100", "any", "made", "of", "from", "in", "a", "an", "the", "too"}
MAX_INPUT_CHARS = 10_000  # a title plus a long description; the rest adds nothing but time
SOURCE = "extracted"
# "Formal Black Shoes": a generic footwear word plus the occasion names the kind of shoe.
FOOTWEAR_BY_OCCASION = {"formal": "formal shoes", "sports": "sports shoes", "casual": "casual shoes"}


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    values: tuple[Value, ...]
    negated: bool
    field: str  # "title", "description" or "brand"


@dataclass(frozen=True)
class Extraction:
    attribute: str
    value: str
    confidence: float
    source: str
    evidence: str


def scan(tokens: list[str], vocabulary: Vocabulary, field: str = "title") -> list[Match]:
    """Longest-match phrases over `tokens`. A negator negates the phrase right after it (filler words
    aside: "not real leather"), and only that one ("not leather boots": the boots stay wanted)."""
    matches: list[Match] = []
    position = 0
    negator_at: int | None = None
    while position < len(tokens):
        for length in range(min(vocabulary.max_phrase_tokens, len(tokens) - position), 0, -1):
            values = vocabulary.phrases.get(tuple(tokens[position : position + length]))
            if values:
                negated = negator_at is not None
                matches.append(Match(position, position + length, values, negated, field))
                negator_at = None
                position += length
                break
        else:
            if tokens[position] in NEGATORS:
                negator_at = position
            elif tokens[position] not in NEGATION_FILLERS:
                negator_at = None
            position += 1
    return matches


def _values(matches: list[Match], section: str) -> list[tuple[Value, Match]]:
    return [
        (value, match) for match in matches if not match.negated for value in match.values if value.section == section
    ]


def _distinct(found: list[tuple[Value, Match]]) -> list[tuple[Value, Match]]:
    seen: set[str] = set()
    out = []
    for value, match in found:
        if value.canonical not in seen:
            seen.add(value.canonical)
            out.append((value, match))
    return out


def _is_add_on(match: Match, tokens: list[str]) -> bool:
    return match.start > 0 and tokens[match.start - 1] in {"with", "plus", "including", "incl"}


def _leads_a_name(match: Match, matches: list[Match], tokens: list[str]) -> bool:
    """A colour word opening the text and followed by a word that is neither vocabulary nor a
    conjunction ("Blue Saint Men ...") is most likely the start of a brand name."""
    if match.start != 0 or match.end >= len(tokens):
        return False
    follows = tokens[match.end]
    return follows not in {"and", "or", "with"} and not any(other.start == match.end for other in matches)


def extract_text(
    *, title: str, description: str = "", brand: str = "", vocabulary: Vocabulary | None = None
) -> tuple[dict[str, Extraction], list[Match]]:
    """Attributes read from the words, and every match (negated ones included) as evidence."""
    vocabulary = vocabulary or load_vocabulary()
    tokens_by_field = {
        "title": tokenize(title[:MAX_INPUT_CHARS]),
        "description": tokenize(description[:MAX_INPUT_CHARS]),
    }
    title_matches = scan(tokens_by_field["title"], vocabulary, "title")
    description_matches = scan(tokens_by_field["description"], vocabulary, "description")
    out: dict[str, Extraction] = {}

    def put(attribute: str, value: str, confidence: float, evidence: str) -> None:
        out[attribute] = Extraction(attribute, value, round(confidence, 3), SOURCE, evidence)

    # subcategory: the head noun of a product title comes last ("... Navy Blue Shirt"), unless it
    # is an add-on ("Silver Pendant with Chain": a pendant)
    for matches, weight in ((title_matches, 1.0), (description_matches, 0.75)):
        found = _distinct(_values(matches, "subcategory"))
        heads = [(v, m) for v, m in found if not _is_add_on(m, tokens_by_field[m.field])]
        found = heads or found
        if found:
            value, _ = found[-1]
            put("subcategory", value.canonical, (0.95 if len(found) == 1 else 0.8) * weight, "words")
            break
    if "subcategory" not in out:
        generic_footwear = any(value.canonical == "footwear" for value, _ in _values(title_matches, "category"))
        occasions = [value.canonical for value, _ in _values(title_matches, "occasion")]
        kinds = [FOOTWEAR_BY_OCCASION[o] for o in occasions if o in FOOTWEAR_BY_OCCASION]
        if generic_footwear and kinds:
            put("subcategory", kinds[0], 0.8, "footwear word and occasion")
    subcategory = vocabulary.value("subcategory", out["subcategory"].value) if "subcategory" in out else None
    if subcategory is not None and subcategory.category:
        put("category", subcategory.category, out["subcategory"].confidence, f"subcategory {subcategory.canonical}")
    else:
        for matches, weight in ((title_matches, 0.9), (description_matches, 0.7)):
            found = _values(matches, "category")
            if found:
                put("category", found[-1][0].canonical, weight, "words")
                break

    # gender: stated words win; both men and women stated means unisex; else the garment's usual wearer
    for matches, weight in ((title_matches, 1.0), (description_matches, 0.8)):
        genders = {value.canonical for value, _ in _values(matches, "gender")}
        if genders:
            if len(genders) == 1:
                put("gender", genders.pop(), 0.97 * weight, "words")
            elif "unisex" in genders or {"men", "women"} <= genders:
                put("gender", "unisex", 0.8 * weight, "words")
            break
    if "gender" not in out and subcategory is not None and subcategory.gender:
        put("gender", subcategory.gender, 0.8, f"subcategory {subcategory.canonical}")

    # colours: first named is primary, a second distinct one secondary
    for matches, weight in ((title_matches, 1.0), (description_matches, 0.75)):
        colours = _distinct(_values(matches, "color"))
        if len(colours) > 1 and _leads_a_name(colours[0][1], matches, tokens_by_field[colours[0][1].field]):
            colours = colours[1:]  # "Blue Saint Men Red Shirt": the leading colour word is part of a name
        if colours:
            put("primary_color", colours[0][0].canonical, (0.93 if len(colours) == 1 else 0.85) * weight, "words")
            if len(colours) > 1:
                put("secondary_color", colours[1][0].canonical, 0.7 * weight, "words")
            break

    # brand: the seller's brand field first (normalised), then a known brand in the words
    if brand and (canonical := vocabulary.canonical("brand", brand)):
        put("brand", canonical, 0.99, "brand field")
    elif brand.strip():
        put("brand", " ".join(tokenize(brand))[:64], 0.9, "brand field (not in the vocabulary)")
    else:
        for matches, weight in ((title_matches, 0.92), (description_matches, 0.7)):
            found = _values(matches, "brand")
            if found:
                put("brand", found[0][0].canonical, weight, "words")
                break

    for section in ("pattern", "material", "style", "fit", "season", "occasion", "sleeve_length", "era", "condition"):
        for matches, weight in ((title_matches, 0.88), (description_matches, 0.72)):
            found = _values(matches, section)
            if found:
                put(section, found[0][0].canonical, weight, "words")
                break
    if "occasion" not in out and subcategory is not None and subcategory.occasion:
        put("occasion", subcategory.occasion, 0.6, f"subcategory {subcategory.canonical}")

    footwear = out.get("category") is not None and out["category"].value == "footwear"
    women = out.get("gender") is not None and out["gender"].value in ("women", "girls")
    for text, weight in ((title, 0.9), (description, 0.75)):
        sizes = find_sizes(text[:MAX_INPUT_CHARS], vocabulary, footwear=footwear, women=women)
        if sizes:
            put("size", sizes[0].value, weight, "words")
            break
    return out, title_matches + description_matches
