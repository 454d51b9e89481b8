"""PNG plots of benchmark results: latency percentiles against catalogue size, QPS against concurrency.

Every run saves its report under var/bench/results/pgvector-<version>-<N>.json; the size plot draws
every size measured so far on this machine with the same pgvector (one line per mode and
percentile), so running the harness at 20,000, 100,000 and 1,000,000 garments builds the curve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODES = ("vector", "hybrid", "hybrid_facets", "filtered_1pct")


def save(report: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"pgvector-{report['pgvector']}-{report['garments']}.json"
    path.write_text(json.dumps(report, indent=1))
    return path


def write(report: dict[str, Any], folder: Path, results_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # no screen: files only
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    same_server = results_dir.glob(f"pgvector-{report['pgvector']}-*.json")
    reports = sorted((json.loads(path.read_text()) for path in same_server), key=lambda r: r["garments"])
    sizes = [r["garments"] for r in reports]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for mode in MODES:
        for percentile, style in (("p50", "-"), ("p95", "--")):
            values = [r["engine_ms"][mode][percentile] for r in reports if mode in r.get("engine_ms", {})]
            if len(values) == len(sizes):
                axes.plot(sizes, values, style, marker="o", label=f"{mode} {percentile}")
    for percentile, style in (("p50", "-"), ("p95", "--")):
        values = [r["raw_sql_ms"]["vector"][percentile] for r in reports]
        axes.plot(sizes, values, style, color="grey", marker=".", label=f"bare SQL vector {percentile}")
    axes.set_xscale("log")
    axes.set_xlabel("garments")
    axes.set_ylabel("milliseconds per search")
    axes.set_title(f"Engine latency by catalogue size (pgvector {report['pgvector']})")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    path = folder / "latency-by-size.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)

    http = report.get("http")
    if http:
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
        for mix in ("vector", "hybrid"):
            levels = http.get(mix, {}).get("levels", [])
            clients = [level["concurrency"] for level in levels]
            left.plot(clients, [level["qps"] for level in levels], marker="o", label=mix)
            right.plot(clients, [level["p99_ms"] for level in levels], marker="o", label=f"{mix} p99")
            right.plot(clients, [level["p50_ms"] for level in levels], "--", marker=".", label=f"{mix} p50")
        left.set_xlabel("concurrent clients")
        left.set_ylabel("requests per second")
        right.set_xlabel("concurrent clients")
        right.set_ylabel("milliseconds")
        for axis in (left, right):
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize=7)
        shape = f"{http['workers']} workers x {http['threads']} threads"
        figure.suptitle(f"HTTP at {report['garments']:,} garments ({shape})")
        figure.tight_layout()
        path = folder / f"http-{report['garments']}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
