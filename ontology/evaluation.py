"""Scoring extraction against a labelled catalogue (the Myntra format): accuracy, coverage, confusions."""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .extractors.text import extract_text
from .myntra import LABELS
from .vocabulary import load_vocabulary


@dataclass
class AttributeScore:
    n: int = 0  # rows whose label maps to a canonical value
    covered: int = 0  # of those, rows where the extractor gave a value
    correct: int = 0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.correct / self.covered, 4) if self.covered else None,
            "coverage": round(self.covered / self.n, 4) if self.n else None,
            "n": self.n,
        }


def evaluate_titles(path: Path, *, limit: int | None = None) -> tuple[int, float, dict[str, AttributeScore]]:
    """Extract from each title alone and score against the mapped labels; returns rows, rows/s, scores."""
    vocabulary = load_vocabulary()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"productDisplayName", *(column for column, _ in LABELS.values())} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} is not a Myntra-format CSV: missing columns {sorted(missing)}")
        rows = [row for _, row in zip(range(limit) if limit else iter(int, 1), reader, strict=False)]
    started = time.perf_counter()
    extracted = [extract_text(title=row["productDisplayName"] or "", vocabulary=vocabulary)[0] for row in rows]
    rate = len(rows) / max(time.perf_counter() - started, 1e-9)
    scores = {attribute: AttributeScore() for attribute in LABELS}
    for row, found in zip(rows, extracted, strict=True):
        for attribute, (column, mapping) in LABELS.items():
            truth = mapping.get(row.get(column) or "")
            if truth is None:
                continue
            score = scores[attribute]
            score.n += 1
            if attribute in found:
                score.covered += 1
                if found[attribute].value == truth:
                    score.correct += 1
                else:
                    pair = (truth, found[attribute].value)
                    score.confusions[pair] += 1
                    score.examples.setdefault(pair, row["productDisplayName"])
    return len(rows), rate, scores
