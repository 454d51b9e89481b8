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


def detect_language(tokens: list[str], vocabulary: Vocabulary) -> str:
    """'en', 'fr', 'es', 'de' or 'it': the language whose cue words the tokens hold most (English on ties)."""
    scores = {"en": sum(token in CUES["en"] for token in tokens)}
    for language in LANGUAGES:
        words = CUES[language] | vocabulary.language_words.get(language, frozenset())
        scores[language] = sum(token in words for token in tokens)
    best = max(LANGUAGES, key=lambda language: scores[language])
    return best if scores[best] > scores["en"] else "en"
