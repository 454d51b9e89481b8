"""Fixtures for the embedding suites: a tiny random CLIP on disk, a loopback OpenAI, the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embeddings import registry
from embeddings.random_clip import build_random_clip
from tests.embeddings.fake_openai import FakeOpenAI

TINY_IMAGE_SIZE = 32


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", tiny=True, image_size=TINY_IMAGE_SIZE)


@pytest.fixture
def clip_configured(settings: Any, tiny_clip_path: Path) -> Path:
    settings.CLIP_MODEL_PATH = str(tiny_clip_path)
    return tiny_clip_path


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        yield server


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Image and OpenAI encoders follow each test's settings; the local text model loads once per session."""
    yield
    registry.reset(("image", "openai_text"))
