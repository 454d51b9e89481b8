"""A remote encoder that is down or slow costs its signal, never the search: the shopper gets results
from the other signals at once (one short try, no retries), and operators see it in the planner, the log
and query_embedding_failures_total."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from embeddings import registry
from embeddings.metrics import query_embedding_failures_total
from embeddings.services import embed_garments
from garments.services import garment_create
from search.engine import HybridSearchEngine
from tests.embeddings.fake_openai import FakeOpenAI
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_openai(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        server.script.always_status = 500
        yield server
    registry.reset(("openai_text",))


@pytest.fixture
def garments() -> list[int]:
    titles = ["Blue denim jacket", "Red wool scarf", "Blue slim jeans"]
    ids = [garment_create(sku=f"d{i}", title=title).pk for i, title in enumerate(titles)]
    embed_garments(garment_ids=ids, space="text")
    return ids


def _failures() -> float:
    return query_embedding_failures_total.labels(space="openai_text")._value.get()


def test_a_provider_that_is_down_costs_its_signal_not_the_search(failing_openai, garments):
    before = _failures()
    result = HybridSearchEngine().search(query="blue denim", limit=5, explain=True)
    assert result.hits and result.hits[0].garment.pk == garments[0]
    assert result.planner["openai_text"] == "unavailable"
    assert "text" in result.planner and "openai_text" not in result.hits[0].signals
    # one short try while the shopper waits: no retries, no backoff
    assert len(failing_openai.script.requests) == 1
    assert _failures() == before + 1


def test_through_the_api_the_search_answers_200(failing_openai, garments):
    reader: Any = UserFactory()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")
    response = api.get("/api/v1/search/", {"q": "red scarf", "explain": "true"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["planner"]["openai_text"] == "unavailable"
    assert body["results"][0]["garment"]["id"] == garments[1]


def test_a_provider_that_refuses_the_query_also_costs_only_its_signal(failing_openai, garments):
    failing_openai.script.always_status = 400  # a permanent refusal (say, a revoked model)
    result = HybridSearchEngine().search(query="blue jeans", limit=5)
    assert result.hits and result.planner["openai_text"] == "unavailable"
