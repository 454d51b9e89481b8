"""The optional language-model extractor, against a loopback server that speaks OpenAI's chat API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.metrics import ontology_extraction_failures_total
from ontology.services import LLM_CONSECUTIVE_FAILURES_TO_STOP, extract_garments, ontology_version
from ontology.tasks import extract_garments_task
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


def _failures(reason: str) -> float:
    return ontology_extraction_failures_total.labels(reason=reason)._value.get()


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"always_status": 500}, id="server-error"),
        pytest.param({"always_status": 429}, id="rate-limited"),
        pytest.param({"chat_answer": ["not", "an", "object"]}, id="garbage-json"),
        pytest.param({"chat_answer": "red"}, id="a-bare-string"),
    ],
)
def test_a_failing_model_leaves_the_garment_pending_with_its_error_and_the_next_run_retries(llm_server, fault):
    # given a garment the model labelled once, whose title then changed
    llm_server.script.chat_answer = {"occasion": "party"}
    garment = garment_create(sku="a", title="Blue denim jacket", attribute_source="extracted")
    extract_garments(garment_ids=[garment.pk])
    garment_update(garment=Garment.objects.get(pk=garment.pk), listing={"title": "Blue denim jacket, worn"})
    garment.refresh_from_db()
    updated_at = garment.updated_at
    before = _failures("llm")
    # when the model fails (after the client's own retries) or answers garbage
    for name, value in fault.items():
        setattr(llm_server.script, name, value)
    report = extract_garments(garment_ids=[garment.pk])
    # then nothing is marked done or lost: the garment stays pending, with the error on it, counted
    garment.refresh_from_db()
    assert report.extracted == 0 and set(report.failed) == {garment.pk}
    assert Garment.objects.filter(pk=garment.pk).needs_extraction(version=ontology_version()).exists()
    assert garment.ontology_extracted_hash != garment.ontology_input_hash
    assert garment.occasion == "party" and garment.ontology_source["occasion"] == "llm"  # the old value is kept
    error = garment.embedding_errors["ontology"]
    assert "language model" in error["message"] and error["source_hash"] == garment.ontology_input_hash
    assert _failures("llm") == before + 1
    assert garment.updated_at == updated_at
    # and the next run, with the model back, extracts it and clears the error
    llm_server.script.always_status = None
    llm_server.script.chat_answer = {"occasion": "casual"}
    call_command("extract_ontology", "--no-progress", stdout=io.StringIO())
    garment.refresh_from_db()
    assert not Garment.objects.needs_extraction(version=ontology_version()).exists()
    assert garment.occasion == "casual" and "ontology" not in garment.embedding_errors
    assert garment.subcategory == "jacket"


def test_extract_ontology_reports_the_garments_it_left_pending(llm_server):
    llm_server.script.always_status = 500
    garment_create(sku="a", title="Blue denim jacket", attribute_source="extracted")
    out = io.StringIO()
    call_command("extract_ontology", "--no-progress", stdout=out)
    assert "failed 1" in out.getvalue() and "language model request failed" in out.getvalue()
    assert Garment.objects.needs_extraction(version=ontology_version()).count() == 1


def test_a_model_that_is_down_is_not_asked_about_every_garment_of_the_batch(llm_server):
    llm_server.script.always_status = 500
    garments = [garment_create(sku=f"g-{i}", title=f"Blue denim jacket {i}", attribute_source="extracted")
                for i in range(6)]  # fmt: skip
    report = extract_garments(garment_ids=[garment.pk for garment in garments])
    assert set(report.failed) == {garment.pk for garment in garments}
    assert len(llm_server.script.requests) == LLM_CONSECUTIVE_FAILURES_TO_STOP * 3  # 3 tries each, then skipped
    assert Garment.objects.needs_extraction(version=ontology_version()).count() == 6
    assert all("ontology" in errors for errors in Garment.objects.values_list("embedding_errors", flat=True))


def test_the_worker_task_retries_only_the_garments_whose_model_call_failed(llm_server):
    # given two garments, and a model that fails every request of the first pass (the client tries
    # three times per garment), then answers
    llm_server.script.chat_answer = {"occasion": "party"}
    first = garment_create(sku="a", title="Blue denim jacket", attribute_source="extracted")
    second = garment_create(sku="b", title="Red wool scarf", attribute_source="extracted")
    llm_server.script.failures = [(500, {}, 0.0)] * 3
    # when the task runs (eagerly here: its retry runs at once, instead of after the countdown)
    extract_garments_task.apply(args=([first.pk, second.pk],), throw=False)
    # then the retry extracted the one that failed, and asked the model about nothing else
    assert not Garment.objects.needs_extraction(version=ontology_version()).exists()
    assert set(Garment.objects.values_list("occasion", flat=True)) == {"party"}
    assert len(llm_server.script.requests) == 3 + 1 + 1


def test_the_model_is_off_unless_asked_for(llm_server, settings):
    settings.ONTOLOGY_LLM_EXTRACTION = False
    garment = garment_create(sku="a", title="Item 4711", attribute_source="extracted")
    extract_garments(garment_ids=[garment.pk])
    assert llm_server.script.requests == []
