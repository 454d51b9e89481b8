"""The search suites' catalogue: the 500-garment sample, title-only import, extracted attributes,
real text vectors, and fresh planner statistics (the planner reads PostgreSQL's estimates)."""

from __future__ import annotations

import pytest
from django.db import connection

from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.models import Garment
from ontology.services import extract_garments


@pytest.fixture
def catalogue(sample_dir, db):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    ids = list(Garment.objects.values_list("pk", flat=True))
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
    return ids
