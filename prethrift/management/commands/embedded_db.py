"""manage.py embedded_db start|stop|status: the embedded PostgreSQL used when DATABASE_URL is unset."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from prethrift import embedded_db
from prethrift.db_features import database_features


class Command(BaseCommand):
    help = "Start, stop or describe the embedded PostgreSQL (only used when DATABASE_URL is unset)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, **options: Any) -> None:
        pgdata = Path(settings.EMBEDDED_PGDATA)
        action = options["action"]
        if action == "stop":
            stopped = embedded_db.stop(pgdata)
            self.stdout.write(f"stopped the embedded PostgreSQL on {pgdata}" if stopped else "it was not running")
            return
        if action == "start":
            server = embedded_db.ensure_running(pgdata)
            self.stdout.write(f"running: pid {server.pid}, socket {server.socket_dir}")
            return
        running = embedded_db.status(pgdata)
        if running is None:
            self.stdout.write(f"not running (data folder {pgdata})")
        else:
            self.stdout.write(f"running: pid {running.pid}, socket {running.socket_dir}, data {pgdata}")
        if settings.DATABASES["default"]["ENGINE"] == "prethrift.embedded_pg" and running is None:
            return
        try:
            features = database_features()
        except Exception as exc:  # report, don't crash: this is a diagnostic command
            raise CommandError(f"cannot reach the configured database: {exc}") from exc
        self.stdout.write(f"database in use: {features.describe()}")
