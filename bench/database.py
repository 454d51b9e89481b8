"""A database of the benchmark's own on the same server as the user's: never the user's data."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connections
from psycopg import sql

from prethrift import embedded_db

BENCH_PREFIX = "prethrift_bench_"


def bench_database_name(garments: int) -> str:
    return f"{BENCH_PREFIX}{garments}"


def use_database(name: str) -> None:
    """Point the default connection at `name`, creating it if missing (as the test runner switches to test_*)."""
    if not name.startswith(BENCH_PREFIX):  # a guard, so no bug here can write into the user's database
        raise ValueError(f"{name!r} is not a benchmark database")
    connection = connections["default"]
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string(cursor.connection))
    connection.settings_dict["NAME"] = name


def database_url() -> str:
    """A DATABASE_URL for the database the default connection now uses (for the HTTP server's processes)."""
    settings = connections["default"].settings_dict
    if settings["ENGINE"] == "prethrift.embedded_pg":
        server = embedded_db.ensure_running(settings["PGDATA"])
        host, port, user, password = str(server.socket_dir), "", embedded_db.SUPERUSER, ""
    else:
        host, port = settings.get("HOST") or "", str(settings.get("PORT") or "")
        user, password = settings.get("USER") or "", settings.get("PASSWORD") or ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    location = quote(host, safe="") + (f":{port}" if port else "")
    return f"postgres://{auth}@{location}/{settings['NAME']}"


def connection_kwargs() -> dict[str, object]:
    """psycopg connection arguments for the default database (for bare-SQL timings)."""
    connection = connections["default"]
    connection.ensure_connection()
    params = connection.get_connection_params()
    return {key: params[key] for key in ("host", "port", "user", "password", "dbname") if params.get(key)}
