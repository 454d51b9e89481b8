"""The embedded PostgreSQL 16 + pgvector (PyPI `pgserver`) used when DATABASE_URL is unset.

One server per data folder, shared by every process of the project: the web server, Celery
workers, management commands and tests. The first process that needs it starts it (pgserver
serialises start-up with an inter-process file lock); it then keeps running like any local
server until `manage.py embedded_db stop`, because reference counting across processes breaks
down exactly where it matters (runserver's reloader, forked workers, a `kill -9`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)
# pgserver computes its inter-process lock path at import; without XDG_RUNTIME_DIR platformdirs
# falls back to /tmp/runtime-<uid> (the same for every process) and warns about it.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

SUPERUSER = "postgres"
# Settings applied once after the first start; all reloadable without a restart. Sized for a
# developer machine: HNSW builds want maintenance memory, and tests open many connections.
SERVER_SETTINGS = {
    "maintenance_work_mem": "256MB",
    # 128MB (the default) held less than the HNSW index of a 100,000-garment catalogue (190 MB), so a
    # keyword search's heap reads evicted the graph and the next vector search read it back: vector
    # p50 21 ms under mixed traffic against 11 ms alone (docs/performance.md). Takes effect at the
    # next start (`make stop-db`): restarting here could cut off a process that connected meanwhile.
    "shared_buffers": "512MB",
    "max_wal_size": "1GB",
    "synchronous_commit": "off",  # a demo/test database: trade the last ms of durability for speed
}


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    pid: int

    def conninfo(self, dbname: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(host=str(self.socket_dir), user=SUPERUSER, dbname=dbname)


def _running(pgdata: Path) -> EmbeddedServer | None:
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # a postmaster.pid caught half-written
        return None
    if info is None or not info.is_running() or info.status != "ready" or info.socket_dir is None:
        return None
    return EmbeddedServer(pgdata=pgdata, socket_dir=info.socket_dir, pid=info.pid)


def status(pgdata: Path) -> EmbeddedServer | None:
    """The running server on this data folder, or None."""
    return _running(Path(pgdata).resolve())


def ensure_running(pgdata: Path) -> EmbeddedServer:
    """Start the server on `pgdata` unless it already runs; safe to call from many processes at once."""
    pgdata = Path(pgdata).resolve()
    server = _running(pgdata)
    if server is not None:
        return server
    import pgserver
    from pgserver.postgres_server import PostgresServer

    # pgserver creates the folder outside its lock with exist_ok=False: racing processes crash there.
    pgdata.mkdir(parents=True, exist_ok=True)
    first_start = not (pgdata / "PG_VERSION").exists()
    started = time.monotonic()
    handle = PostgresServer._instances.get(pgdata)  # pgserver keeps one handle per folder per process
    if handle is None:
        pgserver.get_server(pgdata, cleanup_mode=None)
    else:  # this process saw the server before it was stopped: restart through the same handle
        with handle._lock:
            handle.ensure_postgres_running()
    server = _running(pgdata)
    if server is None:
        raise RuntimeError(f"the embedded PostgreSQL on {pgdata} did not come up; see {pgdata / 'log'}")
    if first_start:
        _configure(server)
    logger.info("embedded PostgreSQL ready on %s in %.1fs", pgdata, time.monotonic() - started)
    return server


def _configure(server: EmbeddedServer) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def ensure_database(server: EmbeddedServer, dbname: str) -> None:
    """Create `dbname` if it is missing; concurrent callers are fine."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if exists:
            return
        # Another process may create it between our check and our CREATE.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def stop(pgdata: Path) -> bool:
    """Stop the server on `pgdata`; False when none was running."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made by a factory at import

    pgdata = Path(pgdata).resolve()
    server = _running(pgdata)
    if server is None:
        return False
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_system_user(), timeout=60)
    return True


def _system_user() -> str | None:
    """pgserver runs postgres as the OS user `pgserver` when we are root (postgres refuses root)."""
    return "pgserver" if os.geteuid() == 0 else None
