"""Throttles: keyed on an address the client cannot choose, on every endpoint, one count for every
process (real Redis), and bounded when that store is down."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from prethrift import throttling
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/12"  # a database of this suite's own


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str | None]]:
    """Small rates for the default throttles, and empty counts."""
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "anon": "2/min", "user": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    caches["throttle"].clear()
    yield rates
    caches["throttle"].clear()


@pytest.fixture
def _window_not_ending() -> None:
    """Counts are per fixed minute: start a test far enough from a minute's end that it fits in one."""
    left = throttling.seconds_left_in_window(60)
    if left < 15:
        time.sleep(left + 0.1)


@pytest.mark.django_db
@pytest.mark.usefixtures("_window_not_ending")
def test_changing_x_forwarded_for_does_not_escape_the_throttle(rates, settings):
    """With no proxies configured (the default), the socket address is the client, whatever the header says."""
    settings.SEARCH_ALLOW_ANONYMOUS = True
    client = APIClient()
    statuses = [
        client.get("/api/v1/ontology/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(1, 4)
    ]
    assert statuses == [200, 200, 429]
    refused = client.get("/api/v1/ontology/", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) <= 60


@pytest.mark.django_db
@pytest.mark.usefixtures("_window_not_ending")
def test_behind_one_proxy_only_the_address_it_wrote_counts(rates, settings):
    """nginx (one proxy) writes the address it saw last: what the client put before it changes nothing."""
    settings.SEARCH_ALLOW_ANONYMOUS = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()

    def get(forwarded: str) -> int:
        return client.get("/api/v1/ontology/", HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [get(f"10.9.9.{n}, 203.0.113.7") for n in range(3)] == [200, 200, 429]
    assert get("203.0.113.8") == 200  # another client behind the same proxy has its own count


@pytest.mark.django_db
@pytest.mark.usefixtures("_window_not_ending")
def test_the_garments_api_is_throttled_per_user(rates):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory.create()).key}")
    assert [api.get("/api/v1/garments/").status_code for _ in range(3)] == [200, 200, 429]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory.create()).key}")
    assert other.get("/api/v1/garments/").status_code == 200


DRIVER = """
import json, sys
import django
django.setup()
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from rest_framework.request import Request
from prethrift.throttling import AnonRateThrottle

class Throttle(AnonRateThrottle):
    rate = "5/hour"

decisions = []
for _ in range(int(sys.argv[1])):
    request = Request(RequestFactory().get("/", REMOTE_ADDR=sys.argv[2]))
    request.user = AnonymousUser()
    decisions.append(Throttle().allow_request(request, None))
print(json.dumps(decisions))
"""


def _redis_or_skip() -> None:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            pass
    except OSError:
        pytest.skip(f"no Redis on {REDIS_HOST}:{REDIS_PORT} (CI starts one)")


def test_two_processes_share_one_count_in_redis():
    """Two web processes (as two gunicorn workers are) allow the rate once between them, not once each."""
    _redis_or_skip()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    if throttling.seconds_left_in_window(3600) < 30:  # both processes must count in the same hour
        time.sleep(throttling.seconds_left_in_window(3600) + 0.1)
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="prethrift.settings.local", REDIS_URL=REDIS_URL)

    def worker(requests: int) -> list[bool]:
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(requests), address],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    assert worker(3) == [True, True, True]
    assert worker(3) == [True, True, False]  # 5/hour: the second process sees the first one's three


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _anonymous(address: str) -> Request:
    request = Request(RequestFactory().get("/", REMOTE_ADDR=address))
    request.user = AnonymousUser()
    return request


def test_a_throttle_store_that_is_down_keeps_limits_per_process(settings, monkeypatch, caplog):
    """Redis down: the throttle neither opens (DRF's cache read as empty) nor fails the request; it counts in
    this process, logs and counts the fallback."""
    # given a throttle store on a port where nothing listens
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": False, "SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        },
    }
    monkeypatch.setattr(throttling, "_store_down_until", 0.0)
    monkeypatch.setattr(throttling, "_last_logged", -1e9)
    if throttling.seconds_left_in_window(3600) < 30:
        time.sleep(throttling.seconds_left_in_window(3600) + 0.1)
    failures_before = throttling.store_errors._value.get()

    class Throttle(throttling.AnonRateThrottle):
        rate = "2/hour"

    # when one client makes three requests
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.1"
    with caplog.at_level(logging.ERROR, logger="prethrift.throttling"):
        decisions = [Throttle().allow_request(_anonymous(address), None) for _ in range(3)]

    # then the limit holds, and the outage is logged and counted
    assert decisions == [True, True, False]
    assert throttling.store_errors._value.get() > failures_before
    assert "throttle store" in caplog.text and "unavailable" in caplog.text
