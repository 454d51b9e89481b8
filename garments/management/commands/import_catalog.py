"""manage.py import_catalog PATH: import garments from a generic or Myntra-format CSV."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from garments.catalog_import import CatalogFormatError, RowProblem, catalog_import

# Problems listed in full up to this many per kind; the rest are counted (all of them with -v 2).
SHOWN_PROBLEMS = 20


def _count_rows(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except OSError:
        return None


class Command(BaseCommand):
    help = (
        "Import garments from a CSV catalogue, idempotent by sku. Formats: generic (sku,title,description,brand,"
        "price,currency,status,image and any attribute columns; see docs/catalog-format.md) and Myntra "
        "(styles.csv: id,...,productDisplayName)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path, help="CSV file to import")
        parser.add_argument("--images", type=Path, default=None, help="folder with the photos (Myntra: <id>.jpg)")
        parser.add_argument("--format", choices=["auto", "generic", "myntra"], default="auto")
        parser.add_argument("--limit", type=int, default=None, help="import at most this many rows")
        parser.add_argument("--dry-run", action="store_true", help="validate and count; write nothing")
        parser.add_argument(
            "--synthesize-missing",
            action="store_true",
            help="fill price, size and condition deterministically from the sku (Myntra data has none)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        total = _count_rows(path) if path.is_file() else None
        if total is not None and limit is not None:
            total = min(total, limit)
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        bar = tqdm(total=total, unit="row", disable=not show_bar, file=sys.stderr, dynamic_ncols=True)
        try:
            report = catalog_import(
                path=path,
                images_dir=options["images"],
                fmt=None if options["format"] == "auto" else options["format"],
                limit=limit,
                dry_run=options["dry_run"],
                synthesize=options["synthesize_missing"],
                progress=bar.update,
            )
        except CatalogFormatError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()

        verbose = options["verbosity"] >= 2
        self._list("Failed rows", report.failed, verbose, self.style.ERROR)
        self._list("Imported without a photo", report.image_warnings, verbose, self.style.WARNING)
        prefix = "Dry run (nothing written): would have " if report.dry_run else ""
        summary = (
            f"{prefix}{report.rows} rows ({report.format} format): created {report.created}, updated "
            f"{report.updated}, skipped {report.skipped} unchanged, failed {len(report.failed)}; "
            f"{len(report.image_warnings)} without a photo; {report.seconds:.1f}s, {report.rows_per_second:.0f} rows/s"
        )
        self.stdout.write(self.style.SUCCESS(summary) if not report.failed else self.style.WARNING(summary))
        if report.stopped:
            # A partial import must not pass for a complete one: the exit status says so too.
            raise CommandError(
                f"The import stopped early: {report.stopped}. The {report.created + report.updated} rows written "
                "before it stay; fix the file and run again (re-imports are idempotent by sku)."
            )

    def _list(self, title: str, problems: list[RowProblem], verbose: bool, style: Any) -> None:
        if not problems:
            return
        self.stdout.write(style(f"{title}: {len(problems)}"))
        shown = problems if verbose else problems[:SHOWN_PROBLEMS]
        for problem in shown:
            sku = f" ({problem.sku})" if problem.sku else ""
            self.stdout.write(f"  line {problem.line}{sku}: {problem.message}")
        if len(shown) < len(problems):
            self.stdout.write(f"  ... and {len(problems) - len(shown)} more (run with -v 2 to list all)")
