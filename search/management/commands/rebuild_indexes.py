"""manage.py rebuild_indexes: rebuild the search indexes without ever leaving search without one.

After a large backfill an HNSW graph carries the dead tuples of every updated row (recall and speed
suffer, docs/search.md). Each index is built afresh beside the old one (CREATE INDEX CONCURRENTLY
under a temporary name), the names are swapped in one short transaction, and the old one is dropped
CONCURRENTLY (search/indexes.py). --m and --ef-construction rebuild HNSW indexes with other build
parameters; --check reports validity, size and use; every run first drops what an interrupted
build left behind (invalid indexes under our temporary names).
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from garments.managers import EMBEDDING_SPACES
from search import indexes


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _options(options: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(options.items()))


class Command(BaseCommand):
    help = (
        "Rebuild the vector, full-text and trigram indexes (build beside, swap names, drop the old); "
        "--check reports their state; optionally VACUUM ANALYZE the table."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--index", action="append", choices=indexes.SEARCH_INDEXES, help="only these (repeatable)")
        parser.add_argument("--space", action="append", choices=EMBEDDING_SPACES,
                            help="only this space's HNSW index (repeatable)")  # fmt: skip
        parser.add_argument("--m", type=int, default=None, help="HNSW: links per node (default: the current index's)")
        parser.add_argument("--ef-construction", type=int, default=None,
                            help="HNSW: candidate list while building (default: the current index's)")  # fmt: skip
        parser.add_argument("--check", action="store_true",
                            help="report validity, size and use; fail on an invalid index or a leftover")  # fmt: skip
        parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE the garments table afterwards")
        parser.add_argument("--dry-run", action="store_true", help="list the indexes and their sizes")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.in_atomic_block:
            raise CommandError("rebuild_indexes cannot run inside a transaction (CREATE INDEX CONCURRENTLY)")
        if options["check"]:
            self._check()
            return
        m, ef_construction = options["m"], options["ef_construction"]
        try:
            indexes.validate_hnsw_options(m, ef_construction)
        except indexes.IndexMaintenanceError as error:
            raise CommandError(str(error)) from error
        wanted = self._wanted(options)
        states = indexes.index_states()
        if options["dry_run"]:
            for name in wanted:
                state = states.get(name)
                self.stdout.write(f"{name}: {_mb(state.size_bytes)}" if state else f"{name}: missing")
            return
        for leftover in indexes.clean_leftovers(states):
            condition = "valid" if leftover.valid else "INVALID"
            self.stdout.write(f"{leftover.name}: dropped ({condition} leftover of an interrupted build)")
        trigram = indexes.has_pg_trgm()
        for name in wanted:
            if name in indexes.TRIGRAM_INDEXES and not trigram:
                self.stdout.write(f"{name}: not on this server (pg_trgm indexes exist only where pg_trgm does)")
                continue
            try:
                rebuilt = indexes.index_rebuild(name=name, m=m, ef_construction=ef_construction)
            except (indexes.IndexMaintenanceError, DatabaseError) as error:
                raise CommandError(f"{name}: {error}".strip()) from error
            parameters = f" ({_options(rebuilt.options)})" if rebuilt.options else ""
            self.stdout.write(
                f"{name}: rebuilt in {rebuilt.seconds:.1f}s{parameters}, "
                f"{_mb(rebuilt.size_before)} -> {_mb(rebuilt.size_after)}"
            )
        if options["vacuum"]:
            self._vacuum()

    def _wanted(self, options: dict[str, Any]) -> list[str]:
        hnsw = set(indexes.HNSW_BY_SPACE.values())
        chosen = set(options["index"] or []) | {indexes.HNSW_BY_SPACE[space] for space in options["space"] or []}
        tuning = options["m"] is not None or options["ef_construction"] is not None
        if not chosen:
            chosen = hnsw if tuning else set(indexes.SEARCH_INDEXES)
        if tuning and chosen - hnsw:
            raise CommandError(f"--m and --ef-construction apply to HNSW indexes only, not {sorted(chosen - hnsw)}")
        return [name for name in indexes.SEARCH_INDEXES if name in chosen]

    def _check(self) -> None:
        states = indexes.index_states()
        trigram = indexes.has_pg_trgm()
        problems = []
        for name in indexes.SEARCH_INDEXES:
            state = states.get(name)
            if state is None:
                if name in indexes.TRIGRAM_INDEXES and not trigram:
                    self.stdout.write(f"{name}: not on this server (no pg_trgm)")
                else:
                    self.stdout.write(f"{name}: MISSING")
                    problems.append(name)
                continue
            if not state.valid:
                problems.append(name)
            parameters = f", {_options(state.options)}" if state.options else ""
            self.stdout.write(
                f"{name}: {'valid' if state.valid else 'INVALID'}, {_mb(state.size_bytes)}{parameters}, "
                f"{state.scans} scans, {state.tuples_read} tuples read, {state.tuples_fetched} fetched"
            )
        for state in states.values():
            if state.is_leftover:
                problems.append(state.name)
                self.stdout.write(
                    f"{state.name}: {'valid' if state.valid else 'INVALID'} leftover of an interrupted build, "
                    f"{_mb(state.size_bytes)} (rebuild_indexes drops it)"
                )
        if problems:
            raise CommandError(f"{len(problems)} index problem(s): {', '.join(problems)}")

    def _vacuum(self) -> None:
        started = time.monotonic()
        indexes.vacuum_analyze()
        self.stdout.write(f"{indexes.TABLE}: vacuumed and analysed in {time.monotonic() - started:.1f}s")
