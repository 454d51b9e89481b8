"""PostgreSQL restarted under load: while it is down every request answers 503 service_unavailable
(the stable error body, Retry-After) instead of a 500 or a hang, /readyz says 503 (and /healthz, liveness,
still 200: tests/ops/test_health.py), and when it is back requests succeed again from the same gunicorn,
without a restart."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import pgcluster
from tests.faults.servers import Gunicorn, create_token, free_port, manage, production_env, request, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def cluster() -> Iterator[pgcluster.PgCluster]:
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster here: {reason}")
    with pgcluster.PgCluster(settings={"fsync": "off", "full_page_writes": "off"}) as server:
        server.start_primary()
        server.create_database("prethrift_fault")
        yield server


def _stop(cluster: pgcluster.PgCluster) -> None:
    cluster._run("pg_ctl", "-D", str(cluster.root / "primary"), "-m", "fast", "-w", "stop")


def _start(cluster: pgcluster.PgCluster) -> None:
    cluster._run("pg_ctl", "-D", str(cluster.root / "primary"), "-l", str(cluster.root / "primary.log"), "-w", "start")


def _assert_service_unavailable(response) -> None:
    assert response.status == 503, (response.status, response.body[:500])
    assert response.json()["error"]["code"] == "service_unavailable"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert int(response.headers["Retry-After"]) > 0


def test_requests_answer_503_while_the_database_is_down_and_recover_without_a_restart(
    cluster: pgcluster.PgCluster, tmp_path: Path
) -> None:
    # given a migrated database, a reader's token, and gunicorn with production settings on it
    env = production_env(database_url=cluster.primary_url, port=free_port(), PRELOAD_QUERY_ENCODERS="false")
    manage("migrate", "--no-input", env={"DATABASE_URL": cluster.primary_url, "PATH": env["PATH"]})
    token = create_token(env={"DATABASE_URL": cluster.primary_url, "PATH": env["PATH"]}, username="reader",
                         staff=False)  # fmt: skip
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        workers = server.worker_pids()
        assert request(server.port, "/api/v1/garments/", token=token).status == 200
        # and a client that keeps asking throughout
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                try:
                    statuses[request(server.port, "/api/v1/garments/", token=token, timeout=30).status] += 1
                except OSError as error:  # a refused or dropped connection: the server itself failed
                    statuses[type(error).__name__] += 1  # type: ignore[index]

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            # when PostgreSQL stops
            _stop(cluster)
            # then requests fail fast and clearly, health included
            _assert_service_unavailable(request(server.port, "/api/v1/garments/", token=token, timeout=15))
            assert request(server.port, "/readyz", timeout=15).status == 503
            assert wait_for(lambda: statuses[503] >= 3, timeout=60)
            # when it starts again, then the same server answers again
            _start(cluster)
            assert wait_for(lambda: request(server.port, "/readyz").status == 200, timeout=60)
            before = statuses[200]
            assert wait_for(lambda: statuses[200] > before + 3, timeout=60)
        finally:
            stop.set()
            loader.join(timeout=60)
        assert request(server.port, "/api/v1/garments/", token=token).status == 200
        assert server.worker_pids() == workers, "gunicorn restarted its worker"
        # and nothing in between was a 500 or a dropped connection
        assert set(statuses) <= {200, 503}, (statuses, server.log()[-4000:])
