"""No secret ends up where operators, scrapers or clients read: after a run of ordinary and failing
requests through gunicorn with production settings, the server's log (access and error), every response
(bodies and headers) and the /metrics page hold none of the secret key, the API token, the OpenAI key,
the metrics token, the database password or a password someone tried at the admin sign-in."""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from garments.catalog_import import catalog_import
from garments.models import Garment
from tests.embeddings.fake_openai import FakeOpenAI
from tests.embeddings.test_tasks import _database_url
from tests.factories import StaffFactory
from tests.faults.servers import Gunicorn, free_port, manage, production_env, request

pytestmark = pytest.mark.slow


def _with_password(url: str, password: str) -> str:
    """The same database URL with a password (trust authentication ignores it; the logs must too)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def _admin_sign_in(port: int, username: str, password: str) -> tuple[int, bytes, dict[str, str]]:
    """A browser's failed sign-in: fetch the form and its CSRF cookie, post the wrong password. The cookie
    is sent back by hand: production marks it Secure, and this loopback server speaks plain HTTP."""
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/admin/login/?next=/admin/", timeout=30) as answer:
        form = answer.read().decode()
        cookies = answer.headers.get_all("Set-Cookie") or []
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    cookie = next((c.split(";", 1)[0] for c in cookies if c.startswith("csrftoken=")), None)
    assert csrf and cookie, (form[:500], cookies)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": csrf.group(1), "username": username, "password": password, "next": "/admin/"}
    ).encode()
    sign_in = urllib.request.Request(
        f"{base}/admin/login/?next=/admin/", data=data, headers={"Referer": base, "Cookie": cookie}
    )
    try:
        with urllib.request.urlopen(sign_in, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers.items())


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_the_log_a_response_or_the_metrics(sample_dir: Path, tmp_path: Path, settings) -> None:
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=10)
    garment_id = Garment.objects.order_by("pk").values_list("pk", flat=True).first()
    staff: Any = StaffFactory(username="leak-staff", is_superuser=True)
    token = Token.objects.create(user=staff).key
    secret_values = {
        "secret key": "sk-django-" + secrets.token_urlsafe(40),
        "metrics token": "mt-" + secrets.token_urlsafe(24),
        "OpenAI key": "sk-openai-" + secrets.token_urlsafe(24),
        "database password": "dbpw-" + secrets.token_urlsafe(16),
        "tried admin password": "pw-" + secrets.token_urlsafe(16),
        "API token": token,
    }
    seen: list[tuple[str, str]] = []  # (what, text) of everything a reader could see

    def keep(what: str, status: int, body: bytes, headers: dict[str, str]) -> int:
        seen.append((what, f"{status}\n{headers}\n{body.decode(errors='replace')}"))
        return status

    with FakeOpenAI() as openai:
        openai.script.always_status = 500  # the provider fails: its errors are logged, with the key in hand
        env = production_env(
            database_url=_with_password(_database_url(), secret_values["database password"]),
            port=free_port(),
            DJANGO_SECRET_KEY=secret_values["secret key"],
            METRICS_TOKEN=secret_values["metrics token"],
            OPENAI_API_KEY=secret_values["OpenAI key"],
            OPENAI_BASE_URL=openai.base_url,
            GUNICORN_ACCESSLOG="-",  # the access log is read too
            DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        )
        manage("collectstatic", "--no-input", env=env)  # as a deployment does: the admin pages need it
        with Gunicorn(env, tmp_path / "gunicorn.log") as server:
            port = server.port
            for path, kwargs in [
                ("/healthz", {}),
                ("/api/v1/search/?q=blue+shirt&limit=3", {"token": token}),
                ("/api/v1/search/?q=blue+shirt&limit=3", {"token": token[::-1]}),  # a wrong token: 401
                ("/api/v1/search/?q=blue+shirt&cursor=forged", {"token": token}),
                (f"/api/v1/garments/{garment_id}/", {"token": token, "method": "PATCH", "payload": {"price": "x"}}),
                ("/api/v1/garments/", {"token": token, "method": "POST", "payload": {"sku": "s", "titel": "t"}}),
                ("/api/schema/", {}),
                ("/metrics", {}),
            ]:
                answer = request(port, path, **kwargs)
                assert keep(path, answer.status, answer.body, answer.headers) < 500, (path, answer.body[:500])
            status, body, headers = _admin_sign_in(port, "leak-staff", secret_values["tried admin password"])
            assert keep("admin sign-in", status, body, headers) == 200  # the form again, with an error
            metrics = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": f"Bearer {secret_values['metrics token']}"},
            )
            with urllib.request.urlopen(metrics, timeout=30) as answer:
                page = answer.read()
                assert keep("/metrics with the token", answer.status, page, dict(answer.headers.items())) == 200
            assert b"django_http_requests" in page  # the page really is the metrics
            seen.append(("gunicorn log", server.log()))
    assert openai.script.requests, "the OpenAI fake was never asked: the failing-provider path did not run"
    assert any(r["auth"] == f"Bearer {secret_values['OpenAI key']}" for r in openai.script.requests)
    leaks = [(what, name) for what, text in seen for name, value in secret_values.items() if value in text]
    assert not leaks, leaks
