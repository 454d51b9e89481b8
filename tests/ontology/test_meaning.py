"""The embedding fallback: a category from the text's meaning, only when confident, never over the words."""

from __future__ import annotations

import numpy as np
import pytest

from garments.services import garment_create
from ontology.extractors.embedding import MIN_BELIEF, Prototypes, classify
from ontology.services import extract_garments


def test_classify_proposes_only_confident_values():
    prototypes = [Prototypes("category", ("bags", "beauty"), np.eye(2, 3))]
    vectors = np.array([[1.0, 0.0, 0.0], [0.7071, 0.7071, 0.0]])
    clear, torn = classify(vectors, prototypes)
    assert clear["category"].value == "bags" and clear["category"].confidence == 0.83
    assert torn == {}  # equally close to both: belief 0.5 < MIN_BELIEF
    assert MIN_BELIEF > 0.5


@pytest.mark.django_db
def test_a_category_the_words_leave_open_comes_from_meaning(settings):
    settings.ONTOLOGY_EMBEDDING_FALLBACK = True
    garment = garment_create(sku="a", title="Matte finish long lasting lip shade 27", attribute_source="extracted")
    worded = garment_create(sku="b", title="Red wool scarf", attribute_source="extracted")
    extract_garments(garment_ids=[garment.pk, worded.pk])
    garment.refresh_from_db()
    worded.refresh_from_db()
    assert garment.category == "beauty" and garment.ontology_confidence["category"] == 0.83
    assert worded.category == "accessories" and worded.ontology_confidence["category"] == 0.95
    settings.ONTOLOGY_EMBEDDING_FALLBACK = False
    extract_garments(garment_ids=[garment.pk], force=True)
    garment.refresh_from_db()
    assert garment.category == ""
