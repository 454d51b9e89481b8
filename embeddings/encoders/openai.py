"""OpenAI text embeddings (text-embedding-3-small, 1536 dimensions) through the official client.

Requests stay inside the API's limits (at most 2,048 inputs and 300,000 tokens per request,
8,192 tokens per input) with margin. Rate limits, 5xx answers, timeouts and dropped connections
are retried here with exponential backoff and full jitter, waiting at least what Retry-After asks;
once the attempts are spent the error is transient (the Celery task retries later) and the inputs
are counted in embedding_generation_failures_total{reason="provider_unavailable"}. Anything else
(bad request, authentication) is permanent and not retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..metrics import embedding_generation_failures_total
from .base import Encoder, EncoderError, TransientEncoderError, check_dimensions, normalise_rows

logger = logging.getLogger(__name__)
COLUMN_DIMENSIONS = 1536
MAX_INPUTS_PER_REQUEST = 256  # the API allows 2,048; smaller requests make a retry cheap
# ~4 characters per token for catalogue English: 24,000 characters stays under 8,192 tokens, and
# 600,000 characters per request under the 300,000-token cap with a factor two to spare.
MAX_CHARS_PER_INPUT = 24_000
MAX_CHARS_PER_REQUEST = 600_000
REQUEST_TIMEOUT_SECONDS = 20.0
# A search waits for a query vector this long, once: a provider that is slow or down costs a search
# this much at most, and the search goes on with its other signals (search/engine.py).
QUERY_TIMEOUT_SECONDS = 2.0
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0  # also the longest Retry-After honoured: a provider asking for more gets this


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up on each call, so a test can stand in for time.sleep


def request_batches(texts: Sequence[str]) -> list[list[int]]:
    """Indices of `texts` grouped into requests within the input-count and size limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, text in enumerate(texts):
        length = min(len(text), MAX_CHARS_PER_INPUT)
        if current and (len(current) >= MAX_INPUTS_PER_REQUEST or size + length > MAX_CHARS_PER_REQUEST):
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        batches.append(current)
    return batches


class OpenAIEncoder(Encoder):
    supports_text = True

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "",
        model: str = "text-embedding-3-small",
        dimensions: int = COLUMN_DIMENSIONS,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        sleep: Callable[[float], None] = _sleep,
    ) -> None:
        import openai

        check_dimensions(f"openai:{model}", dimensions, COLUMN_DIMENSIONS)
        self.id = f"openai:{model}"
        self.model = model
        self.dimensions = dimensions
        self.backoff_base = backoff_base
        self.sleep = sleep
        # The client's own retries are off: ours are explicit, logged, and honour Retry-After.
        self.client = openai.OpenAI(
            api_key=api_key, base_url=base_url or None, timeout=REQUEST_TIMEOUT_SECONDS, max_retries=0
        )

    def describe(self) -> str:
        return f"{self.id} ({self.dimensions} dims, {self.client.base_url})"

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for batch in request_batches(texts):
            inputs = [texts[i][:MAX_CHARS_PER_INPUT] or " " for i in batch]  # the API refuses empty input
            out[batch] = self._request(inputs)
        return normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        import openai

        inputs = [text[:MAX_CHARS_PER_INPUT] or " "]
        client = self.client.with_options(timeout=QUERY_TIMEOUT_SECONDS, max_retries=0)
        try:
            response = client.embeddings.create(model=self.model, input=inputs, encoding_format="float")
        except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
            raise TransientEncoderError(f"OpenAI query embedding failed: {exc}", retry_after=_retry_after(exc)) from exc
        except openai.APIStatusError as exc:
            raise EncoderError(f"OpenAI refused the query ({exc.status_code}): {exc.message}") from exc
        vectors = [item.embedding for item in response.data]
        if len(vectors) != 1 or len(vectors[0]) != self.dimensions:
            raise EncoderError(f"OpenAI returned {len(vectors)} query vectors; expected one of {self.dimensions}")
        return normalise_rows(np.asarray(vectors, dtype=np.float32))[0]

    def _request(self, inputs: list[str]) -> np.ndarray:
        import openai

        transient = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.client.embeddings.create(model=self.model, input=inputs, encoding_format="float")
            except transient as exc:
                retry_after = _retry_after(exc)
                if attempt == MAX_ATTEMPTS:
                    embedding_generation_failures_total.labels(space="openai_text", reason="provider_unavailable").inc(
                        len(inputs)
                    )
                    raise TransientEncoderError(
                        f"OpenAI embeddings failed {MAX_ATTEMPTS} times: {exc}", retry_after=retry_after
                    ) from exc
                delay = random.uniform(0, min(BACKOFF_CAP_SECONDS, self.backoff_base * 2 ** (attempt - 1)))  # noqa: S311
                delay = max(delay, retry_after or 0.0)
                logger.warning("OpenAI embeddings attempt %d failed (%s); retrying in %.2fs", attempt, exc, delay)
                self.sleep(delay)
            except openai.APIStatusError as exc:
                raise EncoderError(f"OpenAI refused the request ({exc.status_code}): {exc.message}") from exc
            else:
                vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
                if len(vectors) != len(inputs) or any(len(vector) != self.dimensions for vector in vectors):
                    raise EncoderError(
                        f"OpenAI returned {len(vectors)} vectors of {len(vectors[0]) if vectors else 0} dimensions "
                        f"for {len(inputs)} inputs; expected {self.dimensions} dimensions"
                    )
                return np.asarray(vectors, dtype=np.float32)
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(header), BACKOFF_CAP_SECONDS) if header else None
    except ValueError:
        return None  # an HTTP date; the backoff alone will do
