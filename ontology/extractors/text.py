"""Attribute extraction from words: longest-phrase matching against the vocabulary.

One left-to-right scan over tokens claims the longest known phrase at each position, so a
brand such as "Red Tape" claims its words before the colour red can. A phrase preceded by a
negation ("not leather", "without hood") is recorded as negated and never becomes a value.
Per attribute, the rules that turn matches into one value with a confidence are below; the
confidences are the precision each rule reached on the Myntra evaluation set, rounded down
(docs/ontology.md), so they are comparable across attributes and with the image extractor.

Second-hand listings add: the description read as well as the title (with lower confidence),
the listing's language (its own words first: "robe" is a dress in French), the currency (a bare
"size 10" is UK in pounds, US in dollars), condition graded with its evidence (ontology.condition)
and sizes read for the garment and wearer (ontology.sizes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..condition import Clause, ConditionEvidence, Grade, clauses, grade_condition, worn_times
from ..language import detect_language
from ..sizes import KIND_OF_SUBCATEGORY, WEARER_OF_GENDER, SizeContext, find_sizes
from ..vocabulary import Value, Vocabulary, load_vocabulary, tokenize

NEGATORS = {
    "not", "no", "non", "without", "never", "except", "excluding", "nothing", "isnt", "arent", "dont", "zero",
    "barely", "hardly", "nor", "sans", "aucun", "aucune", "pas", "sin", "ningun", "ninguna", "ni", "ohne", "kein",
    "keine", "keinen", "senza", "nessun", "nessuna", "nessuno",
}  # fmt: skip
# Words that may stand between a negator and what it negates ("not made of real leather", "no
# obvious signs of wear"); any other word ends the negation ("without hood sweatshirt" still
# wants a sweatshirt).
NEGATION_FILLERS = {
    "real", "genuine", "pure", "100", "any", "made", "of", "from", "in", "a", "an", "the", "too", "noticeable",
    "visible", "obvious", "major", "significant", "apparent", "big", "serious", "other", "de", "d", "di", "la",
    "le", "les", "el", "los", "las", "signs", "sign",
}  # fmt: skip
# Between two flaws a negation carries on ("no rips, stains or holes").
NEGATION_LIST_WORDS = {"or", "and", "nor", "ou", "o", "y", "ni", "oder", "und", "e"}
# A flaw followed by this word is negated ("stain free").
NEGATING_SUFFIXES = {"free"}
# Brands whose names are everyday words: read in a title only ("worn next to skin", "cos it's small").
TITLE_ONLY_BRANDS = {"next", "cos", "loft", "express", "theory", "coach", "hunter", "guess", "supreme", "palace"}
CLOTHING = {"tops", "bottoms", "dresses", "outerwear", "swimwear", "sleepwear"}
# One-word flaws a title states plainly ("FLAWED", "stained"); other one-word flaws there may be names.
TITLE_FLAWS = {"flawed", "flaws", "flaw", "stained", "stains", "damaged", "holes", "faded", "ripped", "torn", "defect",
               "defects", "repaired", "pilling"}  # fmt: skip
# Patterns that make a garment many-coloured when no colour is named.
MANY_COLOURED_PATTERNS = {"floral", "tie dye"}
# Garment words whose wearer their subcategory does not tell (swimwear and boots are anyone's).
WEARER_OF_FORM = {
    ("bikini",): "women", ("bikinis",): "women", ("swimsuit",): "women", ("swimsuits",): "women",
    ("bikini", "top"): "women", ("bikini", "bottoms"): "women", ("swimming", "costume"): "women",
    ("heeled", "boots"): "women", ("heeled", "sandals"): "women", ("swim", "trunks"): "men",
    ("swimming", "trunks"): "men", ("boardshorts",): "men", ("board", "shorts"): "men", ("tuxedo",): "men",
    ("bodysuit",): "women", ("corset", "top"): "women", ("sports", "bra"): "women",
}  # fmt: skip
# "vest" is a tank top in British English and a waistcoat in American; the currency tells which.
VEST_BY_CURRENCY = {"USD": "waistcoat", "GBP": "top", "EUR": "top"}
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
    form: tuple[str, ...] = ()


@dataclass(frozen=True)
class Extraction:
    attribute: str
    value: str
    confidence: float
    source: str
    evidence: str


def _is_flaw(values: tuple[Value, ...], form: tuple[str, ...], vocabulary: Vocabulary) -> bool:
    return form in vocabulary.flaw_forms or any(v.section == "condition" and v.canonical == "fair" for v in values)


def scan(tokens: list[str], vocabulary: Vocabulary, field: str = "title", language: str = "en") -> list[Match]:
    """Longest-match phrases over `tokens`. A negator negates the phrase right after it (filler words
    aside: "not real leather"), and only that one ("not leather boots": the boots stay wanted), except
    that a negation runs on through a list of flaws ("no rips, stains or holes") and "free" after a
    flaw negates it ("stain free"). In a German listing a garment word also matches as the head of
    a compound ("Jeansjacke")."""
    matches: list[Match] = []
    position = 0
    negator_at: int | None = None
    while position < len(tokens):
        for length in range(min(vocabulary.max_phrase_tokens, len(tokens) - position), 0, -1):
            form = tuple(tokens[position : position + length])
            values = vocabulary.lookup(form, language)
            if values:
                break
        else:
            values = vocabulary.compound_head(tokens[position]) if language == "de" else None
            form, length = (tokens[position],), 1
        if values:
            negated = negator_at is not None
            flaw = _is_flaw(values, form, vocabulary)
            if (
                not negated
                and flaw
                and matches
                and matches[-1].negated
                and _is_flaw(matches[-1].values, matches[-1].form, vocabulary)
            ):
                negated = all(
                    token in NEGATION_LIST_WORDS | NEGATION_FILLERS for token in tokens[matches[-1].end : position]
                )
            end = position + length
            if flaw and end < len(tokens) and tokens[end] in NEGATING_SUFFIXES:
                negated = True
            matches.append(Match(position, end, values, negated, field, form))
            negator_at = None
            position = end
            continue
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


def _garment_words(matches: list[Match]) -> list[tuple[Value, Match]]:
    """Garment kinds named, leaving out a word that is also a colour when another garment is named."""
    found = _distinct(_values(matches, "subcategory"))
    plain = [(v, m) for v, m in found if not any(other.section == "color" for other in m.values)]
    return plain or found


def _regional(value: Value, match: Match, vocabulary: Vocabulary, currency: str | None) -> Value:
    """A word whose meaning depends on the market ("vest"), read by the listing's currency."""
    if match.form in {("vest",), ("vests",)} and currency in VEST_BY_CURRENCY:
        return vocabulary.value("subcategory", VEST_BY_CURRENCY[currency]) or value
    return value


def _distinct(found: list[tuple[Value, Match]]) -> list[tuple[Value, Match]]:
    seen: set[str] = set()
    out = []
    for value, match in found:
        if value.canonical not in seen:
            seen.add(value.canonical)
            out.append((value, match))
    return out


def _is_add_on(match: Match, tokens: list[str]) -> bool:
    """Not the garment itself: an add-on ("with chain") or a shade ("skirt in blush")."""
    return match.start > 0 and tokens[match.start - 1] in {"with", "plus", "including", "incl", "in"}


def _leads_a_name(match: Match, matches: list[Match], tokens: list[str]) -> bool:
    """A colour word opening the text and followed by a word that is neither vocabulary nor a
    conjunction ("Blue Saint Men ...") is most likely the start of a brand name."""
    if match.start != 0 or match.end >= len(tokens):
        return False
    follows = tokens[match.end]
    return follows not in {"and", "or", "with"} and not any(other.start == match.end for other in matches)


def extract_text(
    *,
    title: str,
    description: str = "",
    brand: str = "",
    currency: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> tuple[dict[str, Extraction], list[Match]]:
    """Attributes read from the words, and every match (negated ones included) as evidence.

    `currency` is the listing's price currency (ISO code), which tells how a bare size number and a
    regional word ("vest") read; None reads them as before (UK sizes, innerwear vest).
    """
    vocabulary = vocabulary or load_vocabulary()
    title, description = title[:MAX_INPUT_CHARS], description[:MAX_INPUT_CHARS]
    tokens_by_field = {"title": tokenize(title), "description": tokenize(description)}
    language = detect_language(tokens_by_field["title"] + tokens_by_field["description"], vocabulary)
    title_matches = scan(tokens_by_field["title"], vocabulary, "title", language)
    description_matches = scan(tokens_by_field["description"], vocabulary, "description", language)
    out: dict[str, Extraction] = {}

    def put(attribute: str, value: str, confidence: float, evidence: str) -> None:
        out[attribute] = Extraction(attribute, value, round(confidence, 3), SOURCE, evidence)

    # subcategory: the head noun of a product title comes last ("... Navy Blue Shirt"), unless it
    # is an add-on ("Silver Pendant with Chain": a pendant)
    for matches, weight in ((title_matches, 1.0), (description_matches, 0.75)):
        found = _garment_words(matches)
        heads = [(v, m) for v, m in found if not _is_add_on(m, tokens_by_field[m.field])]
        found = heads or found
        if found:
            value, head = found[-1]
            value = _regional(value, head, vocabulary, currency)
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
        if "kids" in genders and len(genders) > 1:
            genders.discard("kids")  # "kids boys": the boys say more
            if {"boys", "girls"} <= genders:
                genders = {"kids"}
        if genders:
            if len(genders) == 1:
                put("gender", genders.pop(), 0.97 * weight, "words")
            elif "unisex" in genders or {"men", "women"} <= genders:
                put("gender", "unisex", 0.8 * weight, "words")
            break
    if "gender" not in out:
        for match in title_matches + description_matches:
            if not match.negated and match.form in WEARER_OF_FORM:
                put("gender", WEARER_OF_FORM[match.form], 0.8, f"words {' '.join(match.form)}")
                break
    if "gender" not in out and subcategory is not None and subcategory.gender:
        put("gender", subcategory.gender, 0.8, f"subcategory {subcategory.canonical}")
    if "gender" not in out:
        labels = [value for value, _ in _values(title_matches + description_matches, "brand") if value.gender]
        if labels:
            put("gender", labels[0].gender or "", 0.75, f"brand {labels[0].canonical}")

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

    # a floral or tie-dye garment whose words name no colour is many-coloured
    if "primary_color" not in out:
        patterns = {value.canonical for value, _ in _values(title_matches + description_matches, "pattern")}
        if patterns & MANY_COLOURED_PATTERNS and out.get("category", Extraction("", "", 0, "", "")).value in CLOTHING:
            put("primary_color", "multi", 0.6, f"pattern {sorted(patterns & MANY_COLOURED_PATTERNS)[0]}")

    # brand: the seller's brand field first (normalised), then a known brand in the words
    if brand and (canonical := vocabulary.canonical("brand", brand)):
        put("brand", canonical, 0.99, "brand field")
    elif brand.strip():
        put("brand", " ".join(tokenize(brand))[:64], 0.9, "brand field (not in the vocabulary)")
    else:
        for matches, weight in ((title_matches, 0.92), (description_matches, 0.7)):
            found = [
                (value, match)
                for value, match in _values(matches, "brand")
                if match.field == "title" or value.canonical not in TITLE_ONLY_BRANDS
            ]
            if found:
                put("brand", found[0][0].canonical, weight, "words")
                break

    grade = _condition(title_matches + description_matches, {"title": title, "description": description}, vocabulary)
    if grade is not None:
        from_title = any(m.field == "title" for m in title_matches for v in m.values if v.section == "condition")
        put("condition", grade.value, 0.88 if from_title else 0.8, grade.explain())

    for section in ("pattern", "material", "style", "fit", "season", "occasion", "sleeve_length", "era"):
        for matches, weight in ((title_matches, 0.88), (description_matches, 0.72)):
            found = _values(matches, section)
            if found:
                put(section, found[0][0].canonical, weight, "words")
                break
    if "occasion" not in out and subcategory is not None and subcategory.occasion:
        put("occasion", subcategory.occasion, 0.6, f"subcategory {subcategory.canonical}")

    # a European-language listing with no currency given reads its bare sizes as EU ("taille 38")
    _size(out, title, description, currency or (None if language == "en" else "EUR"), vocabulary)
    return out, title_matches + description_matches


def _name_like_flaw(match: Match, vocabulary: Vocabulary) -> bool:
    """A one-word flaw in a title that may as well be a name ("Mark Taylor Men Shirt"): titles name
    garments, descriptions disclose flaws; a title's flaw counts when it is a phrase or plainly one."""
    return (
        match.field == "title"
        and match.form in vocabulary.flaw_forms
        and len(match.form) == 1
        and (match.form[0] not in TITLE_FLAWS)
    )


def _condition(matches: list[Match], texts: dict[str, str], vocabulary: Vocabulary) -> Grade | None:
    """The condition grade of the listing with the clauses that set it (ontology.condition)."""
    found = [
        ConditionEvidence(value.canonical, match.form, match.field, match.start, match.form in vocabulary.flaw_forms)
        for value, match in _values(matches, "condition")
        if not _name_like_flaw(match, vocabulary)
    ]
    counted = [item for field, text in texts.items() for item in worn_times(text, field)]
    found += [item for item in counted if not any(f.field == item.field and f.start == item.start for f in found)]
    denied = [
        ConditionEvidence("fair", match.form, match.field, match.start, True)
        for match in matches
        if match.negated and match.form in vocabulary.flaw_forms
    ]
    if not found and not denied:
        return None
    clauses_by_field: dict[str, list[Clause]] = {field: clauses(text) for field, text in texts.items()}
    return grade_condition(found, clauses_by_field, vocabulary, denied)


def _size(
    out: dict[str, Extraction], title: str, description: str, currency: str | None, vocabulary: Vocabulary
) -> None:
    """The size the listing states, read for its garment, wearer and currency; the title's stated size
    first, then the description's, then a bare number or letter after a garment word in the title."""
    category = out["category"].value if "category" in out else None
    gender = out["gender"].value if "gender" in out else None
    kind = KIND_OF_SUBCATEGORY.get(out["subcategory"].value) if "subcategory" in out else None
    base = SizeContext(footwear=category == "footwear", wearer=WEARER_OF_GENDER.get(gender or ""), currency=currency,
                       kind=kind)  # fmt: skip
    candidates = []
    for order, (text, weight, is_title) in enumerate(((title, 0.9, True), (description, 0.75, False))):
        # a bare title number or letter is read only with a currency to read it by
        context = SizeContext(**{**base.__dict__, "title": is_title and currency is not None})
        for match in find_sizes(text, vocabulary, context=context):
            candidates.append((match.rank, order, match.start, match, weight))
    if not candidates:
        return
    _, _, _, chosen, weight = min(candidates, key=lambda item: item[:3])
    evidence = "words"
    if chosen.alternatives:
        evidence = f"ambiguous: {', '.join(chosen.alternatives)}; kept as written"
        weight *= 0.8
    out["size"] = Extraction("size", chosen.value, round(weight * (0.9 if chosen.rank else 1.0), 3), SOURCE, evidence)
    if "gender" not in out and (wearer := _wearer_of_size(chosen.value, category)):
        out["gender"] = Extraction("gender", wearer, 0.7, SOURCE, f"size {chosen.value}")


def _wearer_of_size(size: str, category: str | None) -> str | None:
    """Who a size is cut for: a child's age or height, a women's dress size (UK 4-24, US 0-20, EU
    32-48), a men's chest or collar size; None when the size says nothing of it (letters, waists)."""
    if re.fullmatch(r"age .*|[2-5]t|us \d+(\.5)?[cy]|\d{2,3}cm", size):
        return "kids"
    if re.fullmatch(r"(chest|collar) .*", size):
        return "men"
    dress = re.fullmatch(r"(uk|us|eu) (\d+)(-\d+)?( short| long| petite| tall)?", size)
    if dress and category not in ("footwear", "bags", "accessories", "jewellery", "watches", "eyewear"):
        system, number = dress.group(1), int(dress.group(2))
        limit = {"uk": (4, 24), "us": (0, 20), "eu": (32, 48)}[system]
        if limit[0] <= number <= limit[1]:
            return "women"
    return None
