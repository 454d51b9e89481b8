"""Reading sizes as sellers write them, normalised to one canonical form per size.

A size is read only where the words say it is one: a system ("UK 10", "EU 38", "US 8"), a size
word ("size M", "taille 38", "talla M", "Gr. 36", "taglia 44"), a form no other thing takes
("W32 L30", "32x30", "5-6Y", "4T", "40R"), an unambiguous letter ("XL"), or, in a title, a number
or letter right after a garment, gender or colour word ("Levi's jeans 30", "mens M"). A bare "M"
or "small" elsewhere is no size.

Canonical forms:
- letter sizes as in the vocabulary (xs .. xxxl, "one size");
- "<system> <number>" for clothing and shoes ("uk 10", "eu 38", "us 8"), with a length or fit
  word when stated ("uk 10 short", "us 10 petite"), a range as written ("uk 10-12");
- waist and length: "w32", "w32 l30", "w32 regular" (32R on trousers);
- tailoring chest: "chest 40", "chest 40 regular" (40R on a blazer or suit);
- shirt collar: "collar 15.5";
- children: "age 5-6", "age 8", "age 12-18m" (months), "4t" (US toddler), "140cm" (German height
  sizes), children's shoes "us 11c", "us 5y" or "uk 12";
- hats "hat 7 1/4", "hat 58cm"; belts "belt 34" (inches), "belt 85cm".

A number with no system is read by the listing's currency: UK in a GBP listing, US in a USD one, EU
in a EUR one (and UK when the currency is unknown, the default of this market). Adult shoe sizes
in UK or US are converted to EU by the men's or the women's table, since the two differ (a men's
UK 9 is EU 43, a women's UK 9 is EU 42). Where the wearer is not known the size stays as written
("uk 9") and the match carries both readings as `alternatives`, rather than a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .vocabulary import Vocabulary, fold, tokenize

UNAMBIGUOUS_LETTERS = {"xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl", "2xs"}
# Men's UK -> EU shoe sizes: the chart most brands publish (Clarks, Dr. Martens, Timberland); a
# men's UK 9 is EU 43, not UK + 33 = 42. Half sizes in between take the half step.
MENS_UK_TO_EU: dict[float, float] = {
    3: 35.5, 3.5: 36, 4: 37, 4.5: 37.5, 5: 38, 5.5: 38.5, 6: 39, 6.5: 40, 7: 41, 7.5: 41.5, 8: 42, 8.5: 42.5,
    9: 43, 9.5: 44, 10: 44.5, 10.5: 45, 11: 46, 11.5: 46.5, 12: 47, 12.5: 47.5, 13: 48, 14: 49, 15: 50,
}  # fmt: skip
# Women's UK -> EU: UK + 33 (UK 3 = EU 36 .. UK 9 = EU 42), the common women's chart.
WOMENS_UK_OFFSET = 33
# US -> UK: men's US is UK + 1, women's US is UK + 2.
US_UK_DIFFERENCE = {"men": 1, "women": 2}
MEN, WOMEN, CHILD = "men", "women", "child"
WEARER_OF_GENDER = {"men": MEN, "unisex": MEN, "women": WOMEN, "boys": CHILD, "girls": CHILD, "kids": CHILD}

# What kind of garment a number is read for (waist on trousers, chest on a blazer, collar on a shirt).
KIND_OF_SUBCATEGORY = {
    "jeans": "bottoms", "trousers": "bottoms", "shorts": "bottoms", "jeggings": "bottoms", "track pants": "bottoms",
    "blazer": "tailoring", "suit": "tailoring", "waistcoat": "tailoring", "coat": "tailoring", "jacket": "tailoring",
    "rain jacket": "tailoring", "shirt": "shirt", "polo shirt": "tops", "t-shirt": "tops", "sweater": "tops",
    "sweatshirt": "tops", "overshirt": "tops", "hat": "hat", "cap": "hat", "belt": "belt", "swimwear": "bottoms",
}  # fmt: skip
LENGTHS = {"r": "regular", "reg": "regular", "regular": "regular", "s": "short", "short": "short", "l": "long",
           "long": "long", "p": "petite", "petite": "petite", "tall": "tall"}  # fmt: skip
SIZE_WORDS = (
    r"(?:size[sd]?|sz|taille|talla|taglia|tg|gr|grosse|groesse|pointure|maat|fits like an?(?: modern| true| us| uk)?)"
)
# Words after which a bare title number or letter is a size: the garment, gender, colour and the like.
ANCHOR_SECTIONS = {"subcategory", "category", "gender", "color", "material", "pattern", "fit"}
# Words that may follow a bare title letter size ("mens M navy", "tee S striped", "top L NWT").
DESCRIBING_SECTIONS = {"color", "pattern", "material", "fit", "condition", "style", "era", "sleeve_length"}
# Rank of a reading: stated sizes before a bare title number, so "blouse 2 ... = UK 10" reads UK 10.
EXPLICIT, BARE = 0, 1

_NUM = r"(\d{1,2}(?:\.5)?)"
_DIGIT = re.compile(r"\d")
_UNIT_YEARS = r"(?:y|yr|yrs|year|years|ans|anos|anni|jahre)"
_UNIT_MONTHS = r"(?:m|mth|mths|month|months|mois|meses|mesi|monate)"
_LENGTH = r"(?:\s?(r|s|l|reg|regular|short|long|petite|p|tall)\b)"


@dataclass(frozen=True)
class SizeMatch:
    value: str
    start: int
    end: int
    rank: int = EXPLICIT
    alternatives: tuple[str, ...] = ()  # the readings of an ambiguous size ("men's eu 43", "women's eu 42")


@dataclass(frozen=True)
class SizeContext:
    """What the listing says about the garment that changes how a number reads."""

    footwear: bool = False
    wearer: str | None = None  # men, women, child, or None when not known
    currency: str | None = None  # ISO code of the listing's price
    kind: str | None = None  # bottoms, tailoring, tops, shirt, hat, belt (KIND_OF_SUBCATEGORY)
    title: bool = False  # a title: bare numbers and letters after a garment word count


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def uk_to_eu_shoe(uk: float, *, wearer: str = WOMEN) -> float | None:
    """EU shoe size of an adult UK size by the wearer's chart; None off the chart."""
    if wearer == MEN:
        return MENS_UK_TO_EU.get(uk)
    return uk + WOMENS_UK_OFFSET if 2 <= uk <= 10 else None


def us_to_eu_shoe(us: float, *, women: bool) -> float | None:
    wearer = WOMEN if women else MEN
    return uk_to_eu_shoe(us - US_UK_DIFFERENCE[wearer], wearer=wearer)


def _shoe(system: str, number: float, context: SizeContext) -> tuple[str, tuple[str, ...]]:
    """A UK or US shoe size in EU by the wearer's chart; kept as written, with both readings, when unknown."""
    written = f"{system} {_number(number)}"
    if context.wearer == CHILD:
        return (f"{written}c" if system == "us" else written), ()
    readings: dict[str, str] = {}
    for wearer in (MEN, WOMEN):
        uk = number - US_UK_DIFFERENCE[wearer] if system == "us" else number
        eu = uk_to_eu_shoe(uk, wearer=wearer)
        if eu is not None:
            readings[wearer] = f"eu {_number(eu)}"
    if context.wearer in readings:
        return readings[context.wearer], ()
    if context.wearer is None and len(set(readings.values())) == 1:
        return next(iter(readings.values())), ()  # both charts agree
    return written, tuple(f"{wearer}'s {value}" for wearer, value in readings.items())


def _system_of_currency(currency: str | None) -> str:
    return {"GBP": "uk", "USD": "us", "EUR": "eu"}.get(currency or "", "uk")


def _read_number(number: str, context: SizeContext, *, length: str | None = None) -> tuple[str, tuple[str, ...]]:
    """A number with no system, read by the garment and the listing's currency."""
    value = float(number)
    suffix = f" {LENGTHS[length]}" if length else ""
    dress_suffix = "" if suffix == " regular" else suffix  # "size 16 regular" is a size 16
    kids = context.wearer == CHILD
    if context.footwear:
        if value >= 26:
            return f"eu {_number(value)}", ()
        if kids:
            return (f"us {_number(value)}c" if context.currency == "USD" else f"uk {_number(value)}"), ()
        system = "us" if context.currency == "USD" else "uk"
        return _shoe(system, value, context)
    if context.kind == "hat" and 50 <= value <= 64:
        return f"hat {_number(value)}cm", ()
    if context.kind == "belt" and 24 <= value <= 48:
        return f"belt {_number(value)}", ()
    if kids and value <= 16 and not length:
        return f"age {_number(value)}", ()
    dollars_or_pounds = context.currency in ("GBP", "USD")
    if context.kind == "bottoms" and 22 <= value <= 48 and (dollars_or_pounds or value <= 31):
        return f"w{_number(value)}{suffix}", ()
    if context.kind in ("tailoring", "tops", "shirt") and dollars_or_pounds and 32 <= value <= 54:
        return f"chest {_number(value)}{suffix}", ()
    if context.currency is None and context.footwear is False and value >= 30 and context.kind is not None:
        return f"eu {_number(value)}{suffix}", ()
    return f"{_system_of_currency(context.currency)} {_number(value)}{dress_suffix}", ()


def _explicit(folded: str, context: SizeContext) -> list[SizeMatch]:
    """Sizes in a form that says it is one."""
    found: list[SizeMatch] = []

    def add(match: re.Match[str], value: str, alternatives: tuple[str, ...] = (), rank: int = EXPLICIT) -> None:
        found.append(SizeMatch(value, match.start(), match.end(), rank, alternatives))

    kids = context.wearer == CHILD
    for match in re.finditer(r"\bw\s?(\d{2})\s*(?:/|x|,|-)?\s*l\s?(\d{2})\b", folded):
        add(match, f"w{match.group(1)} l{match.group(2)}")
    for match in re.finditer(r"\b(\d{2})\s?w\s*(?:/|x|,|-)?\s*(\d{2})\s?l\b", folded):
        add(match, f"w{match.group(1)} l{match.group(2)}")
    if context.kind in ("bottoms", None) and not context.footwear:
        for match in re.finditer(r"\b(2[2-9]|3\d|4[0-8])\s?(?:\"|in)?\s?x\s?(2[6-9]|3[0-8])\b", folded):
            add(match, f"w{match.group(1)} l{match.group(2)}")
    for match in re.finditer(rf"\bw\s?(2[2-9]|3\d|4[0-8]){_LENGTH}?(?!\s?l\s?\d)", folded):
        length = match.group(2)
        add(match, f"w{match.group(1)}" + (f" {LENGTHS[length]}" if length and len(length) > 1 else ""))
    for match in re.finditer(r"\b(2[2-9]|3\d|4[0-8])\s?w\b(?!\s*(?:/|x|,|-)?\s*\d{2}\s?l\b)", folded):
        add(match, f"w{match.group(1)}")
    waist = r"(2[2-9]|3\d|4[0-8])(?:\s?(?:\"|in|inch|inches))?"
    for match in re.finditer(rf"\b{waist}\s*waist(?:ed)?\b|\bwaist\s*:?\s*{waist}", folded):
        add(match, f"w{match.group(1) or match.group(2)}")
    chest = r"(3[0-9]|4[0-9]|5[0-4])(?:\s?(?:\"|in|inch|inches))?"
    for match in re.finditer(rf"\b{chest}\s*chest\b|\bchest\s*:?\s*{chest}(?:\s(regular|short|long))?\b", folded):
        add(match, f"chest {match.group(1) or match.group(2)}" + (f" {match.group(3)}" if match.group(3) else ""))
    collar = r"(1[3-9](?:\.5)?)(?:\s?(?:\"|in|inch))?"
    for match in re.finditer(
        rf"\b{collar}\s*(?:collar|neck)\b|\b(?:collar|neck)\s*(?:size)?\s*:?\s*{collar}\b", folded
    ):
        add(match, f"collar {match.group(1) or match.group(2)}")
    if context.kind == "shirt":
        for match in re.finditer(r"\b(1[4-8](?:\.5)?)\s+(?:3[0-7])(?:\s?/\s?3[0-7])?\b", folded):
            add(match, f"collar {match.group(1)}")
    if context.kind in ("tailoring", "bottoms"):
        for match in re.finditer(r"\b(2[6-9]|3\d|4\d|5[0-4])(r|s|l)\b", folded):
            number, length = match.group(1), LENGTHS[match.group(2)]
            is_waist = context.kind == "bottoms"
            add(match, f"w{number} {length}" if is_waist else f"chest {number} {length}")
    # children
    for match in re.finditer(rf"\b(?:age[sd]?\s*)?(\d{{1,2}})\s?(?:-|/|to)\s?(\d{{1,2}})\s?{_UNIT_MONTHS}\b", folded):
        add(match, f"age {match.group(1)}-{match.group(2)}m")
    for match in re.finditer(rf"\b(?:age[sd]?\s*)?(\d{{1,2}})\s?(?:-|/|to)\s?(\d{{1,2}})\s?{_UNIT_YEARS}\b", folded):
        add(match, f"age {match.group(1)}-{match.group(2)}")
    for match in re.finditer(r"\bage[sd]?\s*(\d{1,2})\s?(?:-|/|to)\s?(\d{1,2})\b", folded):
        add(match, f"age {match.group(1)}-{match.group(2)}")
    for match in re.finditer(r"\bage[sd]?\s*(\d{1,2})\b(?!\s?(?:-|/|to)\s?\d)", folded):
        add(match, f"age {match.group(1)}")
    unit_years = rf"(\d{{1,2}})(?:\s?{_UNIT_YEARS}(?:\s?old)?\b|y\b)"
    for match in re.finditer(rf"\b{unit_years}", folded):
        attached = match.group(0)[-1] == "y" and " " not in match.group(0)
        english = re.search(r"y(?:ears?|rs?)?(?:\s?old)?$", match.group(0)) is not None
        if context.footwear and attached:
            add(match, f"us {match.group(1)}y")  # a big kid's shoe size, 5Y
        elif kids or attached or not english:  # "12 ans", "8 anos": only ages; "2 years" may be the garment's
            add(match, f"age {match.group(1)}")
    if kids:
        for match in re.finditer(rf"\b(\d{{1,2}})\s?{_UNIT_MONTHS}\b", folded):
            add(match, f"age {match.group(1)}m")
        if not context.footwear:
            for match in re.finditer(r"\b(\d{1,2})\s?(?:-|/)\s?(\d{1,2})\b", folded):
                low, high = int(match.group(1)), int(match.group(2))
                if 0 < high - low <= 2 and high <= 16:
                    add(match, f"age {low}-{high}")
    for match in re.finditer(r"\b([2-5])t\b", folded):
        add(match, f"{match.group(1)}t")
    if context.footwear:
        for match in re.finditer(r"\bc\s?(\d{1,2})\b|\b(\d{1,2})\s?c\b", folded):
            add(match, f"us {match.group(1) or match.group(2)}c")
    if context.kind == "hat":
        for match in re.finditer(r"\b(?:hat\s)?([6-8])\s([1-7]/8|1/4|1/2|3/4)(?!\w)", folded):
            add(match, f"hat {match.group(1)} {match.group(2)}")
        for match in re.finditer(r"\b(?:hat\s)?(5\d|6[0-4])\s?cm\b", folded):
            add(match, f"hat {match.group(1)}cm")
    if context.kind == "belt":
        for match in re.finditer(r"\b(?:belt\s)?([6-9]\d|1[0-3]\d)\s?cm\b", folded):
            add(match, f"belt {match.group(1)}cm")
        for match in re.finditer(r"\bbelt\s(2[4-9]|3\d|4[0-8])\b(?!\s?cm)", folded):
            add(match, f"belt {match.group(1)}")
    # systems: "UK 10", "10 UK", "EU 38", "US 8", "UK 10-12", "US 4 short", "US 11C"
    for match in re.finditer(r"\b(eu|uk|us|fr|it)\s*-?\s*(\d{1,2})\s?-\s?(\d{1,2})\b", folded):
        system = {"fr": "eu", "it": "eu"}.get(match.group(1), match.group(1))
        add(match, f"{system} {match.group(2)}-{match.group(3)}")
    for pattern, order in (
        (rf"\b(eu|uk|us|fr|it)\s*-?\s*(?:size\s*)?{_NUM}(c|y)?{_LENGTH}?", "system_first"),
        (rf"\b{_NUM}\s*\(?\s*(eu|uk|us)\b(?!\s*-?\s*(?:size\s*)?\d)", "number_first"),  # not "Force 1 UK 9"
    ):
        for match in re.finditer(pattern, folded):
            if order == "system_first":
                system, number, child, length = match.group(1), match.group(2), match.group(3), match.group(4)
            else:
                number, system, child, length = match.group(1), match.group(2), None, None
            if system in ("fr", "it") and float(number) < 30:
                continue  # "wore it 2 times": French and Italian sizes start in the thirties
            system = {"fr": "eu", "it": "eu"}.get(system, system)
            if child:
                add(match, f"{system} {_number(float(number))}{child}")
            elif context.footwear and system in ("uk", "us"):
                add(match, *_shoe(system, float(number), context))
            elif length and len(length) > 1 and LENGTHS[length] != "regular":
                add(match, f"{system} {_number(float(number))} {LENGTHS[length]}")
            else:
                end = match.end(2) if order == "system_first" else match.end()
                found.append(SizeMatch(f"{system} {_number(float(number))}", match.start(), end))
    return found


def _size_words(
    folded: str, context: SizeContext, vocabulary: Vocabulary, taken: list[tuple[int, int]]
) -> list[SizeMatch]:
    """What follows a size word: a letter size, a number read by context, a range."""
    found: list[SizeMatch] = []
    for match in re.finditer(rf"\b{SIZE_WORDS}\b\.?\s*:?\s*([a-z0-9][a-z0-9. /-]{{0,24}})", folded):
        start = match.start(1)
        if any(low <= start < high for low, high in taken):
            continue
        rest = match.group(1)
        if re.match(r"[a-z]{1,4}\s?/\s?[a-z]{1,4}\b", rest):
            continue  # "S/M", "M/L": between two sizes, no guess
        words = rest.split()
        for length in range(min(4, len(words)), 0, -1):
            phrase = " ".join(words[:length]).rstrip(".")
            canonical = vocabulary.canonical("size", phrase)
            if canonical and not re.fullmatch(r"\d+", phrase):
                found.append(SizeMatch(canonical, match.start(), start + len(phrase)))
                break
        else:
            number = re.match(rf"(\d{{1,3}}(?:\.5)?)(?:\s?(?:-|/)\s?(\d{{1,2}}))?(?:\s?(cm))?{_LENGTH}?", rest)
            if not number:
                continue
            end = start + number.end()
            if number.group(3) or len(number.group(1)) == 3:
                value = int(float(number.group(1)))
                if context.kind == "belt":
                    found.append(SizeMatch(f"belt {value}cm", match.start(), end))
                elif context.kind == "hat":
                    found.append(SizeMatch(f"hat {value}cm", match.start(), end))
                elif 50 <= value <= 176:
                    found.append(SizeMatch(f"{value}cm", match.start(), end))  # children's height sizes
                continue
            if number.group(2):
                low, high = number.group(1), number.group(2)
                if not 0 < int(high) - int(float(low)) <= 4 or int(high) > 30:
                    continue  # "32/34" is not a range of sizes: kept as written
                if context.wearer == CHILD:
                    found.append(SizeMatch(f"age {low}-{high}", match.start(), end))
                elif not context.footwear:
                    system = _system_of_currency(context.currency)
                    found.append(SizeMatch(f"{system} {low}-{high}", match.start(), end))
                continue
            reading, alternatives = _read_number(number.group(1), context, length=number.group(4))
            found.append(SizeMatch(reading, match.start(), end, EXPLICIT, alternatives))
    return found


def _bare_in_title(
    folded: str, context: SizeContext, vocabulary: Vocabulary, taken: list[tuple[int, int]]
) -> list[SizeMatch]:
    """In a title, a number or S/M/L right after a garment, gender or colour word ("jeans 30", "mens M")."""
    found: list[SizeMatch] = []
    not_a_count = r"(?![&.'/]?\w)(?!\s?(?:%|pack|pk|cm|mm|in\b|x\s?\d))"  # "3 pack", "50%", "30x32"
    pattern = rf"(?<![&.'/\w])(\d{{1,3}}(?:\.5)?|s|m|l|small|medium|large|os){_LENGTH}?{not_a_count}"
    for match in re.finditer(pattern, folded):
        if any(low <= match.start() < high for low, high in taken):
            continue
        before = tokenize(folded[: match.start()])[-2:]
        at_end = not tokenize(folded[match.end() :])
        anchored = any(
            value.section in ANCHOR_SECTIONS or (at_end and value.section == "brand")  # "... Zara S"
            for form in (tuple(before[-1:]), tuple(before))
            if form
            for value in vocabulary.phrases.get(form, ())
        )
        if not anchored:
            continue
        word = match.group(1)
        if len(word) == 3 and word.isdigit():
            if context.wearer == CHILD and 50 <= int(word) <= 176:
                found.append(SizeMatch(f"{word}cm", match.start(), match.end(1), BARE))  # German height sizes
            continue
        if word[0].isdigit():
            value, alternatives = _read_number(word, context, length=match.group(2))
            found.append(SizeMatch(value, match.start(), match.end(), BARE, alternatives))
        elif (canonical := vocabulary.canonical("size", word)) and match.group(2) is None:
            following = tokenize(folded[match.end() :])[:2]
            describes = {
                value.section
                for form in (tuple(following[:1]), tuple(following))
                for value in vocabulary.phrases.get(form, ())
            } & DESCRIBING_SECTIONS
            if following and not describes:
                continue  # "Women Small Beads Clutch": a letter is a size at the end or before "navy", "NWT"
            found.append(SizeMatch(canonical, match.start(), match.end(1), BARE))
    return found


def find_sizes(
    text: str,
    vocabulary: Vocabulary,
    *,
    footwear: bool = False,
    women: bool = False,
    context: SizeContext | None = None,
) -> list[SizeMatch]:
    """Every size the text states, with its character span in the folded text, in reading order.

    `context` says what the listing is (garment kind, wearer, currency); the older `footwear` and
    `women` flags stand for a context of footwear for that wearer.
    """
    if context is None:
        context = SizeContext(footwear=footwear, wearer=WOMEN if women else None)
    if not text.strip():
        return []
    folded = fold(text)
    found = _explicit(folded, context) if _DIGIT.search(folded) else []  # every form there has a digit
    found = _without_overlaps(found)
    taken = [(m.start, m.end) for m in found]
    found += _size_words(folded, context, vocabulary, taken)
    found = _without_overlaps(found)
    taken = [(m.start, m.end) for m in found]
    letters = "|".join(sorted(UNAMBIGUOUS_LETTERS, key=len, reverse=True))
    for match in re.finditer(rf"(?<![/\w])({letters}|one size|onesize)(?![/\w])", folded):
        if not any(start <= match.start() < end for start, end in taken):
            canonical = vocabulary.canonical("size", match.group(1))
            if canonical:
                rank = BARE if context.wearer == CHILD else EXPLICIT  # a child's age says more than XS
                found.append(SizeMatch(canonical, match.start(), match.end(), rank))
    if context.title:
        taken = [(m.start, m.end) for m in found]
        found += _bare_in_title(folded, context, vocabulary, taken)
    return sorted(_without_overlaps(found), key=lambda m: m.start)


def _without_overlaps(found: list[SizeMatch]) -> list[SizeMatch]:
    """The longest reading where two overlap ("W32 L30" over "W32")."""
    kept: list[SizeMatch] = []
    for match in sorted(found, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def best_size(sizes: list[SizeMatch]) -> SizeMatch | None:
    """The size a text states: the first stated one, before any bare title number."""
    return min(sizes, key=lambda m: (m.rank, m.start)) if sizes else None


def whole_size(text: str, vocabulary: Vocabulary) -> str | None:
    """The canonical size `text` reads as in full ("EU 38" -> eu 38, "W32" -> w32); None when only a
    part of it reads as a size ("32/34" is kept as written, not cut to uk 32). Staff edits and search
    filters both use it, so a size stored as written is found by the same words."""
    phrase = f"size {text}"
    for context in (SizeContext(), SizeContext(kind="hat"), SizeContext(kind="belt"), SizeContext(wearer=CHILD)):
        sizes = find_sizes(phrase, vocabulary, context=context)
        if len(sizes) == 1 and sizes[0].end == len(fold(phrase).rstrip()) and sizes[0].start <= len("size "):
            return sizes[0].value
    return None
