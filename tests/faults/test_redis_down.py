"""Redis (cache and broker) going away under a running server: search still answers (the cache fails
soft), staff saves still succeed (the follow-up work is logged and counted, not a 500), and the work
waits: the edited garment stays stale until the backfill computes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.models import Garment
from ontology.services import extract_garments
from tests.embeddings.test_tasks import _database_url
from tests.factories import StaffFactory
from tests.faults.servers import Gunicorn, free_port, production_env, redis_server, request

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def catalogue(sample_dir: Path) -> list[int]:
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True, limit=30)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    return ids


@pytest.mark.django_db(transaction=True)
def test_search_and_staff_saves_go_on_when_redis_stops(catalogue: list[int], tmp_path: Path, settings) -> None:
    staff: Any = StaffFactory(username="redis-staff")
    token = Token.objects.create(user=staff).key
    with redis_server() as redis:
        env = production_env(database_url=_database_url(), port=free_port(), REDIS_URL=redis.url,
                             DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT))  # fmt: skip
        with Gunicorn(env, tmp_path / "gunicorn.log") as server:
            search = f"/api/v1/search/?q={quote_plus('blue shirt')}&limit=5"
            # given a server whose cache and broker answer
            assert request(server.port, search, token=token).status == 200
            first, second = catalogue[0], catalogue[1]
            edited = request(server.port, f"/api/v1/garments/{first}/", method="PATCH", token=token,
                             payload={"title": "Blue cotton shirt, mended"})  # fmt: skip
            assert edited.status == 200, edited.body[:1000]
            # when Redis stops
            redis.stop()
            # then search still answers (a fresh query too: its vector is computed, not cached)
            for query in ("blue shirt", "red wool scarf"):
                found = request(server.port, f"/api/v1/search/?q={quote_plus(query)}&limit=5", token=token)
                assert found.status == 200, (found.status, found.body[:1000], server.log()[-3000:])
            # and a staff save succeeds: the enqueue fails after the commit, so it must not become a 500
            saved = request(server.port, f"/api/v1/garments/{second}/", method="PATCH", token=token,
                            payload={"title": "Black leather boots, resoled"})  # fmt: skip
            assert saved.status == 200, (saved.status, saved.body[:1000], server.log()[-4000:])
    # and the work waits: the garment is saved, and stale until the backfill computes it
    garment = Garment.objects.get(pk=second)
    assert garment.title == "Black leather boots, resoled"
    assert Garment.objects.filter(pk=second).needs_embedding("text").exists()
    settings.VAR_DIR = tmp_path
    call_command("backfill_embeddings", "--space", "text", "--no-progress")
    assert not Garment.objects.filter(pk__in=catalogue).needs_embedding("text").exists()
