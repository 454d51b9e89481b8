"""manage.py evaluate_ontology: extraction scored against labels.

--csv PATH: title-only extraction against a Myntra-format catalogue's labels.
--listings PATH [--split tune|report|all]: title plus description against the seller-listings
development set (data/seller-listings), overall and per language.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ontology.evaluation import evaluate_listings, evaluate_titles

CONFUSIONS_SHOWN = 10


class Command(BaseCommand):
    help = "Extract attributes from each title alone and score them against the catalogue's labels."

    def add_arguments(self, parser: ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path, help="a Myntra-format styles CSV")
        source.add_argument("--listings", type=Path, help="a seller-listings CSV (data/seller-listings/listings.csv)")
        parser.add_argument(
            "--split", choices=["tune", "report", "all"], default="report", help="which part of the listings to score"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument(
            "--with-meaning",
            action="store_true",
            help="let the embedding fallback fill a category the words leave open",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["listings"] is not None:
            self._listings(options["listings"], options["split"], as_json=options["json"])
            return
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
        self._write_scores(result["attributes"])
        if worst:
            self.stdout.write(f"commonest confusions of {worst} (label -> extracted):")
            for item in result["worst_attribute"]["confusions"]:
                self.stdout.write(
                    f"  {item['count']:5} {item['label']} -> {item['extracted']}   e.g. {item['example']!r}"
                )

    def _write_scores(self, attributes: dict[str, dict[str, Any]]) -> None:
        """One line per attribute: accuracy, coverage and the number of labelled rows."""
        for attribute, values in attributes.items():
            self.stdout.write(
                f"  {attribute:14} accuracy {values['accuracy']}  coverage {values['coverage']}  n {values['n']}"
            )

    def _listings(self, path: Path, split: str, *, as_json: bool) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            rows, overall, by_language, _ = evaluate_listings(path, split=split)
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            raise CommandError(str(exc)) from exc
        result: dict[str, Any] = {
            "rows": rows,
            "split": split,
            "attributes": {attribute: score.as_dict() for attribute, score in overall.items()},
            "languages": {
                language: {attribute: score.as_dict() for attribute, score in scores.items()}
                for language, scores in sorted(by_language.items())
            },
        }
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{rows} listings ({split}), title and description")
        self._write_scores(result["attributes"])
        for language, scores in result["languages"].items():
            cells = "  ".join(f"{a} {v['accuracy']}/{v['coverage']}" for a, v in scores.items() if v["n"])
            self.stdout.write(f"  [{language}] {cells}")
