"""Searches against a real streaming replica, as a process of the product sees them (test_replicas.py runs it).

Run with DATABASE_URL (primary) and DATABASE_REPLICA_URLS (one standby) in the environment:
`python -m tests.platform.replica_scenario`. Prints one JSON line of what it observed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import django

REPLICA = "replica_0"
WAIT_SECONDS = 15.0  # replication here takes milliseconds; the lag guard needs DATABASE_REPLICA_MAX_LAG (1 s)
GARMENTS = [
    ("rr-coat", "Red wool winter coat", "A long double-breasted coat in red wool."),
    ("rr-jeans", "Blue denim jeans", "Straight-leg jeans in washed blue denim."),
    ("rr-dress", "Green floral summer dress", "A light cotton dress with a green floral print."),
]


def wait_for(condition: Callable[[], bool], what: str) -> float:
    """Seconds until `condition` held; fails the scenario after WAIT_SECONDS."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > WAIT_SECONDS:
            raise SystemExit(f"timed out after {WAIT_SECONDS:g} s waiting for {what}")
        time.sleep(0.05)
    return round(time.monotonic() - started, 2)


def reads(alias: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("search_database_total", {"database": alias}) or 0.0


def main() -> None:
    django.setup()
    from django.conf import settings

    from bench.pgcluster import set_replay_paused
    from embeddings.services import embed_garments
    from garments.models import Garment
    from garments.services import garment_create
    from prethrift.replicas import pinned_to_primary, replica_aliases, search_database
    from search.engine import HybridSearchEngine

    observed: dict[str, object] = {"aliases": replica_aliases(), "max_lag": settings.DATABASE_REPLICA_MAX_LAG}
    replica_url = settings.DATABASE_REPLICA_URLS[0]
    on_replica = Garment.objects.using(REPLICA)

    # given: garments written to the primary, with their text vectors
    ids = [garment_create(sku=sku, title=title, description=text, price="40").pk for sku, title, text in GARMENTS]
    observed["embedded"] = embed_garments(garment_ids=ids, space="text").computed
    observed["replicated_after_s"] = wait_for(
        lambda: on_replica.filter(pk__in=ids, text_embedding_vec__isnull=False).count() == len(ids),
        "the garments and their vectors on the replica",
    )

    # when: a search, with the replica healthy and caught up
    before = {alias: reads(alias) for alias in ("default", REPLICA)}
    result = HybridSearchEngine().search(query="red wool coat", limit=3)
    observed["search_reads"] = {alias: reads(alias) - before[alias] for alias in before}
    observed["hits"] = [hit.garment.sku for hit in result.hits]
    observed["hit_databases"] = sorted({hit.garment._state.db or "" for hit in result.hits})
    observed["healthy"] = search_database()
    with pinned_to_primary():
        observed["pinned"] = search_database()
    observed["after_pinned"] = search_database()

    # when: replay paused on the replica while the primary takes a write
    set_replay_paused(replica_url, paused=True)
    try:
        late = garment_create(sku="rr-late", title="Yellow raincoat", price="55")
        observed["lagging_after_s"] = wait_for(lambda: search_database() == "default", "the lag guard")
        observed["lagging"] = search_database()
        observed["late_on_replica"] = on_replica.filter(pk=late.pk).exists()
    finally:
        set_replay_paused(replica_url, paused=False)
    observed["resumed_after_s"] = wait_for(lambda: search_database() == REPLICA, "the replica to catch up")
    observed["resumed"] = search_database()
    observed["late_on_replica_after_resume"] = on_replica.filter(pk=late.pk).exists()
    print(json.dumps(observed))


if __name__ == "__main__":
    main()
