"""The Grafana dashboard and the alert rules name only metrics the code exports: the names are read
from the running registry (every module that defines a metric imported, /metrics served once), so a
metric renamed in the code breaks this test instead of leaving an empty panel or an alert that never
fires."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from prethrift.metrics import SCRAPE_TIME_COLLECTORS
from tests.conftest import PROJECT_ROOT
from tests.ops.test_alerts import ALERTS, find_promtool

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "prethrift.json"
EXPORTER_QUERIES = PROJECT_ROOT / "deploy" / "prometheus" / "postgres-exporter-queries.yml"
# Series that Prometheus itself writes for every target, not the code.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Suffixes of the series each metric type exposes (prometheus_client's family names carry none).
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "inf", "nan",
}  # fmt: skip
SKIP_DIRS = {".venv", "tests", "migrations", "var", "bench", "node_modules", "data"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
    names, strings, durations or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, label_replace arguments)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables ($__rate_interval)
    names = set()
    for match in re.finditer(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, is_call = match.group(1), match.group(2)
        if not is_call and word.lower() not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def exporter_series() -> set[str]:
    """Series postgres_exporter writes from our custom queries: <query>_<column> for each value column."""
    queries: dict[str, Any] = yaml.safe_load(EXPORTER_QUERIES.read_text())
    return {
        f"{query}_{column}"
        for query, spec in queries.items()
        for metric in spec["metrics"]
        for column, options in metric.items()
        if options["usage"] in {"GAUGE", "COUNTER"}
    }


def _in_package(path: Path) -> bool:
    """Whether a file is importable as a module of ours: every folder from the root down to it is a package."""
    folder = path.parent
    while folder != PROJECT_ROOT:
        if not (folder / "__init__.py").exists():
            return False
        folder = folder.parent
    return folder != path.parent


def metric_modules() -> list[str]:
    """Every project module that uses prometheus_client (metric definitions live beside their code)."""
    modules = []
    for path in sorted(PROJECT_ROOT.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT)
        if SKIP_DIRS.intersection(relative.parts) or not _in_package(path):
            continue
        if re.search(r"^\s*(from prometheus_client\b|import prometheus_client\b)", path.read_text(), re.MULTILINE):
            modules.append(".".join(relative.with_suffix("").parts))
    return modules


def declared(collector: Collector) -> Iterable[Metric]:
    """The families a collector declares (describe()), whether or not it has values to serve now."""
    describe: Callable[[], Iterable[Metric]] | None = getattr(collector, "describe", None)
    assert describe is not None, f"{collector!r} declares nothing: its metrics cannot be checked"
    return describe()


@pytest.fixture(scope="module")
def imported_metric_modules() -> list[str]:
    modules = metric_modules()
    for module in modules:
        importlib.import_module(module)
    return modules


@pytest.fixture
def exported_series(imported_metric_modules: list[str], settings: Any, db: None) -> set[str]:
    """The series names the code exports: the families /metrics serves (read from the response), those
    of this process's registry (labelled metrics with no value yet included), and those the scrape-time
    collectors declare (they serve nothing when their source, such as the broker, is not there)."""
    settings.METRICS_TOKEN = "ops-test-token"
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ops-test-token")
    assert response.status_code == 200, response.content[:300]
    families = [
        *text_string_to_metric_families(response.content.decode()),
        *REGISTRY.collect(),
        *(family for collector in SCRAPE_TIME_COLLECTORS for family in declared(collector)),
    ]
    names = {family.name + suffix for family in families for suffix in SERIES_SUFFIXES[family.type]}
    return names | PROMETHEUS_SERIES | exporter_series()


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return [panel for panel in panels if panel["type"] != "row"]


def dashboard_expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard_panels() for target in panel["targets"]]


def alert_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, space) (rate(foo_seconds_bucket{le="0.0", job=~"a|b"}[5m] offset 1d)))'
        ' / on (space) group_left (mode) bar_total > bool 1e3 and absent(up{job="x"}) or baz'
        ' * label_replace(qux, "dst", "$1", "src", "(.*)") + rate(quux[$__rate_interval])'
    )
    assert metric_names(expr) == {"foo_seconds_bucket", "bar_total", "up", "baz", "qux", "quux"}


def test_the_registry_check_catches_a_renamed_metric(exported_series: set[str]) -> None:
    """The check has teeth: a name the code does not export is reported, the real ones are not."""
    assert {"vector_search_duration_seconds_bucket", "embedding_generation_failures_total", "up"} <= exported_series
    # django-prometheus's counter names hold "_total" in the middle; prometheus_client still appends it.
    assert "django_http_responses_total_by_status_view_method_total" in exported_series
    assert "django_http_responses_total_by_status_view_method" not in exported_series
    assert metric_names("rate(vector_search_seconds_bucket[5m])") - exported_series == {"vector_search_seconds_bucket"}


def test_every_dashboard_expression_names_an_exported_metric(exported_series: set[str]) -> None:
    unknown = {
        (title, name) for title, expr in dashboard_expressions() for name in metric_names(expr) - exported_series
    }
    assert not unknown, f"dashboard panels read metrics nothing exports: {sorted(unknown)}"


def test_every_alert_expression_names_an_exported_metric(exported_series: set[str]) -> None:
    unknown = {(alert, name) for alert, expr in alert_expressions() for name in metric_names(expr) - exported_series}
    assert not unknown, f"alerts read metrics nothing exports: {sorted(unknown)}"


def test_the_dashboard_shows_what_operations_need() -> None:
    exprs = " ".join(expr for _, expr in dashboard_expressions())
    titles = [panel["title"] for panel in dashboard_panels()]
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(vector_search_duration_seconds_bucket" in exprs
    for needed in (
        "rate(vector_search_duration_seconds_count",  # search rate
        "rate(embeddings_computed_total",  # embedding rate
        "embedding_generation_failures_total",
        "garments_missing_embeddings",
        "vector_search_recall",
        'query_embedding_cache_total{result="hit"}',
        'search_results_bucket{le="0.0"}',  # zero-result rate, with prometheus_client's float bound
        "pg_hnsw_index_bytes",
    ):
        assert needed in exprs, needed
    assert len(titles) == len(set(titles)), "panel titles must be unique"
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_uses_the_dashboards_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's expression (as a recording rule, Grafana's $__rate_interval as 5m)."""
    promtool = find_promtool()
    rules = [
        {"record": f"prethrift:panel_{index}", "expr": expr.replace("$__rate_interval", "5m")}
        for index, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_zero_result_bucket_is_served_as_le_0_0(exported_series: set[str]) -> None:
    """The zero-result panel and alert select le="0.0": that is how prometheus_client writes the 0 bound
    of search_results (le="0" would match no series, and the alert could never fire)."""
    from search.metrics import search_results

    search_results.labels(mode="text").observe(0)
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ops-test-token")
    zero_buckets = re.findall(r"^search_results_bucket\{([^}]*)\}", response.content.decode(), re.MULTILINE)
    assert any('le="0.0"' in labels for labels in zero_buckets), zero_buckets
    assert not any('le="0"' in labels for labels in zero_buckets)
    for where in (DASHBOARD.read_text(), ALERTS.read_text()):
        assert "search_results_bucket" in where
        assert 'search_results_bucket{le=\\"0\\"}' not in where and 'search_results_bucket{le="0"}' not in where
