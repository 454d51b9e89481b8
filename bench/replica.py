"""HTTP throughput against one primary, then against the primary plus a streaming replica.

Both servers are built from the machine's PostgreSQL binaries on loopback (bench.pgcluster, as the
replica test does), so this needs pgvector installed in that PostgreSQL (CI's second leg has it).
Each measurement is a child `benchmark_search --http-only` with DATABASE_URL at the primary, the
second with DATABASE_REPLICA_URLS at the replica too: the product's own settings parsing, router
and lag guard are what is measured. On one machine the replica shares the cores with the primary,
so this shows what routing costs and that it holds under load; what a replica buys on a machine
of its own is the arithmetic in docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from bench.database import bench_database_name
from bench.pgcluster import PgCluster, unavailable_reason

# The embedded server's setting, so both rows are comparable with the single-server figures.
SERVER_SETTINGS = {"shared_buffers": "512MB", "max_connections": "100"}
CATCH_UP_TIMEOUT_SECONDS = 120


def _child(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "benchmark_search", *args], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"benchmark_search on the cluster failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout))


def _transactions(url: str) -> int:
    """Transactions the server has run in this database (pg_stat_database), to show where reads went."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        found = row.fetchone()
    return int(found[0]) if found else 0


def _wait_caught_up(primary_url: str, replica_url: str) -> float:
    """Seconds until the replica has replayed everything the primary had written when asked."""
    started = time.monotonic()
    with psycopg.connect(primary_url, autocommit=True) as primary:
        target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(replica_url, autocommit=True) as replica:
        while time.monotonic() - started < CATCH_UP_TIMEOUT_SECONDS:
            row = replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
            if row and row[0]:
                return round(time.monotonic() - started, 2)
            time.sleep(0.2)
    raise RuntimeError(f"the replica did not catch up within {CATCH_UP_TIMEOUT_SECONDS} s")


def run(*, garments: int, source: Path, queries: int, levels: list[int], seconds: float,
        say: Callable[[str], Any]) -> dict[str, Any]:  # fmt: skip
    reason = unavailable_reason()
    if reason:
        say(f"  replica benchmark skipped: {reason}")
        return {"skipped": reason}
    args = ["--garments", str(garments), "--source", str(source), "--queries", str(queries), "--http-only",
            "--concurrency", ",".join(map(str, levels)), "--http-seconds", str(seconds), "--json"]  # fmt: skip
    timeout = 600 + garments / 100 + 4 * seconds * len(levels)
    with PgCluster(settings=SERVER_SETTINGS) as cluster:
        cluster.start_primary()
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_REPLICA_URLS"}
        env.update({"DATABASE_URL": cluster.primary_url, "DJANGO_SETTINGS_MODULE": "prethrift.settings.local"})
        say("  primary alone (builds the catalogue there) ...")
        alone = _child(args, env, timeout)
        cluster.add_replica()  # after the catalogue is written: the base backup carries it
        cluster.dbname = bench_database_name(garments)
        lag = _wait_caught_up(cluster.primary_url, cluster.replica_urls[0])
        say("  primary and replica ...")
        servers = {"primary": cluster.primary_url, "replica": cluster.replica_urls[0]}
        before = {name: _transactions(url) for name, url in servers.items()}
        both = _child(args, {**env, "DATABASE_REPLICA_URLS": servers["replica"]}, timeout)
        served = {name: _transactions(url) - before[name] for name, url in servers.items()}
    return {
        "server": "the machine's PostgreSQL, primary and one pg_basebackup standby on loopback",
        "catch_up_seconds": lag,
        "primary_only": alone.get("http"),
        "primary_and_replica": both.get("http"),
        "transactions_during_the_second_run": served,
    }
