"""Every management command answers hostile arguments with a CommandError that says what is wrong, and
changes nothing: never a traceback from deep inside, never a half-done run."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from garments.models import Garment
from garments.services import garment_create

pytestmark = pytest.mark.django_db


def _cases(tmp: Path) -> list[tuple[str, list[str]]]:
    binary = tmp / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    empty = tmp / "empty.csv"
    empty.write_bytes(b"")
    not_json = tmp / "queries.jsonl"
    not_json.write_text('{"q": "blue shirt", "relevant": [1]}\n{broken\n')
    return [
        ("backfill_embeddings", ["--space", "everything"]),
        ("backfill_embeddings", ["--batch-size", "0"]),
        ("backfill_embeddings", ["--batch-size", "-5"]),
        ("backfill_embeddings", ["--batch-size", "ten"]),
        ("backfill_embeddings", ["--limit", "-1"]),
        ("backfill_embeddings", ["--since", "yesterday-ish"]),
        ("backfill_embeddings", ["--since", "2026-13-45"]),
        ("backfill_embeddings", ["--since", "2026-01-01\x00"]),
        ("import_catalog", [str(tmp / "missing.csv")]),
        ("import_catalog", [str(tmp)]),  # a folder, not a file
        ("import_catalog", [str(binary)]),
        ("import_catalog", [str(empty)]),
        ("import_catalog", [str(empty), "--format", "excel"]),
        ("import_catalog", [str(empty), "--limit", "-3"]),
        ("import_catalog", [str(empty), "--images", str(tmp / "no-such-folder")]),
        ("extract_ontology", ["--batch-size", "0"]),
        ("extract_ontology", ["--limit", "-1"]),
        ("evaluate_ontology", ["--csv", str(tmp / "missing.csv")]),
        ("evaluate_ontology", ["--csv", str(binary)]),
        ("evaluate_ontology", ["--limit", "0"]),
        ("evaluate_search", ["--queries", str(tmp / "missing.jsonl")]),
        ("evaluate_search", ["--queries", str(not_json)]),
        ("rebuild_indexes", ["--index", "garment_everything_idx"]),
        ("benchmark_search", ["--garments", "0"]),
        ("benchmark_search", ["--garments", "-100"]),
        ("benchmark_search", ["--garments", "1000", "--queries", "0"]),
        ("benchmark_search", ["--garments", "1000", "--concurrency", "four"]),
        ("benchmark_search", ["--garments", "1000", "--source", str(tmp / "missing.csv")]),
        ("benchmark_embeddings", ["--queries", "-1"]),
    ]


CASE_IDS = [f"{name} {' '.join(args)}"[:80] for name, args in _cases(Path("/tmp"))]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_hostile_arguments_are_a_command_error_and_change_nothing(index: int, tmp_path: Path) -> None:
    name, args = _cases(tmp_path)[index]
    garment = garment_create(sku="keep-1", title="Blue denim jacket", price="40")
    before = list(Garment.objects.values_list("pk", "updated_at", "title"))
    with pytest.raises(CommandError) as raised:
        call_command(name, *args)
    assert str(raised.value).strip(), "a CommandError must say what is wrong"
    assert list(Garment.objects.values_list("pk", "updated_at", "title")) == before
    assert Garment.objects.get(pk=garment.pk).title == "Blue denim jacket"
