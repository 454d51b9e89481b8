"""The search page's server time next to the JSON API's, for the same text searches in the same run.

    DATABASE_URL=postgres://... PYTHONPATH=. .venv/bin/python -m bench.page [--rounds 20]

Builds a throwaway database beside DATABASE_URL's (Django's test database, test_<name>, dropped at
the end): the 500-garment sample imported with photos, extracted attributes and real text vectors.
Then each query is asked of GET / and GET /api/v1/search/ in turn (the page's 24 results and the
API's limit=24, so both render the same hits), in process through Django's test client: the time
is the whole request through middleware, the engine and rendering, without a network or a server in
front. The first request of each query warms both (the parse, the facet cache); rounds alternate the
two so drifts hit both alike. Prints JSON: p50/p95/mean in milliseconds for each, and per query.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUERIES = (
    "blue shirt",
    "black leather shoes",
    "red dress under $50",
    "men's navy hoodie",
    "nike tshirt",
    "women sandals",
    "white sneakers size 9",
    "denim jeans",
    "gold watch",
    "floral kurta",
    "sports bag",
    "green jacket not leather",
)
PAGE_SIZE = 24


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.5), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "mean_ms": round(statistics.fmean(values), 2),
        "requests": len(values),
    }


def load_catalogue() -> int:
    from django.db import connection

    from embeddings.services import embed_garments
    from garments.catalog_import import catalog_import
    from garments.models import Garment
    from ontology.services import extract_garments

    sample = ROOT / "data" / "sample"
    catalog_import(path=sample / "styles.csv", images_dir=sample / "images", synthesize=True)
    ids = list(Garment.objects.values_list("pk", flat=True))
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
    return len(ids)


def measure(rounds: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password"))
    page: dict[str, list[float]] = {q: [] for q in QUERIES}
    api: dict[str, list[float]] = {q: [] for q in QUERIES}

    def timed(path: str, params: dict[str, Any]) -> float:
        started = time.perf_counter()
        response = client.get(path, params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path} {params}: {response.status_code} {response.content[:300]!r}")
        return elapsed

    for q in QUERIES:  # warm: the text model, the parse, the facet counts
        timed("/", {"q": q})
        timed("/api/v1/search/", {"q": q, "limit": PAGE_SIZE})
    for round_ in range(rounds):
        for q in QUERIES:
            first, second = (page, api) if round_ % 2 == 0 else (api, page)
            for target in (first, second):
                if target is page:
                    page[q].append(timed("/", {"q": q}))
                else:
                    api[q].append(timed("/api/v1/search/", {"q": q, "limit": PAGE_SIZE}))
    every_page = [t for times in page.values() for t in times]
    every_api = [t for times in api.values() for t in times]
    return {
        "page": summary(every_page),
        "api": summary(every_api),
        "page_minus_api_p50_ms": round(percentile(every_page, 0.5) - percentile(every_api, 0.5), 2),
        "per_query_p50_ms": {
            q: {"page": round(percentile(page[q], 0.5), 2), "api": round(percentile(api[q], 0.5), 2)} for q in QUERIES
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="requests per query and endpoint")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        parser.error("set DATABASE_URL: the benchmark builds its catalogue in a database beside that one's")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.test")  # DEBUG off, no query log
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()
    logging.disable(logging.INFO)  # a log line per search would bury the result
    from django.conf import settings
    from django.db import connection
    from rest_framework.throttling import SimpleRateThrottle

    settings.SEARCH_ALLOW_ANONYMOUS = True
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    # The benchmark asks hundreds of searches a minute from one client: the throttles would answer 429.
    SimpleRateThrottle.THROTTLE_RATES = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES)
    original = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        garments = load_catalogue()
        print(f"catalogue: {garments} garments in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        result = {
            "database": test_name,
            "garments": garments,
            "queries": len(QUERIES),
            "rounds": args.rounds,
            "page_size": PAGE_SIZE,
            **measure(args.rounds),
        }
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
