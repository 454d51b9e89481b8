"""The page suites' catalogue: every 4th garment of the sample (~125, every kind), with extracted
attributes and real text vectors, as tests/search/conftest.py builds the whole sample; search open to
anonymous shoppers unless a test says otherwise."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.models import Garment
from ontology.services import extract_garments

STRIDE = 4


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Facet counts and kept photos are cached: each test starts without another's."""
    cache.clear()


@pytest.fixture
def public(settings: Any) -> Any:
    settings.SEARCH_ALLOW_ANONYMOUS = True
    return settings


@pytest.fixture
def catalogue(sample_dir: Path, db: None, public: Any, tmp_path: Path) -> list[int]:
    with (sample_dir / "styles.csv").open(newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    styles = tmp_path / "styles.csv"
    with styles.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(rows[0])
        writer.writerows(rows[1::STRIDE])
    catalog_import(path=styles, images_dir=sample_dir / "images", synthesize=True)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
    return ids
