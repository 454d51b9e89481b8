"""The 503 mapping in-process (fast, every CI leg): a view whose database does not answer gets 503
service_unavailable with Retry-After; any other exception stays a 500 (not hidden)."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garments.apis import GarmentViewSet
from prethrift.resilience import RETRY_AFTER_SECONDS, database_unavailable_responses_total
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client() -> APIClient:
    token = Token.objects.create(user=UserFactory.create())
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_a_database_error_is_a_503_with_retry_after(monkeypatch, error):
    api = _client()

    def unavailable(self):
        raise error

    monkeypatch.setattr(GarmentViewSet, "get_queryset", unavailable)
    before = database_unavailable_responses_total._value.get()
    response = api.get("/api/v1/garments/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert database_unavailable_responses_total._value.get() == before + 1


def test_other_exceptions_are_not_dressed_as_unavailable(monkeypatch):
    api = _client()

    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(GarmentViewSet, "get_queryset", broken)
    assert api.get("/api/v1/garments/").status_code == 500
