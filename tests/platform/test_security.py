"""Security over HTTP: headers on every response (production settings in a process of their own), /metrics
behind a token, schema and docs for staff, CSRF on session writes, admin sign-in throttling."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils.crypto import get_random_string

from prethrift import throttling
from tests.platform.test_settings import PRODUCTION, run_with

HEADERS = ("Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options",
           "Referrer-Policy", "Cross-Origin-Opener-Policy", "Content-Type", "WWW-Authenticate")  # fmt: skip
PRODUCTION_PROBE = """
import json, django
from django.conf import settings
django.setup()
from django.test import Client, override_settings

# Static files are hashed by collectstatic in a deployment; the headers do not depend on it.
storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
client = Client(HTTP_X_FORWARDED_PROTO="https")  # nginx in front, TLS ended there
out = {}
with override_settings(STORAGES=storages):
    for path, headers in (("/admin/login/", {}), ("/api/v1/", {}), ("/api/schema/", {}), ("/api/docs/", {}),
                          ("/metrics", {}), ("/metrics#bearer", {"HTTP_AUTHORIZATION": "Bearer metrics-s3cret"})):
        response = client.get(path.split("#")[0], **headers)
        out[path] = {"status": response.status_code,
                     "headers": {name: response.get(name) for name in HEADERS},
                     "body": response.content.decode(errors="replace")[:300]}
    out["http"] = Client().get("/api/v1/").status_code
print(json.dumps(out))
""".replace("HEADERS", repr(HEADERS))


def production(env: dict[str, str]) -> dict:
    result = run_with({**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "testserver", **env}, "prethrift.settings.production",
                      code=PRODUCTION_PROBE)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def production_responses() -> dict:
    return production({})


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/", "/api/schema/", "/metrics"])
def test_production_sends_the_security_headers_on_every_response(production_responses, path):
    headers = production_responses[path]["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_html_pages_get_a_policy_that_loads_only_our_own_scripts(production_responses):
    admin = production_responses["/admin/login/"]
    assert admin["status"] == 200 and admin["headers"]["Content-Type"].startswith("text/html")
    policy = admin["headers"]["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "script-src 'self';" in policy  # no inline scripts, no outside host (the API docs are ours too)
    api = production_responses["/api/v1/"]
    assert api["headers"]["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_production_redirects_plain_http_to_https(production_responses):
    assert production_responses["http"] == 301


def test_production_keeps_schema_and_docs_from_anonymous_clients(production_responses):
    for path in ("/api/schema/", "/api/docs/"):
        refused = production_responses[path]
        assert refused["status"] == 401, refused
    assert "code: not_authenticated" in production_responses["/api/schema/"]["body"]  # YAML, the schema's default


def test_production_metrics_without_a_token_are_not_found(production_responses):
    assert production_responses["/metrics"]["status"] == 404
    assert json.loads(production_responses["/metrics"]["body"])["error"]["code"] == "not_found"


def test_production_metrics_answer_the_bearer_of_the_token():
    responses = production({"METRICS_TOKEN": "metrics-s3cret"})
    assert responses["/metrics"]["status"] == 401
    assert responses["/metrics"]["headers"]["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert responses["/metrics#bearer"]["status"] == 200
    assert "# TYPE" in responses["/metrics#bearer"]["body"]


@pytest.mark.django_db
def test_metrics_token_is_checked_where_set(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret").status_code == 401
    answered = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert answered.status_code == 200
    assert "django_http_requests_total_by_method_total" in answered.content.decode()
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", False
    assert client.get("/metrics").status_code == 404


# --- CSRF on session-authenticated writes -------------------------------------------------------------


@pytest.fixture
def staff_session(staff_user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.mark.django_db
def test_a_session_write_without_a_csrf_token_is_refused(staff_session, garment_factory):
    garment = garment_factory(title="Red wool scarf")
    # when the browser of a signed-in staff member is made to send a write with no CSRF token
    patched = staff_session.patch(
        f"/api/v1/garments/{garment.pk}/", {"title": "Forged"}, content_type="application/json"
    )
    posted = staff_session.post("/api/v1/garments/", {"title": "Forged"}, content_type="application/json")
    # then neither runs
    assert patched.status_code == 403 and posted.status_code == 403
    assert "CSRF" in patched.json()["error"]["message"]
    garment.refresh_from_db()
    assert garment.title == "Red wool scarf"


@pytest.mark.django_db
def test_a_session_write_with_the_csrf_token_is_allowed(staff_session, garment_factory):
    garment = garment_factory(title="Red wool scarf")
    secret = get_random_string(32)
    staff_session.cookies["csrftoken"] = secret
    patched = staff_session.patch(
        f"/api/v1/garments/{garment.pk}/", {"title": "Blue wool scarf"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=secret,
    )  # fmt: skip
    assert patched.status_code == 200, patched.content
    garment.refresh_from_db()
    assert garment.title == "Blue wool scarf"


# --- admin sign-in throttling -------------------------------------------------------------------------


@pytest.fixture
def login_limits(settings):
    settings.ADMIN_LOGIN_FAILURES_PER_USERNAME = 3
    settings.ADMIN_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.ADMIN_LOGIN_WINDOW_SECONDS = 900
    left = throttling.seconds_left_in_window(900)
    if left < 30:  # the whole test must count in one window
        time.sleep(left + 0.1)
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


def _sign_in(client: Client, username: str, password: str, address: str = "192.0.2.10") -> int:
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code


@pytest.mark.django_db
@pytest.mark.usefixtures("login_limits")
def test_admin_sign_in_pauses_a_username_after_repeated_failures(staff_user):
    staff_user.set_password("correct horse battery")
    staff_user.save()
    client = Client()
    # given three failed sign-ins for one username, from three addresses
    assert [_sign_in(client, "staff", "guess", f"192.0.2.{n}") for n in range(3)] == [200, 200, 200]
    # then the fourth is refused clearly, even with the right password, from a fresh address
    refused = client.post("/admin/login/", {"username": "STAFF", "password": "correct horse battery"},
                          REMOTE_ADDR="198.51.100.1")  # fmt: skip
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 900
    # and another account is not affected
    assert _sign_in(client, "someone-else", "guess", "198.51.100.2") == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("login_limits")
def test_admin_sign_in_pauses_an_address_after_repeated_failures(staff_user):
    staff_user.set_password("correct horse battery")
    staff_user.save()
    client = Client()
    # given five failures from one address, each for another username
    assert [_sign_in(client, f"user{n}", "guess") for n in range(5)] == [200] * 5
    # then that address is refused, and another address signs in
    assert _sign_in(client, "staff", "correct horse battery") == 429
    assert _sign_in(Client(), "staff", "correct horse battery", "192.0.2.77") == 302


@pytest.mark.django_db
@pytest.mark.usefixtures("login_limits")
def test_successful_sign_ins_are_not_counted(staff_user):
    staff_user.set_password("correct horse battery")
    staff_user.save()
    assert [_sign_in(Client(), "staff", "correct horse battery") for _ in range(6)] == [302] * 6


@pytest.mark.django_db
def test_local_html_pages_and_json_get_their_policies(client, staff_user):
    page = client.get("/admin/login/")
    assert page["Content-Security-Policy"].startswith("default-src 'self'")
    assert page["X-Frame-Options"] == "DENY"
    assert client.get("/healthz")["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    client.force_login(staff_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # drf-spectacular's Swagger page starts with an inline script: that page alone may run one (its split
    # variant loads the script from a URL and needs no exception)
    inline = "<script>" in docs.content.decode()
    assert ("script-src 'self' 'unsafe-inline'" in docs["Content-Security-Policy"]) is inline
    assert "'unsafe-inline'" not in page["Content-Security-Policy"].split("script-src")[1].split(";")[0]
