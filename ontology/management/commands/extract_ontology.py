"""manage.py extract_ontology: (re-)extract garment attributes in keyset batches; resumable.

Only garments whose words, photo or stated brand changed since their last extraction, or that
were extracted with another vocabulary version, are selected (all with --force), and each batch
commits on its own: a run interrupted at any point resumes where it stopped. A --force run keeps a
checkpoint under var/ontology/ for the same reason.
"""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from embeddings.tasks import PUBLISH_RETRY_POLICY
from garments.models import Garment
from ontology.services import ExtractReport, extract_garments, ontology_version
from ontology.tasks import extract_garments_task
from prethrift.batching import Checkpoint, keyset_batches


class Command(BaseCommand):
    help = "Extract the 16 attributes from garments' words and photos (locked and stated values are kept)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="garments per batch (default BATCH_SIZE)")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--force", action="store_true", help="re-extract garments that are fresh too")
        parser.add_argument("--dry-run", action="store_true", help="count what would be extracted")
        parser.add_argument("--async", dest="run_async", action="store_true", help="enqueue batches for workers")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = settings.BATCH_SIZE if options["batch_size"] is None else options["batch_size"]
        limit = options["limit"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        if options["run_async"] and settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("--async needs a broker (CELERY_BROKER_URL or REDIS_URL); without one, run inline")
        force = options["force"]
        candidates = Garment.objects.all() if force else Garment.objects.needs_extraction(version=ontology_version())
        checkpoint = Checkpoint(Path(settings.VAR_DIR) / "ontology" / "extract-force.json")
        last_pk = 0
        if force and not options["dry_run"] and (last_pk := checkpoint.resume_after()):
            self.stdout.write(f"resuming a forced run after garment {last_pk}")
        total = candidates.filter(pk__gt=last_pk).count()
        total = min(total, limit) if limit else total
        self.stdout.write(f"{total} garments to extract (vocabulary version {ontology_version()})")
        if options["dry_run"] or total == 0:
            self.stdout.write("dry run, nothing written" if options["dry_run"] else "all fresh")
            return
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        bar = tqdm(total=total, unit="garment", disable=not show_bar, file=sys.stderr, dynamic_ncols=True)
        report, done, enqueued, started = ExtractReport(), 0, 0, time.monotonic()
        try:
            for ids in keyset_batches(candidates, batch_size=batch_size, limit=limit, after=last_pk):
                if options["run_async"]:
                    try:
                        extract_garments_task.apply_async((ids, force), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
                    except Exception as exc:  # the broker refused: say so, with what was queued before it
                        raise CommandError(
                            f"could not queue garments for the workers ({type(exc).__name__}: {exc}); {enqueued} "
                            "were queued before it. Start the broker and run again (queued garments that are "
                            "done by then are skipped), or run without --async."
                        ) from exc
                    enqueued += len(ids)
                else:
                    batch = extract_garments(garment_ids=ids, force=force)
                    report.extracted += batch.extracted
                    report.changed += batch.changed
                    report.skipped += batch.skipped
                    report.failed.update(batch.failed)
                done += len(ids)
                if force:
                    checkpoint.save(ids[-1])
                bar.update(len(ids))
        finally:
            bar.close()
        if force and (limit is None or done < limit):
            checkpoint.finish()
        seconds = time.monotonic() - started
        if options["run_async"]:
            self.stdout.write(self.style.SUCCESS(f"enqueued {enqueued} garments for the workers"))
            return
        line = (
            f"extracted {report.extracted} ({report.changed} changed), skipped {report.skipped}, "
            f"failed {len(report.failed)} in {seconds:.1f}s ({report.extracted / max(seconds, 1e-9):.0f}/s)"
        )
        self.stdout.write(self.style.SUCCESS(line) if not report.failed else self.style.WARNING(line))
        for message, count in Counter(report.failed.values()).most_common(10):
            self.stdout.write(f"  {count} x {message}")
