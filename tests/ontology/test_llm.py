"""The optional language-model extractor, against a loopback server that speaks OpenAI's chat API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from garments.services import garment_create
from ontology.services import extract_garments
from tests.embeddings.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm_server(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.ONTOLOGY_LLM_EXTRACTION = True
        yield server


def test_the_model_fills_what_the_words_leave_open_within_the_vocabulary(llm_server):
    llm_server.script.chat_answer = {
        "subcategory": "dress", "category": "dresses", "primary_color": "red", "material": "chartreuse silk",
        "pattern": None, "brand": "Zara", "occasion": "party",
    }  # fmt: skip
    garment = garment_create(sku="a", title="Item 4711 wool", attribute_source="extracted")
    extract_garments(garment_ids=[garment.pk])
    garment.refresh_from_db()
    assert garment.subcategory == "dress" and garment.ontology_source["subcategory"] == "llm"
    assert garment.primary_color == "red" and garment.ontology_confidence["primary_color"] == 0.7
    assert garment.brand == "zara" and garment.occasion == "party"
    assert garment.material == "wool"  # the words spoke: their value stands, the model's invalid one is dropped
    assert garment.ontology_source["material"] == "extracted"
    request = llm_server.script.requests[0]
    assert request["path"] == "/v1/chat/completions"
    schema = request["body"]["response_format"]["json_schema"]
    assert schema["strict"] is True and "navy" in schema["schema"]["properties"]["primary_color"]["enum"]


def test_a_failing_model_leaves_the_text_extraction_standing(llm_server):
    llm_server.script.always_status = 500
    garment = garment_create(sku="a", title="Blue denim jacket", attribute_source="extracted")
    report = extract_garments(garment_ids=[garment.pk])
    garment.refresh_from_db()
    assert report.extracted == 1 and not report.failed
    assert garment.subcategory == "jacket" and "llm" not in garment.ontology_source.values()
    assert len(llm_server.script.requests) == 3  # the client's two retries, then it gives up


def test_the_model_is_off_unless_asked_for(llm_server, settings):
    settings.ONTOLOGY_LLM_EXTRACTION = False
    garment = garment_create(sku="a", title="Item 4711", attribute_source="extracted")
    extract_garments(garment_ids=[garment.pk])
    assert llm_server.script.requests == []
