"""How well the vector planner finds the true nearest neighbours, measured on the live index.

Queries are garments' own vectors, never shoppers' words: nothing a user typed is stored or labelled,
and the sample covers the catalogue as it is. Each sampled garment is searched for as "similar to" it
(the engine's own query: the garment itself excluded, the default filters applied) through the planner
(exact scan, HNSW or its fallbacks, as a search would run) and by an exact scan, and recall@k is the
share of the exact top k the planner found. A healthy HNSW index stays near 1; a broken or degraded one
(too small an ef_search, a bad rebuild) shows as a drop on the dashboard.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from garments.managers import EMBEDDING_SPACES
from garments.models import Garment
from prethrift.replicas import search_database

from .filters import parse_filters
from .metrics import vector_search_recall, vector_search_recall_samples
from .planner import exact, nearest

logger = logging.getLogger(__name__)
RECALL_AT = 10
# The last measurement, for the admin's status page: in the shared cache (Redis in production), so a sample the
# beat task took in a worker shows on the web; kept 30 days, as a reading, not a record.
LAST_SAMPLE_CACHE_KEY = "search.recall.last_sample"
LAST_SAMPLE_SECONDS = 30 * 24 * 60 * 60
# Distances equal to the k-th exact one within this count as found: duplicate photos and listings have
# identical vectors, and the index may return either copy.
TIE_TOLERANCE = 1e-6


@dataclass
class SpaceRecall:
    space: str
    recall: float | None  # None: fewer than k + 1 garments have a vector in this space
    samples: int
    paths: dict[str, int] = field(default_factory=dict)  # how the planner ran the sampled queries


def _sample_ids(with_vectors: QuerySet[Garment], size: int, rng: random.Random) -> list[int]:
    """Up to `size` distinct garments, each the first at or after a random id: a few index lookups, no
    ORDER BY random() over the whole table. Ids after gaps are likelier; for a health probe that is fine."""
    bounds = with_vectors.order_by().aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    chosen: set[int] = set()
    for _ in range(size * 3):
        start = rng.randint(bounds["low"], bounds["high"])
        pk = with_vectors.filter(pk__gte=start).order_by("pk").values_list("pk", flat=True).first()
        if pk is not None:
            chosen.add(pk)
        if len(chosen) >= size:
            break
    return sorted(chosen)


def measure_space(space: str, *, sample_size: int, k: int = RECALL_AT, seed: int | None = None) -> SpaceRecall:
    """Recall@k of the planner in one space, over up to `sample_size` garments' own vectors."""
    column = f"{space}_embedding_vec"
    base = Garment.objects.using(search_database()).filter(parse_filters(None).q())
    with_vectors = base.filter(**{f"{column}__isnull": False})
    if with_vectors.order_by().values("pk")[: k + 1].count() <= k:
        return SpaceRecall(space, None, 0)
    rng = random.Random(seed)  # noqa: S311  (a sample, not a secret)
    found = wanted = 0
    paths: dict[str, int] = {}
    ids = _sample_ids(with_vectors, sample_size, rng)
    vectors = dict(with_vectors.filter(pk__in=ids).values_list("pk", column))
    for pk, vector in vectors.items():
        query = [float(x) for x in vector]
        candidates = base.exclude(pk=pk)  # what a "similar to" search ranks
        truth = exact(candidates, column, query, k)
        if not truth.ids:
            continue
        approximate = nearest(candidates, column, query, k)
        paths[approximate.path] = paths.get(approximate.path, 0) + 1
        limit = truth.distances[-1] + TIE_TOLERANCE
        found += min(len(truth.ids), sum(1 for distance in approximate.distances[:k] if distance <= limit))
        wanted += len(truth.ids)
    return SpaceRecall(space, found / wanted if wanted else None, len(vectors), paths)


def measure_vector_search_recall(*, sample_size: int, k: int = RECALL_AT, seed: int | None = None) -> list[SpaceRecall]:
    """Measure every space that has vectors and publish vector_search_recall{space}."""
    results = []
    for space in EMBEDDING_SPACES:
        result = measure_space(space, sample_size=sample_size, k=k, seed=seed)
        vector_search_recall_samples.labels(space=space).set(result.samples)
        if result.recall is not None:
            vector_search_recall.labels(space=space).set(result.recall)
            logger.info("vector search recall@%d in %s: %.3f over %d queries (%s)", k, space, result.recall,
                        result.samples, result.paths)  # fmt: skip
        results.append(result)
    return results


def remember_sample(results: list[SpaceRecall], *, sample_size: int, k: int) -> dict[str, Any]:
    """Keep this measurement as the last sample (see last_sample)."""
    sample = {
        "measured_at": timezone.now().isoformat(timespec="seconds"),
        "sample_size": sample_size,
        "k": k,
        "spaces": [
            {"space": r.space, "recall": r.recall, "samples": r.samples,
             "paths": ", ".join(f"{path} x{count}" for path, count in sorted(r.paths.items()))}
            for r in results
        ],
    }  # fmt: skip
    try:
        cache.set(LAST_SAMPLE_CACHE_KEY, sample, LAST_SAMPLE_SECONDS)
    except Exception:  # a cache that is down must not fail the probe, whose figures went to the metrics already
        logger.warning("could not keep the recall sample in the cache", exc_info=True)
    return sample


def last_sample() -> dict[str, Any] | None:
    """The last recall measurement (beat task or the admin's button), or None."""
    try:
        sample: dict[str, Any] | None = cache.get(LAST_SAMPLE_CACHE_KEY)
    except Exception:
        logger.warning("could not read the recall sample from the cache", exc_info=True)
        return None
    return sample
