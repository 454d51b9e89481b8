"""Optional attribute extraction by a language model, through the official openai client with
structured output (a JSON schema whose enums are the vocabulary's canonical values).

Opt-in (ONTOLOGY_LLM_EXTRACTION=true and OPENAI_API_KEY): it costs a request per garment, so it
is for catalogues whose titles say little. Answers are checked against the vocabulary; anything
outside it is dropped, never stored. It fills only attributes the text rules leave open, at a
fixed confidence below theirs, with source "llm".

A failed request (after the client's own retries) or an answer that is not a JSON object raises
LLMExtractionError: the caller leaves the garment pending rather than store an extraction that
silently lacks the model's values.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from garments.attributes import AttributeSource

from ..vocabulary import Vocabulary
from .text import Extraction

logger = logging.getLogger(__name__)
CONFIDENCE = 0.7
REQUEST_TIMEOUT_SECONDS = 20.0
MAX_INPUT_CHARS = 4000
# Attributes asked of the model; brand is free text (normalised through the vocabulary when known).
ATTRIBUTES = {
    "category": "category", "subcategory": "subcategory", "gender": "gender", "primary_color": "color",
    "secondary_color": "color", "pattern": "pattern", "material": "material", "style": "style", "fit": "fit",
    "season": "season", "occasion": "occasion", "sleeve_length": "sleeve_length", "era": "era",
}  # fmt: skip
SYSTEM_PROMPT = (
    "You label second-hand garments for a search engine. From the listing text, give each attribute "
    "only when the text supports it; otherwise null. Use only the allowed values."
)


def response_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    properties: dict[str, Any] = {
        attribute: {"type": ["string", "null"], "enum": [*sorted(vocabulary.values[section]), None]}
        for attribute, section in ATTRIBUTES.items()
    }
    properties["brand"] = {"type": ["string", "null"]}
    return {
        "name": "garment_attributes",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": properties,
            "required": sorted(properties),
            "additionalProperties": False,
        },
    }


class LLMExtractionError(Exception):
    """The model gave no usable answer this time (provider error, rate limit, malformed output)."""


class LLMExtractor:
    def __init__(self, *, api_key: str, model: str, base_url: str = "", vocabulary: Vocabulary) -> None:
        import openai

        self.client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=REQUEST_TIMEOUT_SECONDS,
                                    max_retries=2)  # fmt: skip
        self.model = model
        self.vocabulary = vocabulary
        self.schema = response_schema(vocabulary)

    def extract(self, *, title: str, description: str = "") -> dict[str, Extraction]:
        """Attributes the model reads from the listing; LLMExtractionError when it gives no usable answer."""
        import openai

        text = f"Title: {title}\nDescription: {description}"[:MAX_INPUT_CHARS]
        try:
            request: Any = {
                "model": self.model,
                "temperature": 0,
                "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
                "response_format": {"type": "json_schema", "json_schema": self.schema},
            }
            response = self.client.chat.completions.create(**request)
            answer = json.loads(response.choices[0].message.content or "{}")
        except openai.OpenAIError as exc:
            raise LLMExtractionError(f"language model request failed: {type(exc).__name__}: {exc}") from exc
        except (json.JSONDecodeError, IndexError, AttributeError) as exc:
            raise LLMExtractionError(f"language model answer is not JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise LLMExtractionError(f"language model answer is a JSON {type(answer).__name__}, not an object")
        return self._validated(answer)

    def _validated(self, answer: dict[str, Any]) -> dict[str, Extraction]:
        out: dict[str, Extraction] = {}
        for attribute, section in ATTRIBUTES.items():
            raw = answer.get(attribute)
            if isinstance(raw, str) and raw in self.vocabulary.values[section]:
                out[attribute] = Extraction(attribute, raw, CONFIDENCE, AttributeSource.LLM, "language model")
        brand = answer.get("brand")
        if isinstance(brand, str) and (canonical := self.vocabulary.canonical("brand", brand)):
            out["brand"] = Extraction("brand", canonical, CONFIDENCE, AttributeSource.LLM, "language model")
        return out
