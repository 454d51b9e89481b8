"""The PostgreSQL backend, pointed at the embedded server, which it starts on first connection.

Starting lazily (not in settings) keeps `manage.py --help`, mypy's Django plugin and ruff from
booting a database; every process that does connect gets the one shared server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base as postgresql

from prethrift import embedded_db

_databases_ensured: set[tuple[Path, str]] = set()


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        pgdata = Path(self.settings_dict["PGDATA"])
        server = embedded_db.ensure_running(pgdata)  # reads postmaster.pid: microseconds when it runs
        dbname = self.settings_dict["NAME"]
        # The test runner connects to "postgres" to create test_<name> itself: leave that to it.
        if dbname and dbname != "postgres" and (pgdata, dbname) not in _databases_ensured:
            embedded_db.ensure_database(server, dbname)
            _databases_ensured.add((pgdata, dbname))
        original = self.settings_dict
        self.settings_dict = {**original, "HOST": str(server.socket_dir), "PORT": "", "USER": embedded_db.SUPERUSER}
        try:
            return super().get_connection_params()
        finally:
            self.settings_dict = original
