"""The REST API: search (GET, JSON, multipart), similar, ontology, garments for staff, errors, auth, throttling."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from embeddings.services import embed_garments
from garments.models import Garment
from garments.services import garment_create, garment_update
from ontology.services import extract_garments
from tests.factories import StaffFactory, UserFactory, jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_throttles():
    cache.clear()


@pytest.fixture
def garments():
    titles = ["Blue denim jacket", "Red wool scarf", "Black leather boots", "Blue slim jeans", "White cotton tee"]
    created = [garment_create(sku=f"g{i}", title=t, price=str(10 * (i + 1)), attribute_source="extracted")
               for i, t in enumerate(titles)]  # fmt: skip
    ids = [g.pk for g in created]
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    return created


def client_for(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api


@pytest.fixture
def api() -> APIClient:
    return client_for(UserFactory())


def test_get_search_with_filters_in_query_params(api, garments):
    response = api.get("/api/v1/search/", {"q": "blue", "price_max": 30, "explain": "true", "limit": 3})
    body = response.json()
    assert response.status_code == 200, body
    assert body["mode"] == "text" and 1 <= len(body["results"]) <= 3
    assert all(float(hit["garment"]["price"]) <= 30 for hit in body["results"])
    assert body["results"][0]["signals"] and body["parsed"]["soft"][0]["value"] == "blue"
    assert body["filters"]["price_range"]["max"] == "30" and body["facets"]["total"] >= 1


def test_post_json_search_and_cursor(api, garments):
    first = api.post("/api/v1/search/", {"q": "clothes", "limit": 2}, format="json").json()
    second = api.post(
        "/api/v1/search/", {"q": "clothes", "limit": 2, "cursor": first["next_cursor"]}, format="json"
    ).json()
    ids = [hit["garment"]["id"] for hit in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 4


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"q": "dress", "filters": {"colour": "red"}}, "invalid_filter"),
        ({"q": "dress", "limit": 500}, "validation_error"),
        ({"q": "x" * 501}, "validation_error"),
        ({"q": "dress", "cursor": "nonsense"}, "invalid_search"),
        ({"similar_to": 999999999}, "not_found"),
    ],
)
def test_every_error_is_a_4xx_with_the_stable_body(api, payload, code):
    response = api.post("/api/v1/search/", payload, format="json")
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_multipart_filters_must_be_json(api):
    response = api.post("/api/v1/search/", {"q": "dress", "filters": "{colour"}, format="multipart")
    assert response.status_code == 400
    assert "not a JSON object" in response.json()["error"]["details"]["filters"][0]


def test_multipart_image_search_without_clip_is_a_400(api, settings):
    settings.CLIP_MODEL_PATH = ""
    upload = io.BytesIO(jpeg_bytes())
    upload.name = "photo.jpg"
    response = api.post("/api/v1/search/", {"image": upload}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_search"


def test_similar_endpoint(api, garments):
    response = api.get(f"/api/v1/garments/{garments[0].pk}/similar/", {"limit": 3})
    assert response.status_code == 200
    ids = [hit["garment"]["id"] for hit in response.json()["results"]]
    assert garments[0].pk not in ids and len(ids) == 3


def test_ontology_endpoint(api):
    body = api.get("/api/v1/ontology/").json()
    assert body["version"] >= 1 and "subcategory" in body["attributes"]
    assert body["attributes"]["color"]["fills"] == ["primary_color", "secondary_color"]


def test_authentication_is_required_unless_anonymous_search_is_allowed(settings, garments):
    response = APIClient().get("/api/v1/search/", {"q": "jeans"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    settings.SEARCH_ALLOW_ANONYMOUS = True
    assert APIClient().get("/api/v1/search/", {"q": "jeans"}).status_code == 200
    assert APIClient().get("/api/v1/garments/").status_code == 401  # the catalogue API still needs a token


def test_throttling_per_client(api, monkeypatch, garments):
    from rest_framework.throttling import SimpleRateThrottle

    # DRF reads the rates into the class when it is imported; set them where it reads them.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"search": "2/min", "image_search": "1/min"})
    codes = [api.get("/api/v1/search/", {"q": "jeans"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    throttled = api.get("/api/v1/search/", {"q": "jeans"}).json()
    assert throttled["error"]["code"] == "throttled"
    assert client_for(UserFactory()).get("/api/v1/search/", {"q": "jeans"}).status_code == 200  # per client


def test_staff_create_update_delete_and_readers_cannot(api, garments):
    staff = client_for(StaffFactory())
    created = staff.post("/api/v1/garments/", {"sku": "new-1", "title": "Green linen shirt", "price": "25.00",
                                               "attributes": {"brand": "Zara"}}, format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    garment = Garment.objects.get(sku="new-1")
    assert garment.brand == "zara" and garment.ontology_locked == ["brand"]
    updated = staff.patch(f"/api/v1/garments/{garment.pk}/", {"price": "20.00", "status": "sold"}, format="json")
    assert updated.status_code == 200 and updated.json()["status"] == "sold"
    bad = staff.post("/api/v1/garments/", {"sku": "x", "title": "y", "currency": "dollars"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] in ("invalid_garment", "validation_error")
    assert api.post("/api/v1/garments/", {"sku": "z", "title": "z"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/garments/{garment.pk}/").status_code == 403
    assert staff.delete(f"/api/v1/garments/{garment.pk}/").status_code == 204


def test_openapi_schema_validates_and_documents_search():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = out.getvalue()
    for path in ("/api/v1/search/", "/api/v1/garments/{id}/similar/", "/api/v1/ontology/"):
        assert path in schema


def test_the_image_throttle_refuses_before_the_upload_is_parsed(api, monkeypatch, settings):
    """The image throttle decides from the Content-Type: a throttled upload is never parsed (spooled)."""
    from django.http import multipartparser
    from rest_framework.throttling import SimpleRateThrottle

    settings.CLIP_MODEL_PATH = ""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"search": "100/min", "image_search": "1/min"})
    parsed: list[str] = []
    real_parse = multipartparser.MultiPartParser.parse

    def counted_parse(self):
        parsed.append("x")
        return real_parse(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", counted_parse)

    def upload() -> int:
        photo = io.BytesIO(jpeg_bytes())
        photo.name = "photo.jpg"
        return api.post("/api/v1/search/", {"image": photo}, format="multipart").status_code

    assert upload() == 400  # the first is read (and refused: no CLIP model here)
    assert parsed == ["x"]
    assert upload() == 429  # the second is throttled ...
    assert parsed == ["x"]  # ... without its body being parsed
    assert api.post("/api/v1/search/", {"q": "jeans"}, format="json").status_code == 200  # JSON is not image search


@pytest.mark.parametrize(("stored", "asked"), [("32/34", "32/34"), ("EU 38", "eu 38"), ("W32", "w32"), ("M", "m")])
def test_a_size_staff_store_is_found_by_the_same_words_as_a_filter(api, garments, stored, asked):
    """Staff writes and search filters read sizes by one rule (ontology.sizes.whole_size): a size kept as
    written ("32/34") is not cut to "uk 32" by the filter, so it stays findable."""
    garment = garment_update(garment=garments[0], attributes={"size": stored})
    response = api.get("/api/v1/search/", {"size": asked, "facets": "false"})
    assert response.status_code == 200, response.json()
    assert [hit["garment"]["id"] for hit in response.json()["results"]] == [garment.pk]
