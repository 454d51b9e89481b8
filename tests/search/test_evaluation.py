"""evaluate_search: metrics per mode from the catalogue's own labels."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.models import Garment
from search.evaluation import ndcg_at

pytestmark = pytest.mark.django_db


def test_ndcg():
    assert ndcg_at([True, True], 2) == 1.0
    assert ndcg_at([False, True], 1) == pytest.approx(1 / 1.585, rel=1e-3)
    assert ndcg_at([False] * 10, 5) == 0.0


def test_evaluate_search_on_the_sample(sample_dir, tmp_path):
    catalog_import(path=sample_dir / "styles.csv", images_dir=sample_dir / "images", synthesize=True)
    embed_garments(garment_ids=list(Garment.objects.values_list("pk", flat=True)), space="text")
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {"query": "black watch", "relevant": {"articleType": ["Watches"]}},
                {"query": "men's t-shirts", "relevant": {"gender": ["Men"], "articleType": ["Tshirts"]}},
                {"query": "sports shoes under $100", "relevant": {"articleType": ["Sports Shoes"]}},
            ]
        )
    )
    out = io.StringIO()
    call_command("evaluate_search", "--queries", str(queries), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["queries"] == 3 and result["garments"] == 500
    assert set(result["modes"]) == {"hybrid", "vector", "keyword"}
    for scores in result["modes"].values():
        assert set(scores) == {"ndcg@10", "recall@50", "mrr"}
        assert all(0 <= value <= 1 for value in scores.values())
    assert result["modes"]["hybrid"]["ndcg@10"] > 0.5


def test_bad_query_files_are_command_errors(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        call_command("evaluate_search", "--queries", str(tmp_path / "missing.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"query": "x"}\n')
    with pytest.raises(CommandError, match=r"bad\.jsonl:1: not a query line"):
        call_command("evaluate_search", "--queries", str(tmp_path / "bad.jsonl"))
