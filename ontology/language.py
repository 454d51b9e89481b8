"""Telling the language of a listing (English, French, Spanish, German or Italian) from its words.

A listing is read as the language whose words it uses most: the function words sellers write
("taille", "très bon état", "talla", "Größe", "taglia") plus the vocabulary's own words in that
language. English wins ties, so a listing with no foreign cue stays English. Good enough to pick
the meaning of the few words that differ by language ("robe", "Rock", "gonna"); it is no general
language identifier.
"""

from __future__ import annotations

from .vocabulary import LANGUAGES, Vocabulary

# Words that mark a language in listings and are not words of the others (accents folded).
CUES: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "with",
            "size",
            "worn",
            "condition",
            "great",
            "good",
            "in",
            "for",
            "of",
            "is",
            "on",
            "very",
            "never",
            "once",
            "but",
            "has",
            "it",
            "to",
            "used",
            "fits",
            "brand",
            "new",
            "excellent",
            "small",
            "stain",
            "tags",
        ]
    ),
    "fr": frozenset(
        [
            "taille",
            "tres",
            "etat",
            "avec",
            "sans",
            "pour",
            "une",
            "des",
            "les",
            "est",
            "jamais",
            "aucun",
            "aucune",
            "pointure",
            "manches",
            "fois",
            "etiquette",
            "porte",
            "portee",
            "portees",
            "neuf",
            "neuve",
            "bon",
            "peu",
            "du",
            "et",
            "ou",
            "au",
            "aux",
            "ans",
            "tache",
            "taches",
        ]
    ),
    "es": frozenset(
        [
            "talla",
            "muy",
            "buen",
            "estado",
            "sin",
            "para",
            "una",
            "las",
            "los",
            "nunca",
            "usado",
            "usada",
            "usadas",
            "usados",
            "etiqueta",
            "etiquetas",
            "veces",
            "vez",
            "algo",
            "anos",
            "y",
            "el",
            "del",
            "poco",
            "estrenar",
            "como",
            "pero",
            "solo",
        ]
    ),
    "de": frozenset(
        [
            "grosse",
            "gr",
            "zustand",
            "mit",
            "ohne",
            "fur",
            "und",
            "nie",
            "neu",
            "getragen",
            "sehr",
            "gut",
            "guter",
            "einmal",
            "etikett",
            "der",
            "die",
            "das",
            "ein",
            "eine",
            "leichte",
            "kleiner",
            "kleines",
            "am",
            "jahre",
            "wie",
            "gebraucht",
        ]
    ),
    "it": frozenset(
        [
            "taglia",
            "senza",
            "per",
            "mai",
            "usato",
            "usata",
            "usate",
            "condizioni",
            "stato",
            "indossato",
            "indossata",
            "volta",
            "cartellino",
            "etichetta",
            "ottime",
            "buone",
            "buono",
            "anni",
            "il",
            "di",
            "della",
            "da",
            "poche",
            "e",
        ]
    ),
}


_WORDS: dict[int, dict[str, frozenset[str]]] = {}


def _words(vocabulary: Vocabulary) -> dict[str, frozenset[str]]:
    """Each language's cue words and vocabulary words, built once per loaded vocabulary."""
    key = id(vocabulary)
    if key not in _WORDS:
        _WORDS[key] = {
            language: CUES[language] | vocabulary.language_words.get(language, frozenset()) for language in LANGUAGES
        }
    return _WORDS[key]


def detect_language(tokens: list[str], vocabulary: Vocabulary) -> str:
    """'en', 'fr', 'es', 'de' or 'it': the language whose cue words the tokens hold most (English on ties).

    A word that means something else in English ("gonna", "rock") never makes a listing foreign, but
    breaks a tie between two languages ("gonna verde": Italian, not Spanish)."""
    scores = {"en": sum(token in CUES["en"] for token in tokens)}
    gated: dict[str, int] = {}
    words_of = _words(vocabulary)
    for language in LANGUAGES:
        words = words_of[language]
        scores[language] = sum(token in words for token in tokens)
        if scores[language]:
            own = vocabulary.language_phrases.get(language, {})
            gated[language] = sum((token,) in own for token in tokens)
        else:
            gated[language] = 0
    best = max(LANGUAGES, key=lambda language: (scores[language], gated[language]))
    return best if scores[best] > scores["en"] else "en"
