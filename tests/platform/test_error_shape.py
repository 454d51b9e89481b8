"""Django's own errors answer the API's stable JSON body: no route, a bad Host, a body too large, a
crash; a browser outside /api/ still gets a page. And chunked bodies are refused, never ignored,
through a real gunicorn as well as the test client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.test import RequestFactory
from django.urls import get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garments.models import Garment
from tests.factories import StaffFactory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _assert_stable(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v2/search/", "/no-such-page"])
def test_an_unknown_path_is_a_json_404(client, path):
    _assert_stable(client.get(path), 404, "not_found")


@pytest.mark.django_db
def test_a_browser_outside_the_api_still_gets_a_page(client):
    page = client.get("/no-such-page", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    api = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT="text/html")
    _assert_stable(api, 404, "not_found")  # /api/ is JSON whoever asks


@pytest.mark.django_db
def test_a_disallowed_host_is_a_json_400(client):
    _assert_stable(client.get("/api/v1/search/", HTTP_HOST="evil.example"), 400, "bad_host")


@pytest.mark.django_db
def test_an_unhandled_error_is_a_json_500(client, monkeypatch):
    from search.apis import OntologyView

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(OntologyView, "get", crash)
    client.raise_request_exception = False
    client.force_login(StaffFactory())
    body = _assert_stable(client.get("/api/v1/ontology/"), 500, "server_error")
    assert "boom" not in str(body)  # nothing internal leaks


@pytest.mark.parametrize(
    ("status", "exception", "code", "expected"),
    [
        (400, RequestDataTooBig("too big"), "request_too_large", 413),
        (400, DisallowedHost("evil"), "bad_host", 400),
        (400, SuspiciousOperation("odd"), "bad_request", 400),
        (403, PermissionError(), "permission_denied", 403),
        (404, Exception(), "not_found", 404),
        (500, None, "server_error", 500),
    ],
)
def test_the_url_root_wires_every_django_error_view(status, exception, code, expected):
    """handler400/403/404/500 in prethrift.urls, as Django resolves them."""
    view: Any = get_resolver().resolve_error_handler(status)
    request = RequestFactory().get("/anything")
    response = view(request) if exception is None else view(request, exception)
    _assert_stable(response, expected, code)


@pytest.mark.django_db
def test_a_chunked_patch_is_refused_and_changes_nothing(garment_factory):
    garment = garment_factory(title="Red wool scarf")
    staff: Any = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=StaffFactory.create()).key}")
    response = staff.generic(
        "PATCH", f"/api/v1/garments/{garment.pk}/", b'{"title": "changed"}',
        content_type="application/json", HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    _assert_stable(response, 411, "length_required")
    assert Garment.objects.get(pk=garment.pk).title == "Red wool scarf"
    # refused inside the security middleware, so the refusal carries its headers like any response
    assert "Content-Security-Policy" in response and response["X-Content-Type-Options"] == "nosniff"


# --- through a real gunicorn (gthread, as deploy/gunicorn.conf.py runs it) -------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn_url():
    """gunicorn serving the test settings with anonymous search, so no request needs the database."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "prethrift.settings.test",
        "SEARCH_ALLOW_ANONYMOUS": "true",
        "PRELOAD_QUERY_ENCODERS": "false",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
               "--threads", "2", "--workers", "1", "--timeout", "60", "prethrift.wsgi"]  # fmt: skip
    # Its log goes to a file: a pipe nobody reads would fill and block the server once it logs enough.
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in finally)
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"gunicorn did not start: {log.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.2)
        yield ("127.0.0.1", port)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _raw_request(address: tuple[str, int], head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these bytes (http.client would frame the body itself) and read the answer."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(head.encode() + body)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, answer.read()


def _json_body(raw: bytes) -> dict:
    return json.loads(raw)


def test_gunicorn_hands_a_chunked_search_to_django_which_refuses_it_with_411(gunicorn_url):
    body = b'{"q": "dress", "filters": {"status": "sold"}}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    head = (
        "POST /api/v1/search/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    status, raw = _raw_request(gunicorn_url, head, chunked)
    assert status == 411
    error = _json_body(raw)["error"]
    assert error["code"] == "length_required" and set(error) == {"code", "message", "details"}


def test_gunicorn_a_declared_50_mb_body_is_refused_before_it_is_sent(gunicorn_url):
    head = (
        "POST /api/v1/search/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    )
    status, raw = _raw_request(gunicorn_url, head, b'{"q": "dress"')  # 13 bytes of the 50 MB promised
    assert status == 413 and _json_body(raw)["error"]["code"] == "request_too_large"


def test_gunicorn_deep_json_is_a_400_not_a_500(gunicorn_url):
    body = b'{"q": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    head = (
        "POST /api/v1/search/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    status, raw = _raw_request(gunicorn_url, head, body)
    assert status == 400 and _json_body(raw)["error"]["code"] == "parse_error"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/?format=json", "/api/v1/.json"])
def test_the_api_root_answers_in_every_format_it_routes(client, path):
    response = client.get(path, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    assert urlsplit(response.json()["search"]).path == "/api/v1/search/"
