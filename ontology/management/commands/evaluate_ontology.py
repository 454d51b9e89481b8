"""manage.py evaluate_ontology --csv PATH [--json]: title-only extraction scored against Myntra labels."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ontology.evaluation import evaluate_titles

CONFUSIONS_SHOWN = 10


class Command(BaseCommand):
    help = "Extract attributes from each title alone and score them against the catalogue's labels."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--csv", type=Path, required=True, help="a Myntra-format styles CSV")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument(
            "--with-meaning",
            action="store_true",
            help="let the embedding fallback fill a category the words leave open",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["csv"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            rows, rate, scores = evaluate_titles(path, limit=options["limit"], meaning=options["with_meaning"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        result: dict[str, Any] = {
            "rows": rows,
            "garments_per_second": round(rate),
            "attributes": {attribute: score.as_dict() for attribute, score in scores.items()},
        }
        scored = [a for a, s in scores.items() if s.covered >= 100 and a in ("gender", "subcategory", "primary_color")]
        worst = min(scored, key=lambda a: scores[a].correct / scores[a].covered) if scored else None
        if worst:
            score = scores[worst]
            result["worst_attribute"] = {
                "attribute": worst,
                "confusions": [
                    {"label": label, "extracted": got, "count": count, "example": score.examples[(label, got)]}
                    for (label, got), count in score.confusions.most_common(CONFUSIONS_SHOWN)
                ],
            }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{rows} rows, {result['garments_per_second']} garments/s (title only)")
        for attribute, values in result["attributes"].items():
            self.stdout.write(
                f"  {attribute:14} accuracy {values['accuracy']}  coverage {values['coverage']}  n {values['n']}"
            )
        if worst:
            self.stdout.write(f"commonest confusions of {worst} (label -> extracted):")
            for item in result["worst_attribute"]["confusions"]:
                self.stdout.write(
                    f"  {item['count']:5} {item['label']} -> {item['extracted']}   e.g. {item['example']!r}"
                )
