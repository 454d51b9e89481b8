"""manage.py check_migration_locks: fail when a migration would hold a long lock on the garments
table and nobody has reviewed it (prethrift/migration_locks.py says what counts and how to review)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from prethrift import migration_locks


class Command(BaseCommand):
    help = "Fail on an unreviewed migration that takes a long lock on the garments table (read from its SQL)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--table", action="append", help="watch this table instead (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        watched = options["table"] or list(migration_locks.WATCHED_TABLES)
        try:
            results, stale = migration_locks.check_migrations(watched=watched)
        except (OSError, ValueError) as error:
            raise CommandError(f"{migration_locks.REVIEWS_FILE.name}: {error}") from error
        for result in results:
            if not result.findings:
                self.stdout.write(f"{result.name}: ok")
                continue
            label = f"reviewed ({result.review})" if result.review else "LONG LOCK, not reviewed"
            self.stdout.write(f"{result.name}: {label}")
            for finding in result.findings:
                self.stdout.write(f"    {finding}")
        unreviewed = [result.name for result in results if result.needs_review]
        self.stdout.write(f"{len(results)} migrations checked on {', '.join(watched)}: {len(unreviewed)} need review")
        problems = []
        if unreviewed:
            problems.append(
                f"{', '.join(unreviewed)} would hold a long lock on {', '.join(watched)}: avoid it (CONCURRENTLY, "
                f"NOT VALID, a default) or list it with a reason in prethrift/{migration_locks.REVIEWS_FILE.name}"
            )
        if stale:
            problems.append(f"prethrift/{migration_locks.REVIEWS_FILE.name} reviews migrations that do not exist: "
                            f"{', '.join(stale)}")  # fmt: skip
        if problems:
            raise CommandError("; ".join(problems))
