"""manage.py benchmark_search --garments N [--json]: search speed and recall at N garments, in a database of its own.

Builds (or reuses) a catalogue of N garments from the Myntra catalogue in `prethrift_bench_N` on the
same server as the configured database (never the user's data), then measures in one run: recall@10
against exact search (with the naive pgvector query beside it), engine latency per mode, the bare
SQL the engine sits on, statements per search, optionally HTTP throughput through gunicorn and the same
query vectors through an embedded peer engine (LanceDB, --compare), and memory. docs/performance.md
explains the method and carries the figures.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench import catalogue, measure, peer
from bench.database import bench_database_name, connection_kwargs, use_database
from prethrift.db_features import database_features

RECALL_FLOOR = 0.95
EVALUATION_QUERIES = Path(settings.BASE_DIR) / "search" / "evaluation" / "queries.jsonl"


class Command(BaseCommand):
    help = "Benchmark search (recall, engine and bare-SQL latency, HTTP) on a catalogue of N garments of its own."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--garments", type=int, default=20_000, help="catalogue size (default 20,000)")
        parser.add_argument("--queries", type=int, default=200, help="distinct queries (default 200)")
        parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default 3)")
        parser.add_argument("--source", type=Path, default=None, help="Myntra styles CSV (default: ../shared)")
        parser.add_argument("--http", action="store_true", help="also drive gunicorn over loopback")
        parser.add_argument("--http-seconds", type=float, default=15.0, help="seconds per HTTP load level")
        parser.add_argument("--concurrency", type=str, default="8", help="HTTP clients, comma-separated levels")
        parser.add_argument("--http-workers", type=int, default=None, help="gunicorn workers (default: as deployed)")
        parser.add_argument("--http-threads", type=int, default=None, help="threads per worker (default: as deployed)")
        parser.add_argument("--flamegraph", type=Path, default=None, help="py-spy flame graph of a worker (SVG)")
        parser.add_argument("--plots", type=Path, default=None, help="write PNG plots to this folder")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--compare", action="store_true",
            help="also run the same query vectors through LanceDB, an embedded peer engine (installed by "
            "`make benchmark-compare`, not a requirement)",
        )  # fmt: skip
        parser.add_argument("--http-only", action="store_true", help="only the catalogue and HTTP (implies --http)")
        parser.add_argument(
            "--replica", action="store_true",
            help="also HTTP against a primary, then a primary and a streaming replica, built from the machine's "
            "PostgreSQL on loopback (needs pgvector installed there)",
        )  # fmt: skip
        parser.add_argument(
            "--check", action="store_true",
            help=f"fail unless recall@10 >= {RECALL_FLOOR} for every filter and HTTP answered without errors "
            "(times are printed, never asserted: they drift with the machine)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        garments: int = options["garments"]
        if not 1_000 <= garments <= 10_000_000:
            raise CommandError("--garments must be between 1,000 and 10,000,000")
        if options["queries"] < 10 or options["rounds"] < 1:
            raise CommandError("--queries must be >= 10 and --rounds >= 1")
        levels = _levels(options["concurrency"])
        if options["compare"]:
            try:
                peer.require_lancedb()  # before minutes of catalogue building, not after
            except peer.PeerMissing as error:
                raise CommandError(str(error)) from None
        source: Path = options["source"] or catalogue.default_source()
        if not source.is_file():
            raise CommandError(
                f"{source} is not there: the benchmark reads a Myntra-format styles CSV (../shared/data/"
                "myntra-fashion-small/styles_clean.csv, or data/sample/styles.csv with --source)"
            )
        say = self.stderr.write if options["json"] else self.stdout.write

        # Measure what production runs: DEBUG would log every statement (slower, and unbounded memory).
        settings.DEBUG = False
        use_database(bench_database_name(garments))
        say(f"catalogue: {garments:,} garments in {bench_database_name(garments)}")
        started = time.perf_counter()
        built = catalogue.build(garments, source, Path(settings.VAR_DIR) / "bench",
                                progress=lambda n: say(f"  {n:,} rows written"))  # fmt: skip
        say(f"  {'reused' if built.reused else 'built'} in {time.perf_counter() - started:.1f} s")
        features = database_features(refresh=True)
        rows = catalogue.read_source(source)
        queries = measure.bench_queries(rows, options["queries"], EVALUATION_QUERIES)
        vectors = measure.query_vectors(queries)
        scenarios = measure.pick_scenarios()
        report: dict[str, Any] = {
            "garments": garments,
            "pgvector": ".".join(map(str, features.pgvector_version or ())),
            "postgres": features.server_version,
            "index": {
                "build_seconds": built.index_build_seconds,
                "bytes": built.index_bytes,
                "mb_per_10k": round(built.index_bytes / 2**20 / (garments / 10_000), 2),
                "table_bytes": built.table_bytes,
            },
            "filters": {s.name: {"filters": s.filters, "share": s.share} for s in scenarios},
            "queries": len(queries),
        }
        if options["http_only"]:
            from bench import http

            say("HTTP load through gunicorn ...")
            report["http"] = http.run(queries, levels, options["http_seconds"], workers=options["http_workers"],
                                      threads=options["http_threads"], say=say)  # fmt: skip
            self.stdout.write(json.dumps(report) if options["json"] else json.dumps(report, indent=2))
            return
        with measure.raw_connection(**connection_kwargs()) as raw:
            say("exact neighbours ...")
            truth = measure.Truth(scenarios, vectors, raw)  # one for our engine and the peer
            say("recall against exact search ...")
            report.update(measure.recall(scenarios, vectors, raw, truth=truth))
            say("engine latency ...")
            modes = measure.engine_modes(scenarios)
            report["engine_ms"], report["queries_per_search"] = measure.engine_latency(
                modes, queries, options["rounds"]
            )
            say("bare SQL latency ...")
            report["raw_sql_ms"] = measure.raw_latency(
                queries, vectors, measure.engine_ef_search(vectors), raw, options["rounds"]
            )
            if features.supports_halfvec:
                say("halfvec index ...")
                report["halfvec"] = measure.halfvec(vectors, raw)
            if options["compare"]:
                say("LanceDB on the same garments and queries ...")
                workdir = Path(settings.VAR_DIR) / "bench" / f"lancedb-{garments}"
                report["compare"] = peer.compare_lancedb(scenarios, vectors, truth, raw, workdir, options["rounds"])
        report["engine_over_raw_p95"] = {
            mode: round(report["engine_ms"][mode]["p95"] / report["raw_sql_ms"][raw_mode]["p95"], 2)
            for mode, raw_mode in (("vector", "vector"), ("hybrid", "hybrid"), ("hybrid_facets", "hybrid"))
        }
        if options["http"]:
            from bench import http

            say("HTTP load through gunicorn ...")
            report["http"] = http.run(queries, levels, options["http_seconds"], workers=options["http_workers"],
                                      threads=options["http_threads"], say=say,
                                      flamegraph=options["flamegraph"])  # fmt: skip
        report["rss_mb"] = measure.memory(report.get("http", {}).get("rss_web_mb"))
        if options["replica"]:
            from bench import replica

            say("HTTP with one primary, then a primary and a streaming replica ...")
            report["replica"] = replica.run(garments=garments, source=source, queries=options["queries"],
                                            levels=levels, seconds=options["http_seconds"], say=say)  # fmt: skip
        from bench import plots

        results_dir = Path(settings.VAR_DIR) / "bench" / "results"
        plots.save(report, results_dir)
        if options["plots"]:
            written = plots.write(report, options["plots"], results_dir)
            say("plots: " + ", ".join(str(path) for path in written))
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self.stdout.write(json.dumps(report, indent=2))
        if options["check"]:
            _check(report)


def _check(report: dict[str, Any]) -> None:
    failures = [f"recall@10 {name} {value} < {RECALL_FLOOR}" for name, value in report["recall@10"].items()
                if value < RECALL_FLOOR]  # fmt: skip
    for mix in ("vector", "hybrid"):
        errors = report.get("http", {}).get(mix, {}).get("errors", 0)
        if errors:
            failures.append(f"HTTP {mix}: {errors} errors")
    if failures:
        raise CommandError("benchmark floors not met: " + "; ".join(failures))


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--concurrency takes numbers separated by commas, not {text!r}") from None
    if not levels or any(not 1 <= level <= 256 for level in levels):
        raise CommandError("--concurrency levels must be between 1 and 256")
    return levels
