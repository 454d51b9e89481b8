"""The alert rules (deploy/prometheus/alerts.yml) are valid, each has promtool unit tests that show it
firing and not firing, and each points at its section of the runbook (docs/alerts.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RUNBOOK = PROJECT_ROOT / "docs" / "alerts.md"
# The scrape job the alerts and the dashboard select on (each host's /metrics merges its workers' values),
# and the optional one for worker-only hosts (commented out in the example config).
JOBS = {"prethrift-web"}
OPTIONAL_JOBS = {"prethrift-worker"}


def find_promtool() -> str:
    """promtool on PATH, or the one `make promtool` puts in the venv; skips, saying why, when neither exists."""
    beside_python = Path(sys.executable).parent / "promtool"
    found = shutil.which("promtool") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        pytest.skip("promtool is not installed (`make promtool` takes it from Debian's prometheus package)")
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_promtool(), *args], capture_output=True, text=True, check=False, cwd=PROJECT_ROOT)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def markdown_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_an_alert_is_broken(tmp_path: Path) -> None:
    """The unit tests have teeth: the latency alert with its threshold raised to 1 s fails them."""
    threshold = "rate(vector_search_duration_seconds_bucket[5m]))) > "
    broken = ALERTS.read_text().replace(threshold + "0.5", threshold + "1")
    assert broken != ALERTS.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts.test.yml").write_text(ALERT_TESTS.read_text())
    result = promtool("test", "rules", str(tmp_path / "alerts.test.yml"))
    assert result.returncode != 0
    assert "alertname: VectorSearchLatency" in result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    cases = [case for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for rule in alert_rules():
        own = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in own), f"{rule['alert']} is never tested firing"
        assert any(not case["exp_alerts"] for case in own), f"{rule['alert']} is never tested not firing"


def test_the_guides_two_alerts_are_as_specified() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    latency, failures = rules["VectorSearchLatency"], rules["EmbeddingGenerationFailed"]
    assert latency["expr"] == (
        "histogram_quantile(0.95, sum by (le) (rate(vector_search_duration_seconds_bucket[5m]))) > 0.5"
    )
    assert (latency["for"], latency["labels"]["severity"]) == ("5m", "warning")
    assert "increase(embedding_generation_failures_total[5m])) > 10" in failures["expr"]
    assert (failures["for"], failures["labels"]["severity"]) == ("1m", "critical")


def test_every_alert_has_its_annotations_and_a_runbook_section() -> None:
    anchors = markdown_anchors(RUNBOOK.read_text())
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alert_rules():
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/alerts.md", rule["alert"]
        assert anchor == rule["alert"].lower() and anchor in anchors, f"docs/alerts.md has no section #{anchor}"


def test_the_scrape_config_is_valid_and_keeps_the_token_out_of_it() -> None:
    result = promtool("check", "config", "--syntax-only", str(SCRAPE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) >= JOBS
    web = jobs["prethrift-web"]
    assert web["metrics_path"] == "/metrics"
    assert web["authorization"]["type"] == "Bearer"
    assert "credentials_file" in web["authorization"] and "credentials" not in web["authorization"]
    assert config["rule_files"] == ["alerts.yml"]
    # Every job an alert selects on is scraped under that name.
    selected = {job for rule in alert_rules() for job in re.findall(r'job=~?"([^"]+)"', rule["expr"])}
    assert {name for pattern in selected for name in pattern.split("|")} <= set(jobs) | OPTIONAL_JOBS
    for job in OPTIONAL_JOBS:
        assert f"# - job_name: {job}" in SCRAPE_CONFIG.read_text()
