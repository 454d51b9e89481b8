"""The HTTP surface of this slice: health, metrics, the API root and its authentication, the schema."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory, jpeg_bytes

pytestmark = pytest.mark.django_db


def test_healthz_reaches_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_are_exposed_for_prometheus(client):
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in body


def test_api_requires_authentication_with_a_stable_error_body():
    response = APIClient().get("/api/v1/garments/")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": {},
        }
    }


def test_a_token_client_lists_and_reads_garments(garment_factory):
    garment = garment_factory(title="Red wool scarf", image_content=jpeg_bytes())
    token = Token.objects.create(user=UserFactory.create())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    listing = api.get("/api/v1/garments/").json()
    assert [item["sku"] for item in listing["results"]] == [garment.sku]
    detail = api.get(f"/api/v1/garments/{garment.pk}/").json()
    assert detail["title"] == "Red wool scarf"
    assert detail["attributes"]["primary_color"] == {
        "value": "blue", "confidence": 1.0, "source": "extracted", "locked": False, "evidence": None
    }  # fmt: skip
    assert detail["image_url"].startswith("http://testserver/media/garments/")
    missing = api.get("/api/v1/garments/999999/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/garments/" in response.json()["paths"]


def test_web_processes_load_the_query_encoders_before_the_first_request():
    """gunicorn workers and runserver import prethrift.wsgi before serving: the model loads there."""
    import subprocess
    import sys

    code = (
        "import prethrift.wsgi\n"
        "from embeddings import registry\n"
        "print(sorted(space for space, encoder in registry._encoders.items() if encoder is not None))\n"
    )
    env = {"DJANGO_SETTINGS_MODULE": "prethrift.settings.local", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    for preload, expected in (("true", "['text']"), ("false", "[]")):
        done = subprocess.run(
            [sys.executable, "-c", code], env={**env, "PRELOAD_QUERY_ENCODERS": preload},
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        assert done.stdout.strip().splitlines()[-1] == expected
