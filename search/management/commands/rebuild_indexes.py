"""manage.py rebuild_indexes: rebuild the search indexes without blocking writes, and vacuum.

After a large backfill, an HNSW graph carries the dead tuples of every updated row (the planner's
recall and speed suffer, docs/search.md); REINDEX ... CONCURRENTLY builds a fresh copy beside the
old one and swaps them, so searches and writes go on meanwhile.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql

from garments.models import Garment

SEARCH_INDEXES = (
    "garment_image_vec_hnsw",
    "garment_text_vec_hnsw",
    "garment_openai_vec_hnsw",
    "garment_search_vector_gin",
    "garment_title_trgm",
    "garment_brand_trgm",
)


def _size(cursor: Any, name: str) -> int | None:
    cursor.execute("SELECT pg_relation_size(to_regclass(%s))", [name])
    row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else None


class Command(BaseCommand):
    help = "Rebuild the vector, full-text and trigram indexes CONCURRENTLY; optionally VACUUM ANALYZE the table."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--index", action="append", choices=SEARCH_INDEXES, help="only these (repeatable)")
        parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE the garments table afterwards")
        parser.add_argument("--dry-run", action="store_true", help="list the indexes and their sizes")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.in_atomic_block:
            raise CommandError("rebuild_indexes cannot run inside a transaction (REINDEX CONCURRENTLY)")
        table = Garment._meta.db_table
        wanted = options["index"] or list(SEARCH_INDEXES)
        with connection.cursor() as cursor:
            present = [name for name in wanted if _size(cursor, name) is not None]
            for name in sorted(set(wanted) - set(present)):
                self.stdout.write(f"{name}: not on this server (pg_trgm indexes exist only where pg_trgm does)")
            for name in present:
                before = _size(cursor, name) or 0
                if options["dry_run"]:
                    self.stdout.write(f"{name}: {before / 1e6:.1f} MB")
                    continue
                started = time.monotonic()
                cursor.execute(
                    sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier(name)).as_string(cursor.connection)
                )
                seconds, after = time.monotonic() - started, _size(cursor, name) or 0
                self.stdout.write(f"{name}: rebuilt in {seconds:.1f}s, {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
            if options["vacuum"] and not options["dry_run"]:
                started = time.monotonic()
                cursor.execute(
                    sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)).as_string(cursor.connection)
                )
                self.stdout.write(f"{table}: vacuumed and analysed in {time.monotonic() - started:.1f}s")
