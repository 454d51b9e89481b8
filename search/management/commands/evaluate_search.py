"""manage.py evaluate_search --queries FILE.jsonl [--json]: relevance of hybrid, vector-only and keyword-only."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from search.evaluation import evaluate, load_queries


class Command(BaseCommand):
    help = "Score search against labelled queries (NDCG@10, recall@50, MRR) in three modes with the same filters."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--queries", type=Path, required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["queries"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            result = evaluate(load_queries(path))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{result['queries']} queries over {result['garments']} garments")
        for mode, scores in result["modes"].items():
            self.stdout.write(f"  {mode:8} " + "  ".join(f"{name} {value:.4f}" for name, value in scores.items()))
