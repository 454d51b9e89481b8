"""benchmark_search end to end on a small catalogue of its own: the harness builds, measures and
reports every figure, in a database that is not the one the product uses."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bench import peer

PROJECT = Path(__file__).resolve().parent.parent.parent
HAS_LANCEDB = importlib.util.find_spec("lancedb") is not None


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: the command points its connection at prethrift_bench_N, which must never
    # happen inside the test session's connection to the test database.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "prethrift.settings.local", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "manage.py", "benchmark_search", *args],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
def test_benchmark_search_reports_every_figure(sample_dir, tmp_path):
    done = _run("--garments", "1000", "--source", str(sample_dir / "styles.csv"), "--queries", "20", "--rounds", "1",
                "--http", "--http-seconds", "2", "--concurrency", "2", "--plots", str(tmp_path), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["garments"] == 1000 and report["queries"] == 20
    assert set(report["recall@10"]) == {"unfiltered", "filter_1pct", "filter_10pct", "filter_50pct"}
    assert all(value >= 0.9 for value in report["recall@10"].values()), report["recall@10"]
    assert set(report["naive_recall@10"]) == set(report["recall@10"])
    for mode in ("vector", "hybrid", "hybrid_facets", "filtered_1pct"):
        assert 0 < report["engine_ms"][mode]["p50"] <= report["engine_ms"][mode]["p95"]
    assert report["raw_sql_ms"]["vector"]["p50"] > 0 and report["raw_sql_ms"]["hybrid"]["p50"] > 0
    assert 1 <= report["queries_per_search"]["vector"] <= report["queries_per_search"]["hybrid"] <= 6
    assert report["index"]["bytes"] > 0 and report["index"]["build_seconds"] >= 0
    http = report["http"]
    for mix in ("vector", "hybrid"):
        assert http[mix]["errors"] == 0 and http[mix]["requests"] > 0 and http[mix]["qps"] > 0
    assert report["rss_mb"]["web"] > 0
    assert (tmp_path / "latency-by-size.png").stat().st_size > 1000
    assert (tmp_path / "http-1000.png").stat().st_size > 1000
    # a second run reuses the catalogue it built
    again = _run("--garments", "1000", "--source", str(sample_dir / "styles.csv"), "--queries", "10", "--rounds", "1")
    assert again.returncode == 0 and "reused" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--garments", "10"], "between 1,000"), (["--queries", "3"], "--queries must be"),
     (["--concurrency", "a,b"], "numbers separated by commas"), (["--source", "/nonexistent.csv"], "is not there")],
)  # fmt: skip
def test_bad_arguments_are_command_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("benchmark_search", *args)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LANCEDB, reason="lancedb is not installed (`make benchmark-compare` installs it)")
def test_compare_runs_the_queries_through_lancedb(sample_dir):
    done = _run("--garments", "1000", "--source", str(sample_dir / "styles.csv"), "--queries", "20", "--rounds", "1",
                "--compare", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    compare = json.loads(done.stdout)["compare"]
    assert compare["engine"].startswith("lancedb ")
    assert compare["index"]["type"] == "IVF_HNSW_SQ" and compare["index"]["rows"] == 1000
    assert compare["index"]["bytes"] > 0 and compare["index"]["build_seconds"] >= 0
    assert set(compare["recall@10"]) == set(compare["ms"]) == {"unfiltered", "filter_1pct", "filter_10pct"}
    assert all(0 <= value <= 1 for value in compare["recall@10"].values()), compare["recall@10"]
    assert all(0 < ms["p50"] <= ms["p95"] for ms in compare["ms"].values()), compare["ms"]
    assert compare["settings"]["distance_type"] == "cosine" and compare["settings"]["prefilter"] is True


def test_compare_without_lancedb_says_how_to_install_it(monkeypatch):
    # None in sys.modules makes `import lancedb` raise ImportError, as when it is not installed: this
    # runs whether or not this machine has it. The check comes before any catalogue is built.
    monkeypatch.setitem(sys.modules, "lancedb", None)
    with pytest.raises(CommandError, match=r"make benchmark-compare.*lancedb==" + re.escape(peer.LANCEDB_VERSION)):
        call_command("benchmark_search", "--compare")


def test_makefile_installs_the_lancedb_version_the_error_names():
    pinned = re.search(r"^LANCEDB_VERSION := (\S+)$", (PROJECT / "Makefile").read_text(), re.MULTILINE)
    assert pinned is not None and pinned.group(1) == peer.LANCEDB_VERSION


def _replica_unavailable() -> str | None:
    from bench.pgcluster import unavailable_reason

    return unavailable_reason()


@pytest.mark.slow
@pytest.mark.skipif(_replica_unavailable() is not None, reason=f"no replica cluster here: {_replica_unavailable()}")
def test_replica_mode_serves_searches_from_the_streaming_replica(sample_dir):
    done = _run("--garments", "1000", "--source", str(sample_dir / "styles.csv"), "--queries", "10", "--rounds", "1",
                "--replica", "--concurrency", "2", "--http-seconds", "2", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    replica = json.loads(done.stdout)["replica"]
    for run in ("primary_only", "primary_and_replica"):
        for mix in ("vector", "hybrid"):
            assert replica[run][mix]["errors"] == 0 and replica[run][mix]["requests"] > 0
    served = replica["transactions_during_the_second_run"]
    assert served["replica"] > served["primary"], served  # searches read the replica, not the primary
