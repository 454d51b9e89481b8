"""manage.py backfill_embeddings: compute missing or stale garment vectors in keyset batches.

Resumable by construction: only garments whose vector is missing or stale are selected, and each
batch commits on its own, so a run killed at any moment (kill -9 included) loses at most the batch
in flight and the next run starts where it stopped. A --force run keeps a checkpoint under
var/backfill/ so that it, too, resumes rather than starting over.
"""

from __future__ import annotations

import logging
import sys
import time
from argparse import ArgumentParser
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from embeddings.encoders.base import TransientEncoderError
from embeddings.registry import configured_spaces, get_encoder
from embeddings.services import EmbedReport, embed_garments
from embeddings.tasks import embed_garments_task
from garments.managers import EmbeddingSpace
from garments.models import Garment
from prethrift.batching import Checkpoint, keyset_batches

SPACE_NAMES: dict[str, EmbeddingSpace] = {"image": "image", "text": "text", "openai": "openai_text"}
TRANSIENT_RETRIES = 3
UNCONFIGURED = {
    "image": "CLIP_MODEL_PATH is not set",
    "openai_text": "OPENAI_API_KEY is not set",
}


def _parse_since(value: str) -> datetime:
    problem = CommandError(f"--since {value!r} is not a date (YYYY-MM-DD) or an ISO date-time")
    try:  # Django's parsers raise ValueError for a well-formed impossible date (2026-13-45)
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError as exc:
        raise problem from exc
    if moment is None:
        raise problem
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Compute missing or stale garment vectors (image: CLIP, text: local model, openai: OpenAI)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--space", choices=[*SPACE_NAMES, "all"], default="all")
        parser.add_argument("--batch-size", type=int, default=None, help="garments per batch (default BATCH_SIZE)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be computed; write nothing")
        parser.add_argument("--limit", type=int, default=None, help="stop after this many garments per space")
        parser.add_argument("--force", action="store_true", help="recompute vectors even when fresh")
        parser.add_argument("--since", default=None, help="only garments updated since this date or time")
        parser.add_argument("--async", dest="run_async", action="store_true", help="enqueue batches for workers")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = settings.BATCH_SIZE if options["batch_size"] is None else options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        since = _parse_since(options["since"]) if options["since"] else None
        if options["run_async"] and settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("--async needs a broker (CELERY_BROKER_URL or REDIS_URL); without one, run inline")
        if options["space"] == "all":
            spaces = configured_spaces()
            for space, reason in UNCONFIGURED.items():
                if space not in spaces:
                    self.stdout.write(f"{space}: skipped ({reason})")
        else:
            space = SPACE_NAMES[options["space"]]
            if space not in configured_spaces():
                raise CommandError(f"cannot backfill {options['space']} vectors: {UNCONFIGURED[space]}")
            spaces = [space]
        self.logger = self._open_log()
        try:
            for space in spaces:
                self._backfill(space, batch_size, since, options)
        finally:
            for handler in self.logger.handlers[:]:
                handler.close()
                self.logger.removeHandler(handler)

    def _open_log(self) -> logging.Logger:
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"backfill_embeddings-{timezone.now():%Y%m%d-%H%M%S-%f}.log"
        logger = logging.getLogger(f"backfill_embeddings.{path.stem}")
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self.stdout.write(f"log: {path}")
        return logger

    def _candidates(
        self, space: EmbeddingSpace, model_id: str, force: bool, since: datetime | None
    ) -> QuerySet[Garment]:
        queryset = Garment.objects.all()
        if since is not None:
            queryset = queryset.filter(updated_at__gte=since)
        if force:
            return queryset.with_image() if space == "image" else queryset
        return queryset.needs_embedding(space, model_id=model_id)

    def _backfill(
        self, space: EmbeddingSpace, batch_size: int, since: datetime | None, options: dict[str, Any]
    ) -> None:
        encoder = get_encoder(space)
        assert encoder is not None  # configured_spaces() said so
        force, limit = options["force"], options["limit"]
        candidates = self._candidates(space, encoder.id, force, since)
        last_pk = 0
        checkpoint = Checkpoint(Path(settings.VAR_DIR) / "backfill" / f"{space}-force.json")
        if force and not options["dry_run"] and (last_pk := checkpoint.resume_after()):
            self.stdout.write(f"{space}: resuming a forced run after garment {last_pk} ({checkpoint.path})")
        total = candidates.filter(pk__gt=last_pk).count()
        if limit is not None:
            total = min(total, limit)
        self.stdout.write(f"{space}: {total} garments to embed with {encoder.describe()}")
        self.logger.info("space=%s model=%s total=%d force=%s since=%s", space, encoder.id, total, force, since)
        if options["dry_run"] or total == 0:
            self.stdout.write(f"{space}: dry run, nothing written" if options["dry_run"] else f"{space}: all fresh")
            return
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        bar = tqdm(total=total, unit="garment", desc=space, disable=not show_bar, file=sys.stderr, dynamic_ncols=True)
        report = EmbedReport(space=space)
        done, enqueued, started = 0, 0, time.monotonic()
        try:
            for ids in keyset_batches(candidates, batch_size=batch_size, limit=limit, after=last_pk):
                if options["run_async"]:
                    embed_garments_task.delay(ids, [space], force)
                    enqueued += len(ids)
                else:
                    batch = self._run_batch(ids, space, force)
                    report.merge(batch)
                    self.logger.info("batch %d..%d computed=%d skipped=%d failed=%d", ids[0], ids[-1],
                                     batch.computed, batch.skipped, len(batch.failed))  # fmt: skip
                    for garment_id, message in batch.failed.items():
                        self.logger.warning("garment %d failed: %s", garment_id, message)
                done += len(ids)
                if force:
                    checkpoint.save(ids[-1])
                bar.update(len(ids))
                if not show_bar and not options["no_progress"] and done % (batch_size * 20) < batch_size:
                    rate = done / max(time.monotonic() - started, 1e-9)
                    self.stdout.write(f"{space}: {done}/{total} ({rate:.0f}/s, ETA {(total - done) / rate:.0f}s)")
        finally:
            bar.close()
        if force and (limit is None or done < limit):
            checkpoint.finish()  # finished: the next --force starts from the beginning
        self._summary(space, report, enqueued, time.monotonic() - started, options["run_async"])

    def _run_batch(self, ids: list[int], space: EmbeddingSpace, force: bool) -> EmbedReport:
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                return embed_garments(garment_ids=ids, space=space, force=force)
            except TransientEncoderError as exc:
                if attempt == TRANSIENT_RETRIES:
                    self.logger.error("batch %d..%d: provider still failing after %d tries: %s", ids[0], ids[-1],
                                      attempt, exc)  # fmt: skip
                    raise CommandError(f"{space}: provider still failing after {attempt} tries ({exc}); "
                                       "run again to resume where this stopped") from exc  # fmt: skip
                wait = max(exc.retry_after or 0.0, 2.0**attempt)
                self.stderr.write(f"{space}: {exc}; retrying the batch in {wait:.0f}s")
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _summary(self, space: str, report: EmbedReport, enqueued: int, seconds: float, run_async: bool) -> None:
        if run_async:
            self.stdout.write(self.style.SUCCESS(f"{space}: enqueued {enqueued} garments for the workers"))
            return
        rate = report.computed / seconds if seconds else 0.0
        line = (f"{space}: computed {report.computed}, skipped {report.skipped} (fresh or changed meanwhile), "
                f"failed {len(report.failed)} in {seconds:.1f}s ({rate:.0f}/s)")  # fmt: skip
        self.stdout.write(self.style.SUCCESS(line) if not report.failed else self.style.WARNING(line))
        for message, count in Counter(report.failed.values()).most_common(10):
            self.stdout.write(f"  {count} x {message}")
        self.logger.info(line)
