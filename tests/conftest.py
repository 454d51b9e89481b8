"""Fixtures shared by every suite. Tests run against the real PostgreSQL + pgvector of settings
(the embedded server by default, DATABASE_URL when set): never SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.factories import GarmentFactory, StaffFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
SHARED_CATALOG = PROJECT_ROOT.parent / "shared" / "data" / "myntra-fashion-small"


@pytest.fixture
def garment_factory(db: None) -> type[GarmentFactory]:
    return GarmentFactory


@pytest.fixture
def staff_user(db: None) -> object:
    return StaffFactory(username="staff")


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings: Any) -> Path:
    """Each test writes photos to its own folder."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    return media


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
