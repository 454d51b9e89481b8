"""The test database as a libpq URL, and the PostgreSQL client binaries that match its server.

The deploy scripts read DATABASE_URL and take pg_dump from PG_BIN; a test points them at the
database pytest-django made, on either CI leg: the embedded PostgreSQL 16 (pgserver ships its own
client binaries) or the system server (Debian keeps one bin folder per major).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.db import connection
from psycopg import sql

from prethrift import embedded_db

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "scripts"
DEBIAN_POSTGRES = Path("/usr/lib/postgresql")


def is_embedded() -> bool:
    return str(connection.settings_dict["ENGINE"]) == "prethrift.embedded_pg"


def database_url(name: str | None = None) -> str:
    """A URL of the test's database (or of `name` on its server) that libpq and DATABASE_URL both read:
    a socket folder is the percent-encoded host, and there is no query string (the guide cuts the name off)."""
    settings = connection.settings_dict
    dbname = quote(name or str(settings["NAME"]))
    if is_embedded():
        server = embedded_db.ensure_running(Path(settings["PGDATA"]))
        return f"postgres://{embedded_db.SUPERUSER}@{quote(str(server.socket_dir), safe='')}/{dbname}"
    user = quote(str(settings.get("USER") or "postgres"))
    password = f":{quote(str(settings['PASSWORD']))}" if settings.get("PASSWORD") else ""
    host = quote(str(settings.get("HOST") or "127.0.0.1"), safe="")
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{dbname}"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """An empty database of this test's own on the test database's server; dropped afterwards."""
    name = f"prethrift_ops_{secrets.token_hex(6)}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def pg_bin() -> str:
    """The folder of pg_dump/pg_restore/psql of the server's own major (pg_dump refuses a newer server)."""
    if is_embedded():
        import pgserver

        return str(Path(pgserver.__file__).parent / "pginstall" / "bin")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    folder = DEBIAN_POSTGRES / str(major) / "bin"
    if (folder / "pg_dump").is_file():
        return str(folder)
    return str(Path(subprocess.check_output(["which", "pg_dump"], text=True).strip()).parent)


def script_env(**extra: str) -> dict[str, str]:
    """The environment the deploy scripts run with: the test database and matching binaries."""
    env = {key: value for key, value in os.environ.items() if key not in ("CONFIRM", "BACKUP_DIR", "PG_BIN")}
    env.update({"DATABASE_URL": database_url(), "PG_BIN": pg_bin()})
    env.update(extra)
    return env


def run_script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
