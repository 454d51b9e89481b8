"""What an encoder is: an id, a dimension count, and text and/or image embedding, L2-normalised."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from PIL import Image


class EncoderError(Exception):
    """An input the encoder cannot embed (permanent: retrying will not help)."""


class TransientEncoderError(Exception):
    """A provider hiccup (rate limit, 5xx, timeout): the same call may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DimensionMismatchError(ImproperlyConfigured):
    """A model whose vectors do not fit the column it would write."""

    def __init__(self, model_id: str, model_dimensions: int, column_dimensions: int) -> None:
        super().__init__(
            f"{model_id} produces {model_dimensions}-dimensional vectors, but the column holds "
            f"{column_dimensions}: use a model with {column_dimensions} dimensions or migrate the column."
        )
        self.model_dimensions = model_dimensions
        self.column_dimensions = column_dimensions


class Encoder(ABC):
    id: str  # stored beside every vector; a different id marks the vector stale
    dimensions: int
    supports_text: bool = True
    supports_images: bool = False

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimensions) float32, each row of unit length."""
        raise NotImplementedError(f"{self.id} does not embed text")

    def embed_query(self, text: str) -> np.ndarray:
        """One shopper's query, while the shopper waits: a remote encoder tries once, briefly, and
        raises (TransientEncoderError or EncoderError) rather than retrying; search goes on without it."""
        return self.embed_texts([text])[0]

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(len(images), dimensions) float32, each row of unit length."""
        raise NotImplementedError(f"{self.id} does not embed images")

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and benchmarks."""


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_dimensions(model_id: str, model_dimensions: int, column_dimensions: int) -> None:
    if model_dimensions != column_dimensions:
        raise DimensionMismatchError(model_id, model_dimensions, column_dimensions)
