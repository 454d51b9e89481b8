"""Read replicas for search: settings, routing, the lag guard, read-your-writes, and a real streaming replica."""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from prometheus_client import REGISTRY

from bench import pgcluster
from garments.models import Garment
from prethrift import replicas
from prethrift.replicas import (
    COOKIE_NAME,
    COOKIE_SALT,
    PrimaryRouter,
    ReadYourWritesMiddleware,
    mark_written,
    pinned_to_primary,
    replay_lag,
    search_database,
)
from tests.factories import GarmentFactory

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "databases": {alias: {key: config.get(key) for key in ("ENGINE", "HOST", "PORT", "NAME", "OPTIONS", "TEST")}
                  for alias, config in settings.DATABASES.items()},
    "limits": [settings.DATABASE_REPLICA_MAX_LAG, settings.DATABASE_REPLICA_STICKY_SECONDS,
               settings.DATABASE_REPLICA_CHECK_SECONDS],
    "routers": settings.DATABASE_ROUTERS,
    "middleware": settings.MIDDLEWARE,
}))
"""


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_") and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(env, DJANGO_SETTINGS_MODULE="prethrift.settings.local")
    return subprocess.run([sys.executable, "-c", SETTINGS_PROBE], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def reads(alias: str) -> float:
    return REGISTRY.get_sample_value("search_database_total", {"database": alias}) or 0.0


def isolated(function: Any, *args: Any) -> Any:
    """Run in a copy of the context: a write marked there must not make later tests read the primary."""
    return contextvars.copy_context().run(function, *args)


@pytest.fixture
def add_replica():
    """Register database aliases for the test, and remove them (and their connections) afterwards."""
    added: list[str] = []

    def add(alias: str, **overrides: Any) -> str:
        config = {**copy.deepcopy(connections["default"].settings_dict), **overrides}
        config["TEST"] = {**config["TEST"], "MIRROR": "default"}
        connections.settings[alias] = config
        added.append(alias)
        return alias

    replicas.reset_health()
    yield add
    for alias in added:
        connections[alias].close()
        del connections[alias]
        connections.settings.pop(alias, None)
    replicas.reset_health()


@pytest.fixture
def healthy_replica(django_db_setup, django_db_blocker, add_replica):
    """replica_0: a second connection to the test database, which is not in recovery (a promoted replica).

    Outside a test transaction (which would send every search to the primary, and which Django's test
    case would not let a second alias join): tests that use it roll back what they write themselves.
    """
    with django_db_blocker.unblock():
        yield add_replica("replica_0")


# --- settings and routing ----------------------------------------------------------------------


def test_replica_urls_become_aliases_that_mirror_the_primary_in_tests():
    result = run_settings(
        {
            "DATABASE_URL": "postgres://shop@primary.internal/catalogue",
            "DATABASE_REPLICA_URLS": "postgres://shop@replica-a.internal/catalogue,"
            "postgres://shop@replica-b.internal:5433/catalogue?connect_timeout=5",
        }
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    databases = values["databases"]
    assert list(databases) == ["default", "replica_0", "replica_1"]
    assert (databases["replica_0"]["HOST"], databases["replica_0"]["NAME"]) == ("replica-a.internal", "catalogue")
    assert (databases["replica_1"]["HOST"], databases["replica_1"]["PORT"]) == ("replica-b.internal", 5433)
    assert {databases[alias]["ENGINE"] for alias in databases} == {"django.db.backends.postgresql"}
    assert databases["replica_0"]["TEST"]["MIRROR"] == databases["replica_1"]["TEST"]["MIRROR"] == "default"
    assert databases["replica_0"]["OPTIONS"]["connect_timeout"] == 2  # ours, unless the URL says otherwise
    assert str(databases["replica_1"]["OPTIONS"]["connect_timeout"]) == "5"
    assert (databases["default"].get("TEST") or {}).get("MIRROR") is None
    assert values["limits"] == [5.0, 10.0, 2.0]
    assert values["routers"] == ["prethrift.replicas.PrimaryRouter"]
    middleware = values["middleware"]
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert middleware[auth + 1] == "prethrift.replicas.ReadYourWritesMiddleware"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_REPLICA_URLS": "mysql://u:p@replica/db"}, "DATABASE_REPLICA_URLS must be PostgreSQL"),
        ({"DATABASE_REPLICA_MAX_LAG": "-1"}, "must be >= 0"),
    ],
)
def test_bad_replica_settings_stop_start_up(env, message):
    result = run_settings({"DATABASE_URL": "postgres://shop@primary.internal/catalogue", **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_router_keeps_the_orm_and_migrations_on_the_primary():
    router = PrimaryRouter()
    assert router.db_for_read(Garment) == router.db_for_write(Garment) == "default"
    assert router.allow_migrate("default", "garments") is True
    assert router.allow_migrate("replica_0", "garments") is False


@pytest.mark.parametrize(
    ("row", "lag"),
    [
        ((True, True, 3600.0), 0.0),  # caught up with an idle primary: the last commit is old, nothing is missing
        ((True, False, 2.5), 2.5),  # behind: the age of the last replayed commit
        ((True, False, None), None),  # behind, and nothing replayed yet: unknown
        ((True, None, 1.0), 1.0),  # not streaming (WAL from an archive): the age of the last replayed commit
        ((False, None, None), 0.0),  # promoted: it is a primary now
        ((True, False, -0.2), 0.0),  # clocks a little apart
    ],
)
def test_replay_lag_from_the_probe_row(row, lag):
    assert replay_lag(*row) == lag


# --- routing searches --------------------------------------------------------------------------


def test_without_replicas_searches_read_the_primary():
    before = reads("default")
    assert replicas.replica_aliases() == []
    assert search_database() == "default"
    assert reads("default") == before + 1


def test_an_unreachable_replica_is_skipped_without_raising(add_replica, django_db_blocker, settings, caplog):
    # given: a replica on a port nobody listens on, probed on every search
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0
    add_replica("replica_0", ENGINE="django.db.backends.postgresql", HOST="127.0.0.1", PORT=pgcluster.free_port(),
                NAME="prethrift", OPTIONS={"connect_timeout": 2})  # fmt: skip
    # when
    with django_db_blocker.unblock(), caplog.at_level(logging.INFO, logger="prethrift.replicas"):
        chosen = [search_database() for _ in range(3)]
    # then: the primary, and one warning for the one change of state
    assert chosen == ["default"] * 3
    messages = [record.getMessage() for record in caplog.records if record.name == "prethrift.replicas"]
    assert len(messages) == 1
    assert messages[0].startswith("read replica replica_0 is unreachable (OperationalError: ")
    assert REGISTRY.get_sample_value("database_replica_healthy", {"replica": "replica_0"}) == 0
    assert math.isnan(REGISTRY.get_sample_value("database_replica_lag_seconds", {"replica": "replica_0"}) or 0.0)


def test_a_healthy_replica_serves_searches_unless_pinned_or_just_written(healthy_replica):
    before = reads(healthy_replica)
    assert search_database() == healthy_replica
    assert reads(healthy_replica) == before + 1
    assert REGISTRY.get_sample_value("database_replica_lag_seconds", {"replica": healthy_replica}) == 0
    with pinned_to_primary():
        assert search_database() == "default"
    assert search_database() == healthy_replica

    def write_then_search() -> str:
        mark_written()
        return search_database()

    assert isolated(write_then_search) == "default"
    assert search_database() == healthy_replica  # the write was another context's


def test_a_transaction_on_the_primary_reads_the_primary(healthy_replica):
    with transaction.atomic():
        assert search_database() == "default"


def test_searches_take_turns_among_healthy_replicas(healthy_replica, add_replica):
    second = add_replica("replica_1")
    assert sorted(search_database() for _ in range(4)) == [healthy_replica] * 2 + [second] * 2


def test_a_replica_further_behind_than_the_limit_is_skipped(healthy_replica, settings, monkeypatch):
    settings.DATABASE_REPLICA_MAX_LAG = 1.0
    monkeypatch.setattr(replicas, "_probe", lambda alias: (1.5, None))
    assert search_database() == "default"
    assert REGISTRY.get_sample_value("database_replica_lag_seconds", {"replica": healthy_replica}) == 1.5
    replicas.reset_health()
    monkeypatch.setattr(replicas, "_probe", lambda alias: (0.5, None))
    assert search_database() == healthy_replica


# --- read-your-writes across requests ----------------------------------------------------------


class Recorder:
    """A view that may write, and records which database a search would read before and after."""

    def __init__(self, *, write: bool = False, status: int = 200) -> None:
        self.write, self.status = write, status
        self.seen: dict[str, str] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.seen["before"] = search_database()
        if self.write:
            with transaction.atomic():  # a real INSERT on the primary, rolled back: the test database stays clean
                GarmentFactory()
                transaction.set_rollback(True)
        self.seen["after"] = search_database()
        return HttpResponse(status=self.status)


def test_a_write_pins_its_client_to_the_primary_through_a_signed_cookie(healthy_replica, settings):
    settings.SESSION_COOKIE_SECURE = True
    requests = RequestFactory()
    # when: a POST that writes
    writer = Recorder(write=True)
    response = isolated(ReadYourWritesMiddleware(writer), requests.post("/api/v1/garments/"))
    # then: its own later reads see the write, and it leaves with the cookie
    assert writer.seen == {"before": healthy_replica, "after": "default"}
    cookie = response.cookies[COOKIE_NAME]
    assert (cookie["max-age"], cookie["httponly"], cookie["samesite"], cookie["secure"]) == (10, True, "Lax", True)
    # when: the next request carries it
    reader = Recorder()
    request = requests.get("/api/v1/search/?q=coat")
    request.COOKIES[COOKIE_NAME] = cookie.value
    assert abs(float(request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT) or "") - time.time()) < 5  # its write
    isolated(ReadYourWritesMiddleware(reader), request)
    # then
    assert reader.seen == {"before": "default", "after": "default"}
    assert search_database() == healthy_replica  # outside that request


def signed(value: str, *, salt: str = COOKIE_SALT) -> str:
    response = HttpResponse()
    response.set_signed_cookie(COOKIE_NAME, value, salt=salt)
    return response.cookies[COOKIE_NAME].value


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(lambda: f"{time.time():.3f}", id="unsigned"),
        pytest.param(lambda: signed(f"{time.time():.3f}", salt="another purpose"), id="another-salt"),
        pytest.param(lambda: signed("1.0").replace("1.0", f"{time.time():.3f}", 1), id="value-swapped"),
        pytest.param(lambda: signed(f"{time.time() - 60:.3f}"), id="an-old-write"),
        pytest.param(lambda: signed("soon"), id="not-a-time"),
    ],
)
def test_a_forged_or_stale_cookie_is_ignored(healthy_replica, cookie):
    reader = Recorder()
    request = RequestFactory().get("/api/v1/search/?q=coat")
    request.COOKIES[COOKIE_NAME] = cookie()
    isolated(ReadYourWritesMiddleware(reader), request)
    assert reader.seen["before"] == healthy_replica


@pytest.mark.parametrize(
    ("method", "recorder"),
    [
        pytest.param("post", Recorder(), id="a-search-by-post-writes-nothing"),
        pytest.param("delete", Recorder(write=True, status=400), id="a-failed-request"),
        pytest.param("get", Recorder(write=True), id="a-safe-method"),
    ],
)
def test_no_cookie_without_a_successful_write(healthy_replica, method, recorder):
    response = isolated(ReadYourWritesMiddleware(recorder), getattr(RequestFactory(), method)("/api/v1/search/"))
    assert COOKIE_NAME not in response.cookies


def test_no_cookie_work_without_replicas(db):
    response = isolated(ReadYourWritesMiddleware(Recorder(write=True)), RequestFactory().post("/api/v1/garments/"))
    assert COOKIE_NAME not in response.cookies


# --- a real streaming replica ------------------------------------------------------------------


@pytest.mark.slow
def test_searches_read_a_real_streaming_replica_and_fall_back_when_it_lags(tmp_path):
    reason = pgcluster.unavailable_reason()
    if reason:
        print(f"skipping the streaming-replica test: {reason}")
        pytest.skip(reason)
    # given: a primary and a hot standby on the machine's PostgreSQL, and the product migrated onto them
    with pgcluster.PgCluster(settings={"fsync": "off"}) as cluster:
        cluster.start_primary()
        cluster.create_database("prethrift")
        replica = cluster.add_replica()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        env.update(
            DATABASE_URL=cluster.primary_url,
            DATABASE_REPLICA_URLS=replica,
            DATABASE_REPLICA_MAX_LAG="1",
            DATABASE_REPLICA_CHECK_SECONDS="0.1",
            DJANGO_SETTINGS_MODULE="prethrift.settings.local",
            PRETHRIFT_VAR_DIR=str(tmp_path),
            SEARCH_FACETS_CACHE_TTL="0",
            HF_HUB_OFFLINE="1",
            EMBEDDINGS_ENQUEUE_ON_SAVE="false",
            ONTOLOGY_EXTRACT_ON_SAVE="false",
        )

        def run(*args: str) -> str:
            done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)  # fmt: skip
            assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{cluster.log('replica_0')[-2000:]}"
            return done.stdout

        run("manage.py", "migrate", "--no-input")
        # when
        output = run("-m", "tests.platform.replica_scenario")
    observed = json.loads(output.strip().splitlines()[-1])
    print(json.dumps(observed))
    # then: the search read the replica and found the garments written to the primary
    assert observed["aliases"] == ["replica_0"] and observed["embedded"] == 3
    assert observed["search_reads"] == {"default": 0, "replica_0": 1}
    assert observed["hits"][0] == "rr-coat" and set(observed["hits"]) <= {"rr-coat", "rr-jeans", "rr-dress"}
    assert observed["hit_databases"] == ["replica_0"]
    assert (observed["healthy"], observed["pinned"], observed["after_pinned"]) == ("replica_0", "default", "replica_0")
    # with replay paused and the primary ahead, the lag guard sent searches to the primary...
    assert observed["lagging"] == "default" and observed["late_on_replica"] is False
    assert observed["lagging_after_s"] <= observed["max_lag"] + 3
    # ...until the replica caught up again
    assert observed["resumed"] == "replica_0" and observed["late_on_replica_after_resume"] is True
