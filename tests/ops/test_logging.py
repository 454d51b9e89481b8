"""Structured logs: JSON lines under production settings, a request id on each (the proxy's when sane,
echoed in the response), one line per search with the planner's choice, and no token or query text."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from prethrift.logging import JsonFormatter, RequestIdFilter, log_format, request_id_from, request_id_var
from tests.embeddings.test_tasks import _database_url
from tests.factories import GarmentFactory, StaffFactory
from tests.faults.servers import Gunicorn, free_port, production_env


@pytest.mark.parametrize("header", ["0123456789abcdef0123456789abcdef", "req-1.2:3_x", "a" * 128])
def test_a_sane_proxy_request_id_is_kept(header: str) -> None:
    assert request_id_from(header) == header


@pytest.mark.parametrize("header", [None, "", "has space", "a" * 129, "line\nbreak", '"quoted"', "-leading", "é"])
def test_anything_else_gets_a_new_id(header: str | None) -> None:
    made = request_id_from(header)
    assert made != header and len(made) == 32 and int(made, 16) >= 0


def test_json_formatter_writes_one_object_per_line_with_extras_and_the_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("prethrift.test", logging.ERROR, __file__, 1, "multi\nline %s", ("arg",), None)
        record.__dict__.update({"event": "search", "planner": {"text": "hnsw"}, "price": Path("/x")})
        try:
            raise ValueError("boom")
        except ValueError:
            record.exc_info = sys.exc_info()
        RequestIdFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "multi\nline arg" and entry["level"] == "ERROR" and entry["logger"] == "prethrift.test"
    assert entry["request_id"] == "req-42" and entry["event"] == "search" and entry["planner"] == {"text": "hnsw"}
    assert entry["price"] == "/x" and "ValueError: boom" in entry["exception"] and entry["time"].endswith("+00:00")


def test_local_and_test_settings_log_text_production_json_and_the_variable_wins(settings: Any) -> None:
    assert log_format() == "text"  # the test settings are local ones: readable in a terminal
    settings.SETTINGS_MODE = "production"
    assert log_format() == "json"
    settings.LOG_FORMAT = "text"
    assert log_format() == "text"


@pytest.mark.django_db
def test_every_response_carries_the_request_id(client: Client) -> None:
    given = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-1")
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\r\n")
    refused = client.post("/api/v1/search/", data=b"{}", content_type="", HTTP_X_REQUEST_ID="guard-id")
    assert given["X-Request-ID"] == "proxy-id-1"
    assert made["X-Request-ID"] != "bad id\r\n" and len(made["X-Request-ID"]) == 32
    assert refused.status_code == 415 and refused["X-Request-ID"] == "guard-id"  # set before any guard answers


@pytest.mark.django_db
def test_a_search_logs_how_it_ran_not_what_was_asked(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    GarmentFactory.create(title="Crimson velvet blazer")
    user = StaffFactory.create(username="log-reader")
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="search.apis"):
        answer = client.get("/api/v1/search/?q=crimson+velvet+secretword&brand=acme", HTTP_X_REQUEST_ID="search-id")
    assert answer.status_code == 200
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "search"]
    fields = vars(record)
    assert fields["mode"] == "text" and fields["results"] == len(answer.json()["results"])
    assert set(fields["planner"]) and "total_ms" in fields["timings_ms"]
    assert fields["query_chars"] == len("crimson velvet secretword") and fields["filters"] == ["brand"]
    line = JsonFormatter().format(record)
    assert "secretword" not in line and "acme" not in line


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_production_logs_are_json_with_the_request_id_and_never_the_token(tmp_path: Path, settings: Any) -> None:
    """gunicorn with production settings: the lines of a token-authenticated search hold its id, not its token."""
    GarmentFactory.create(title="Blue denim jacket")
    token = Token.objects.create(user=StaffFactory.create(username="log-staff")).key
    request_id = "ops-" + secrets.token_hex(8)
    env = production_env(database_url=_database_url(), port=free_port(), DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT))
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        search = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/v1/search/?q=blue+denim+hushhush&limit=3",
            headers={"Authorization": f"Token {token}", "X-Request-ID": request_id, "Accept": "application/json"},
        )
        with urllib.request.urlopen(search, timeout=60) as answer:
            assert answer.status == 200 and answer.headers["X-Request-ID"] == request_id
        log = server.log()
    assert token not in log and "hushhush" not in log
    # every line is one JSON object: Django's, and gunicorn's own (deploy/gunicorn.conf.py logconfig_dict)
    lines = [line for line in log.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), [line for line in lines if not line.startswith("{")][:5]
    entries = [json.loads(line) for line in lines]
    assert any(entry.get("logger") == "gunicorn.error" for entry in entries), entries[:3]
    mine = [entry for entry in entries if entry["request_id"] == request_id]
    events = {entry.get("event"): entry for entry in mine}
    assert set(events) >= {"search", "request"}, mine
    assert events["request"]["status"] == 200 and events["request"]["path"] == "/api/v1/search/"
    assert events["search"]["planner"] and events["search"]["timings_ms"]["total_ms"] >= 0


def test_objects_on_a_record_never_leak_their_text() -> None:
    """django.request puts the request on its error records; its repr holds the query string."""
    from decimal import Decimal

    from django.test import RequestFactory

    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, None)
    record.__dict__.update(
        request=RequestFactory().get("/api/v1/search/?q=private+words"),
        status_code=500,
        price=Decimal("12.50"),
        connection=type("Connection", (), {"__str__": lambda self: "postgres://user:pw@db/prethrift"})(),
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request"] == {"method": "GET", "path": "/api/v1/search/"} and entry["status_code"] == 500
    assert entry["price"] == "12.50" and entry["connection"] == "<Connection>"
