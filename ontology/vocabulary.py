"""The fashion vocabulary (vocabulary.toml): loading, validation, tokenising, phrase lookup.

One vocabulary section per attribute, except `color`, which serves primary_color and
secondary_color. Surface forms are compiled into a phrase table keyed by token tuples, so
extraction and query parsing are one longest-match scan over tokens. Words in French, Spanish,
German and Italian join the same table, except the few that mean something else in English
(`language_gated`), which sit in a table per language and match only in a listing read as that
language.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garments.attributes import ATTRIBUTE_MAX_LENGTH, ATTRIBUTE_NAMES

VOCABULARY_PATH = Path(__file__).with_name("vocabulary.toml")
# Vocabulary sections, and the garment attributes each fills.
SECTIONS: dict[str, tuple[str, ...]] = {
    "gender": ("gender",),
    "category": ("category",),
    "subcategory": ("subcategory",),
    "color": ("primary_color", "secondary_color"),
    "pattern": ("pattern",),
    "material": ("material",),
    "style": ("style",),
    "fit": ("fit",),
    "season": ("season",),
    "occasion": ("occasion",),
    "sleeve_length": ("sleeve_length",),
    "era": ("era",),
    "condition": ("condition",),
    "size": ("size",),
    "brand": ("brand",),
}
COLOR_FAMILIES = {
    "black",
    "white",
    "grey",
    "blue",
    "green",
    "red",
    "orange",
    "pink",
    "purple",
    "yellow",
    "brown",
    "multi",
}
# Sections whose plural surface forms are generated (shirt -> shirts); others are adjectives or names.
PLURAL_SECTIONS = {"subcategory", "category"}
# Sections whose bare canonical value is too common a word to match alone ("short", "long").
SYNONYMS_ONLY = {"sleeve_length"}
# Sections matched only in an explicit context by ontology.sizes (a bare "m" or "small" is no size).
CONTEXT_ONLY = {"size"}
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
LANGUAGES = ("fr", "es", "de", "it")
# German garment and colour words also name the head of a compound ("Jeansjacke", "hellgrau"); the
# head must be at least this long so that short words do not match inside unrelated ones.
MIN_COMPOUND_HEAD = 4


class VocabularyError(ValueError):
    """The vocabulary file breaks a rule; the message names the section and value."""


def fold(text: str) -> str:
    """Lowercase ASCII: accents dropped (Lakmé -> lakme), curly apostrophes straightened."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00df", "ss")  # Weiß -> weiss
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode().lower()


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens; possessive 's dropped (men's -> men); other scripts yield no tokens."""
    tokens = []
    for token in _TOKEN.findall(fold(text)):
        token = token.removesuffix("'s").replace("'", "")  # levi's -> levi, l'oreal -> loreal
        if token:
            tokens.append(token)
    return tokens


def plural(form: tuple[str, ...]) -> tuple[str, ...]:
    last = form[-1]
    if last.endswith("s") and not last.endswith("ss"):
        return form  # already plural: jeans, trousers, shorts
    if last.endswith(("ss", "x", "z", "ch", "sh")):
        return (*form[:-1], last + "es")
    if len(last) > 2 and last.endswith("y") and last[-2] not in "aeiou":
        return (*form[:-1], last[:-1] + "ies")
    return (*form[:-1], last + "s")


@dataclass(frozen=True)
class Value:
    section: str
    canonical: str
    synonyms: tuple[str, ...] = ()
    category: str | None = None
    gender: str | None = None
    occasion: str | None = None
    family: str | None = None
    rgb: tuple[int, int, int] | None = None
    languages: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    flaws: tuple[str, ...] = ()  # condition only: disclosed defects that cap the grade


@dataclass(frozen=True)
class Vocabulary:
    version: int
    values: dict[str, dict[str, Value]]
    phrases: dict[tuple[str, ...], tuple[Value, ...]]
    max_phrase_tokens: int
    _aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    # Forms that match only in a listing of that language ("robe" in French), over the shared table.
    language_phrases: dict[str, dict[tuple[str, ...], tuple[Value, ...]]] = field(default_factory=dict)
    # Every token of each language's forms, for telling the language of a listing.
    language_words: dict[str, frozenset[str]] = field(default_factory=dict)
    # German compound heads ("jacke" in "Jeansjacke") -> values.
    compound_heads: dict[str, tuple[Value, ...]] = field(default_factory=dict)
    # Condition forms that are disclosed flaws rather than statements of a grade.
    flaw_forms: frozenset[tuple[str, ...]] = frozenset()

    def lookup(self, form: tuple[str, ...], language: str = "en") -> tuple[Value, ...] | None:
        """The values a token phrase stands for in a listing of `language` (its own words first)."""
        own = self.language_phrases.get(language)
        if own and form in own:
            return own[form]
        return self.phrases.get(form)

    def compound_head(self, token: str) -> tuple[Value, ...] | None:
        """The values of the longest German head word `token` ends with ("winterjacke" -> jacket)."""
        for start in range(1, len(token) - MIN_COMPOUND_HEAD + 1):
            found = self.compound_heads.get(token[start:])
            if found:
                return found
        return None

    def value(self, section: str, canonical: str) -> Value | None:
        return self.values.get(section, {}).get(canonical)

    def canonical(self, section: str, text: str) -> str | None:
        """The canonical value a free-text value stands for in `section` ("LEVI STRAUSS" -> "levi's")."""
        return self._aliases.get(section, {}).get(" ".join(tokenize(text)))

    def color_family(self, color: str) -> str | None:
        value = self.value("color", color)
        return value.family if value else None

    def to_dict(self) -> dict[str, Any]:
        """The vocabulary as served read-only by the API."""
        out: dict[str, Any] = {"version": self.version, "attributes": {}}
        for section, values in self.values.items():
            out["attributes"][section] = {
                "fills": list(SECTIONS[section]),
                "values": [
                    {
                        **{
                            key: getattr(value, key)
                            for key in ("canonical", "synonyms", "category", "gender", "occasion", "family", "flaws")
                            if getattr(value, key) not in (None, ())
                        },
                        **{language: list(forms) for language, forms in value.languages.items()},
                    }
                    for value in values.values()
                ],
            }
        return out


def _check_canonical(section: str, canonical: str) -> None:
    if canonical != canonical.strip().lower() or not canonical or len(canonical) > ATTRIBUTE_MAX_LENGTH:
        raise VocabularyError(f"[{section}] {canonical!r}: canonical values are short, lowercase and trimmed")
    if not canonical.isascii():
        raise VocabularyError(f"[{section}] {canonical!r}: canonical values are ASCII")


def _parse_value(section: str, canonical: str, raw: Any) -> Value:
    _check_canonical(section, canonical)
    if not isinstance(raw, dict):
        raise VocabularyError(f"[{section}] {canonical!r}: expected a table such as {{ synonyms = [...] }}")
    allowed = {"synonyms", "category", "gender", "occasion"} if section == "subcategory" else {"synonyms"}
    if section == "brand":
        allowed = {"synonyms", "gender"}  # the usual wearer of a single-gender label
    if section == "color":
        allowed = {"synonyms", "family", "rgb"}
    if section == "condition":
        allowed = {"synonyms", "flaws"}
    allowed |= set(LANGUAGES)
    unknown = set(raw) - allowed
    if unknown:
        raise VocabularyError(f"[{section}] {canonical!r}: unknown keys {sorted(unknown)}")
    for key in ("synonyms", "flaws", *LANGUAGES):
        forms = raw.get(key, [])
        if not isinstance(forms, list) or not all(isinstance(s, str) and s.strip() for s in forms):
            raise VocabularyError(f"[{section}] {canonical!r}: {key} must be a list of non-empty strings")
    synonyms = raw.get("synonyms", [])
    rgb = raw.get("rgb")
    if section == "color":
        if raw.get("family") not in COLOR_FAMILIES:
            raise VocabularyError(f"[color] {canonical!r}: family must be one of {sorted(COLOR_FAMILIES)}")
        if not (isinstance(rgb, list) and len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb)):
            raise VocabularyError(f"[color] {canonical!r}: rgb must be three integers 0..255")
    return Value(
        section=section,
        canonical=canonical,
        synonyms=tuple(synonyms),
        category=raw.get("category"),
        gender=raw.get("gender"),
        occasion=raw.get("occasion"),
        family=raw.get("family"),
        rgb=tuple(rgb) if rgb else None,
        languages={language: tuple(raw[language]) for language in LANGUAGES if raw.get(language)},
        flaws=tuple(raw.get("flaws", [])),
    )


def _check_references(values: dict[str, dict[str, Value]]) -> None:
    for value in values["brand"].values():
        if value.gender is not None and value.gender not in values["gender"]:
            raise VocabularyError(f"[brand] {value.canonical!r}: gender {value.gender!r} is not in [gender]")
    for value in values["subcategory"].values():
        for key, section in (("category", "category"), ("gender", "gender"), ("occasion", "occasion")):
            reference = getattr(value, key)
            if key == "category" and reference is None:
                raise VocabularyError(f"[subcategory] {value.canonical!r}: every subcategory names its category")
            if reference is not None and reference not in values[section]:
                raise VocabularyError(f"[subcategory] {value.canonical!r}: {key} {reference!r} is not in [{section}]")


def build_vocabulary(data: dict[str, Any]) -> Vocabulary:
    """Validate parsed TOML and compile it; raises VocabularyError naming the first problem."""
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise VocabularyError("the vocabulary needs an integer `version` >= 1")
    unknown = set(data) - set(SECTIONS) - {"version", "language_gated"}
    if unknown:
        raise VocabularyError(f"unknown sections {sorted(unknown)}; expected {sorted(SECTIONS)}")
    missing = set(SECTIONS) - set(data)
    if missing:
        raise VocabularyError(f"missing sections {sorted(missing)}")
    for attributes in SECTIONS.values():
        for attribute in attributes:
            if attribute not in ATTRIBUTE_NAMES:
                raise VocabularyError(f"{attribute} is not a garment attribute")
    values = {
        section: {canonical: _parse_value(section, canonical, raw) for canonical, raw in data[section].items()}
        for section in SECTIONS
    }
    _check_references(values)
    gated_raw = data.get("language_gated", [])
    if not isinstance(gated_raw, list) or not all(isinstance(g, str) for g in gated_raw):
        raise VocabularyError("`language_gated` must be a list of words")
    gated = {tuple(tokenize(form)) for form in gated_raw}
    phrases: dict[tuple[str, ...], list[Value]] = {}
    aliases: dict[str, dict[str, str]] = {section: {} for section in SECTIONS}
    language_phrases: dict[str, dict[tuple[str, ...], list[Value]]] = {language: {} for language in LANGUAGES}
    language_words: dict[str, set[str]] = {language: set() for language in LANGUAGES}
    compound_heads: dict[str, list[Value]] = {}
    flaw_forms: set[tuple[str, ...]] = set()
    english_forms: set[tuple[str, ...]] = set()
    for section, section_values in values.items():
        owner: dict[tuple[str, ...], str] = {}
        for value in section_values.values():
            flaws = [tuple(tokenize(form)) for form in value.flaws]
            flaw_forms.update(flaws)
            forms = [tuple(tokenize(form)) for form in value.synonyms] + flaws
            english_forms.update([*forms, tuple(tokenize(value.canonical))])
            for language, language_forms in value.languages.items():
                for form in (tuple(tokenize(text)) for text in language_forms):
                    if form in gated:
                        language_phrases[language].setdefault(form, []).append(value)
                    else:  # a gated word is the ambiguous one: it says nothing of the language
                        language_words[language].update(form)
                        if form not in forms:
                            forms.append(form)
                    head = (
                        form[0] if language == "de" and section in ("subcategory", "color") and len(form) == 1 else ""
                    )
                    if len(head) >= MIN_COMPOUND_HEAD and value not in compound_heads.get(head, []):
                        compound_heads.setdefault(head, []).append(value)
            canonical_form = tuple(tokenize(value.canonical))
            aliases[section][" ".join(canonical_form)] = value.canonical
            for form in forms:
                aliases[section][" ".join(form)] = value.canonical
            if section not in SYNONYMS_ONLY:
                forms.append(canonical_form)
            generated = [plural(form) for form in forms] if section in PLURAL_SECTIONS else []
            for form, is_generated in [(f, False) for f in forms] + [(f, True) for f in generated]:
                if not form:
                    raise VocabularyError(f"[{section}] {value.canonical!r}: a surface form has no letters or digits")
                if form in owner and owner[form] != value.canonical:
                    if is_generated:
                        continue  # a generated plural never overrides a listed form
                    raise VocabularyError(
                        f"[{section}] {' '.join(form)!r} is a surface form of both "
                        f"{owner[form]!r} and {value.canonical!r}"
                    )
                if form in owner:
                    continue
                owner[form] = value.canonical
                if section not in CONTEXT_ONLY:
                    phrases.setdefault(form, []).append(value)
    # A word shared with English ("top", "jeans") or of one or two letters says nothing of the language.
    english_words = {token for form in english_forms for token in form} | {
        token for words in language_words.values() for token in words if len(token) <= 2
    }
    english_words |= {form[0] for form in gated if len(form) == 1}  # "marine" of "bleu marine" is gated too
    return Vocabulary(
        version=version,
        values=values,
        phrases={form: tuple(found) for form, found in phrases.items()},
        max_phrase_tokens=max(len(form) for form in [*phrases, *(f for t in language_phrases.values() for f in t)]),
        _aliases=aliases,
        language_phrases={
            language: {form: tuple(found) for form, found in table.items()}
            for language, table in language_phrases.items()
        },
        language_words={language: frozenset(words - english_words) for language, words in language_words.items()},
        compound_heads={head: tuple(found) for head, found in compound_heads.items()},
        flaw_forms=frozenset(flaw_forms),
    )


@functools.cache
def load_vocabulary(path: Path = VOCABULARY_PATH) -> Vocabulary:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"{path} is not valid TOML: {exc}") from exc
    return build_vocabulary(data)
