"""Relevance evaluation: NDCG@10, recall@50 and MRR per mode, judged by the catalogue's own labels."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Q

from garments.models import Garment

from .engine import HybridSearchEngine
from .filters import InvalidFilterError

MODES: dict[str, dict[str, Any]] = {
    "hybrid": {},
    "vector": {"only_signals": {"text"}, "boosts": False},
    "keyword": {"only_signals": {"keyword"}, "boosts": False},
}
DEPTH = 50


@dataclass
class Judgement:
    query: str
    filters: dict[str, Any]
    relevant: dict[str, list[str]]


def load_queries(path: Path) -> list[Judgement]:
    judgements = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            judgements.append(Judgement(item["query"], item.get("filters") or {}, item["relevant"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a query line ({exc})") from exc
    if not judgements:
        raise ValueError(f"{path} has no queries")
    return judgements


def relevance_q(relevant: dict[str, list[str]]) -> Q:
    condition = Q()
    for key, accepted in relevant.items():
        condition &= Q(**{f"source_attributes__{key}__in": accepted})
    return condition


def ndcg_at(ranked: list[bool], total_relevant: int, k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, hit in enumerate(ranked[:k]) if hit)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, total_relevant)))
    return dcg / ideal if ideal else 0.0


def evaluate(judgements: Iterable[Judgement]) -> dict[str, Any]:
    engine = HybridSearchEngine()
    totals: dict[str, dict[str, float]] = {mode: {"ndcg@10": 0.0, "recall@50": 0.0, "mrr": 0.0} for mode in MODES}
    count = 0
    for judgement in judgements:
        relevant_ids = set(
            Garment.objects.filter(relevance_q(judgement.relevant), status="available").values_list("pk", flat=True)
        )
        count += 1
        for mode, options in MODES.items():
            try:
                result = engine.search(query=judgement.query, filters=judgement.filters, limit=DEPTH, facets=False,
                                       **options)  # fmt: skip
            except InvalidFilterError as exc:
                raise ValueError(f"query {judgement.query!r}: {exc.message}") from exc
            ranked = [hit.garment.pk in relevant_ids for hit in result.hits]
            scores = totals[mode]
            scores["ndcg@10"] += ndcg_at(ranked, len(relevant_ids))
            scores["recall@50"] += sum(ranked) / min(DEPTH, len(relevant_ids)) if relevant_ids else 0.0
            scores["mrr"] += next((1 / (i + 1) for i, hit in enumerate(ranked) if hit), 0.0)
    return {
        "queries": count,
        "garments": Garment.objects.count(),
        "modes": {
            mode: {name: round(value / count, 4) for name, value in scores.items()} for mode, scores in totals.items()
        },
    }
