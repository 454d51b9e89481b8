"""Keyset batching for long management commands, and the checkpoint that lets a forced run resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db.models import QuerySet


def keyset_batches(
    queryset: QuerySet[Any], *, batch_size: int, limit: int | None = None, after: int = 0
) -> Iterator[list[int]]:
    """Primary keys of `queryset` in ascending batches, each query starting after the last key seen.

    Never an OFFSET: every batch is an index range scan, however far the run has got, and rows
    that stop matching between batches (because the previous batch fixed them) are not skipped over.
    """
    done = 0
    while limit is None or done < limit:
        take = batch_size if limit is None else min(batch_size, limit - done)
        ids = list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:take])
        if not ids:
            return
        yield ids
        after, done = ids[-1], done + len(ids)


class Checkpoint:
    """The last finished primary key of a run that re-does rows regardless of staleness (--force).

    Stale-only runs need none: what they finished is no longer stale. A forced run would start
    over after a kill, so it records its progress here and the next forced run resumes from it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def resume_after(self) -> int:
        if not self.path.exists():
            return 0
        try:
            return int(json.loads(self.path.read_text()).get("last_pk", 0))
        except (ValueError, AttributeError):
            return 0  # a checkpoint cut short by the kill itself: start over rather than guess

    def save(self, last_pk: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"last_pk": last_pk}))
        temporary.replace(self.path)  # atomic: a kill mid-write leaves the previous checkpoint

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)
