"""/healthz is liveness (the process answers, nothing else is touched); /readyz is readiness: the
database, pgvector, migrations, the cache (optional) and the query encoders, each with its status
and seconds, 200 or 503, bounded in time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client

from bench import pgcluster
from tests.faults.servers import Gunicorn, free_port, manage, production_env, request, wait_for

CHECKS = {"database", "pgvector", "migrations", "cache", "encoders"}


def _readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def _ready(client: Client) -> dict[str, Any]:
    """The first 200 body: the text encoder loads in the background after the first probe."""
    bodies: list[dict[str, Any]] = []

    def answered() -> bool:
        status, body = _readyz(client)
        bodies.append(body)
        return status == 200

    assert wait_for(answered, timeout=180), bodies[-1]
    return bodies[-1]


def test_healthz_touches_nothing_but_the_process(client):
    # no django_db mark: any database access here raises, so a healthz that touched it would be a 500
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_every_check_with_its_status_and_time(client):
    body = _ready(client)
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    for name, outcome in body["checks"].items():
        assert outcome["status"] == "ok", (name, outcome)
        assert outcome["seconds"] >= 0
    assert body["checks"]["pgvector"]["version"].startswith("0.")
    assert body["checks"]["encoders"]["spaces"]["text"] == "loaded"
    assert body["checks"]["cache"]["required"] is False


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_is_not_ready(client, caplog):
    _ready(client)
    # given the last garments migration is recorded as not applied (a rollback, or code ahead of the schema)
    (_, last), *_ = MigrationLoader(connection).graph.leaf_nodes("garments")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'garments' AND name = %s", [last])
    try:
        caplog.clear()
        status, body = _readyz(client)
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["migrations"]["status"] == "failing"
        assert body["checks"]["migrations"]["unapplied"] == [f"garments.{last}"]
        assert body["checks"]["database"]["status"] == "ok"
        # said once, at WARNING, naming the check; not also an ERROR line per probe from django.request
        assert [r.levelname for r in caplog.records if "not ready" in r.getMessage()] == ["WARNING"]
        assert not [r for r in caplog.records if r.name == "django.request" and r.levelno >= logging.ERROR]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('garments', %s, now())", [last])
    assert _readyz(client)[0] == 200


def _test_database_url() -> str:
    """The test database's address as this process connected to it (the embedded server's socket included)."""
    connection.ensure_connection()
    parameters = connection.connection.info.get_parameters()
    return psycopg.conninfo.make_conninfo(**parameters, password=connection.settings_dict["PASSWORD"] or None)


@pytest.mark.django_db(transaction=True)
def test_a_check_that_hangs_is_a_timeout_not_a_hung_probe(client, settings):
    _ready(client)
    settings.READINESS_TIMEOUT = 2.0  # the default: room for the other checks on a busy machine
    # given another session holds django_migrations locked, so the migrations check waits on it
    with psycopg.connect(_test_database_url()) as holder:
        holder.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
        # when probed, then the probe answers 503 with that check timed out and the others reported
        status, body = _readyz(client)
        assert status == 503
        assert body["checks"]["migrations"]["status"] == "timeout"
        assert body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["encoders"]["status"] == "ok"
        # and a second probe while it still hangs starts no second check behind the same lock
        status, body = _readyz(client)
        assert status == 503
        assert body["checks"]["migrations"] == {"status": "timeout", "error": "still running since an earlier probe"}
        holder.rollback()
    settings.READINESS_TIMEOUT = 10
    assert wait_for(lambda: _readyz(client)[0] == 200, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_a_cache_that_is_down_is_reported_and_fails_readiness_only_when_required(client, settings):
    _ready(client)
    # given a Redis cache on a port where nothing listens
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    status, body = _readyz(client)
    assert body["checks"]["cache"]["status"] == "failing"
    assert status == 200, body  # search works without the cache, only slower
    settings.READINESS_REQUIRE_CACHE = True
    status, body = _readyz(client)
    assert status == 503 and body["checks"]["cache"] == {**body["checks"]["cache"], "required": True}


def test_readyz_needs_no_token_and_is_not_throttled(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"}}  # fmt: skip
    for _ in range(3):
        status, body = _readyz(client)
        assert status in (200, 503) and "checks" in body  # never 401 or 429


# --- against a real PostgreSQL that stops and starts, under gunicorn ------------------------------------------


@pytest.fixture
def cluster() -> Iterator[pgcluster.PgCluster]:
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster here: {reason}")
    with pgcluster.PgCluster(settings={"fsync": "off", "full_page_writes": "off"}) as server:
        server.start_primary()
        server.create_database("prethrift_ready")
        yield server


def _pg_ctl(cluster: pgcluster.PgCluster, *args: str) -> None:
    cluster._run("pg_ctl", "-D", str(cluster.root / "primary"), *args)


@pytest.mark.faults
@pytest.mark.slow
def test_readyz_is_503_while_the_database_is_down_and_200_when_back_without_a_restart(
    cluster: pgcluster.PgCluster, tmp_path: Path
) -> None:
    # given gunicorn with production settings on a migrated database
    env = production_env(database_url=cluster.primary_url, port=free_port(), PRELOAD_QUERY_ENCODERS="true")
    manage("migrate", "--no-input", env={"DATABASE_URL": cluster.primary_url, "PATH": env["PATH"]})
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        workers = server.worker_pids()
        assert wait_for(lambda: request(server.port, "/readyz").status == 200, timeout=120), server.log()[-3000:]
        healthy = request(server.port, "/readyz").json()
        print("readyz, healthy:", healthy)
        assert healthy["status"] == "ok" and set(healthy["checks"]) == CHECKS
        # when PostgreSQL stops
        _pg_ctl(cluster, "-m", "fast", "-w", "stop")
        # then /readyz is 503 naming the database, and /healthz (liveness) still 200: no restart wanted
        down = request(server.port, "/readyz", timeout=15)
        print("readyz, database down:", down.json())
        assert down.status == 503, down.body
        checks = down.json()["checks"]
        assert checks["database"]["status"] == "failing" and checks["database"]["error"] == "OperationalError"
        assert checks["migrations"]["status"] == "skipped" and checks["encoders"]["status"] == "ok"
        assert request(server.port, "/healthz", timeout=15).status == 200
        # when it starts again, then the same worker is ready again
        _pg_ctl(cluster, "-l", str(cluster.root / "primary.log"), "-w", "start")
        assert wait_for(lambda: request(server.port, "/readyz").status == 200, timeout=60)
        assert server.worker_pids() == workers, "gunicorn restarted its worker"
