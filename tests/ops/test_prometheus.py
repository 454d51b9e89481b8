"""A real Prometheus, with deploy/prometheus/prometheus.yml and alerts.yml, scrapes gunicorn under production
settings: the bearer token read from a file is accepted (a wrong one is not), every alert rule and every
dashboard expression evaluates without error on the real series, and the zero-result share computes from
real searches. Prometheus is Debian's binary (`make promtool` puts it in the venv), started here on a
loopback port of its own and stopped at the end."""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.embeddings.test_tasks import _database_url
from tests.factories import GarmentFactory
from tests.faults.servers import Gunicorn, free_port, production_env, request, stop_process, wait_for
from tests.ops.test_alerts import ALERTS, SCRAPE_CONFIG, alert_rules
from tests.ops.test_dashboard import dashboard_expressions

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Grafana's $__rate_interval, at least four scrape intervals; here scrapes are 1 s apart.
RATE_INTERVAL = "20s"


def find_prometheus() -> str:
    beside_python = Path(sys.executable).parent / "prometheus"
    found = str(beside_python) if beside_python.exists() else shutil.which("prometheus")
    if found is None:
        pytest.skip("prometheus is not installed (`make promtool` takes it from Debian's prometheus package)")
    return found


class Prometheus:
    """prometheus on a free loopback port with its data in a temporary folder; its log for failure messages."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.port = free_port()
        self.log_path = folder / "prometheus.log"
        self.args = [
            find_prometheus(), f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]  # fmt: skip

    def __enter__(self) -> Prometheus:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT)
        assert wait_for(self._ready, timeout=60), self.log()[-3000:]
        return self

    def __exit__(self, *args: object) -> None:
        stop_process(self.process)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        try:
            return request(self.port, "/-/ready", timeout=5).status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def values(self, query: str) -> dict[str, float]:
        """Each series of an instant query, keyed by its labels as JSON."""
        return {
            json.dumps(item["metric"], sort_keys=True): float(item["value"][1])
            for item in self.api("query", query=query)["result"]
        }


def scrape_config(folder: Path, web_port: int, token: str) -> Path:
    """The example config with its targets pointed here, scraping every second, plus a job with a wrong token."""
    (folder / "token").write_text(token + "\n")  # a trailing newline, as `echo > file` writes it
    (folder / "wrong-token").write_text("not-" + token)
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]
    (web,) = [job for job in config["scrape_configs"] if job["job_name"] == "prethrift-web"]
    web["static_configs"] = [{"targets": [f"127.0.0.1:{web_port}"]}]
    web["authorization"]["credentials_file"] = str(folder / "token")
    wrong = copy.deepcopy(web)
    wrong["job_name"] = "wrong-token"
    wrong["authorization"]["credentials_file"] = str(folder / "wrong-token")
    config["scrape_configs"] = [web, wrong]  # no postgres_exporter here
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def stack(tmp_path: Path, settings: Any) -> Iterator[tuple[Gunicorn, Prometheus]]:
    token = secrets.token_urlsafe(24)
    env = production_env(
        database_url=_database_url(), port=free_port(), GUNICORN_WORKERS="2", METRICS_TOKEN=token,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), SEARCH_ALLOW_ANONYMOUS="true",
        METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS="0", DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )  # fmt: skip
    find_prometheus()  # skip before starting anything
    with Gunicorn(env, tmp_path / "gunicorn.log") as web:
        config = scrape_config(tmp_path, web.port, token)
        with Prometheus(config, tmp_path) as prometheus:
            yield web, prometheus


def test_prometheus_scrapes_production_gunicorn_and_evaluates_every_rule_and_panel(
    stack: tuple[Gunicorn, Prometheus],
) -> None:
    web, prometheus = stack
    # given a few garments and a search
    GarmentFactory.create_batch(3, title="Red cotton dress")
    assert request(web.port, "/api/v1/search/?q=red+dress").status == 200

    # then the token from the file is accepted, and a wrong one is not (PrethriftTargetDown's 401 case)
    def up(job: str) -> float | None:
        values = prometheus.values(f'up{{job="{job}"}}')
        return next(iter(values.values()), None)

    assert wait_for(lambda: up("prethrift-web") == 1 and up("wrong-token") == 0, timeout=60), (
        prometheus.api("targets"),
        prometheus.log()[-2000:],
    )
    # and the search is in Prometheus; then one that finds nothing lands in the le="0.0" bucket the alert selects
    assert wait_for(lambda: sum(prometheus.values("search_results_count").values()) >= 1, timeout=60)
    for path in ("/api/v1/search/?q=cotton", "/api/v1/search/?q=dress&price_max=0"):
        assert request(web.port, path).status == 200
    assert wait_for(lambda: sum(prometheus.values("search_results_count").values()) >= 3, timeout=60)
    assert sum(prometheus.values('search_results_bucket{le="0.0"}').values()) >= 1
    # and the dashboard's zero-result share sees it (while those searches are in its window)
    (zero_share,) = [expr for title, expr in dashboard_expressions() if title == "Zero-result rate"]
    query = zero_share.replace("$__rate_interval", RATE_INTERVAL)
    assert wait_for(lambda: any(value > 0 for value in prometheus.values(query).values()), timeout=60), (
        prometheus.values(query)
    )

    # and every alert rule has been evaluated on these series without an error
    def evaluated_rules() -> list[dict[str, Any]]:
        groups = prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        done = all(rule["lastEvaluation"] > "2000" for rule in rules)  # never evaluated: "0001-01-01T00:00:00Z"
        return rules if done else []

    assert wait_for(lambda: bool(evaluated_rules()), timeout=60), prometheus.log()[-3000:]
    rules = evaluated_rules()
    assert {rule["name"] for rule in rules} == {rule["alert"] for rule in alert_rules()}
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken, broken

    # and the target and job alerts are quiet for a target that answers (PrethriftJobAbsent may be pending
    # from an evaluation before the first scrape: it clears at the next one)
    def active() -> set[str]:
        alerts = prometheus.api("alerts")["alerts"]
        return {alert["labels"]["alertname"] for alert in alerts} & {
            "PrethriftTargetDown", "PrethriftJobAbsent", "HighErrorRate"
        }  # fmt: skip

    assert wait_for(lambda: not active(), timeout=30), prometheus.api("alerts")

    # and every dashboard expression evaluates on the real series
    for _title, expr in dashboard_expressions():
        prometheus.api("query", query=expr.replace("$__rate_interval", RATE_INTERVAL))  # asserts success
