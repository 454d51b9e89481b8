# Prethrift: `make demo` runs the product on an embedded PostgreSQL, `make test` runs every test.
# Both set everything up first (a .venv with pinned packages), and a second run skips what is done.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
SAMPLE := data/sample
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo setup-demo serve test browser screenshots fuzz faults soak audit lint format migrations-check promtool alerts-check benchmark benchmark-search benchmark-deps benchmark-compare stop-db clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Migrate, import the sample catalogue (idempotent: a second run changes nothing), create the demo users.
setup-demo: $(STAMP)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py import_catalog $(SAMPLE)/styles.csv --images $(SAMPLE)/images --synthesize-missing
	$(PY) manage.py extract_ontology
	$(PY) manage.py backfill_embeddings --space all
	$(PY) manage.py demo_users

serve: $(STAMP)
	@echo ""
	@echo "Prethrift is starting at http://$(HOST):$(PORT)/"
	@echo "  search:   http://$(HOST):$(PORT)/   (try: blue shirt under \$$50)"
	@echo "  admin:    http://$(HOST):$(PORT)/admin/   (user: admin, password: admin; playground and status pages inside)"
	@echo "  API root: http://$(HOST):$(PORT)/api/v1/   (search: /api/v1/search/?q=..., docs: /api/docs/ and /api/redoc/)"
	@echo "  metrics:  http://$(HOST):$(PORT)/metrics"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

demo: setup-demo serve

# PYTEST_ARGS narrows a run, e.g. PYTEST_ARGS='-m "not fuzz and not faults"' (CI's embedded-database leg).
PYTEST_ARGS ?=
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The reliability suites (docs/reliability.md), also part of `make test`:
# the API fuzzed from its OpenAPI schema (FUZZ_EXAMPLES per operation and role; var/fuzz/report.json) ...
fuzz: $(STAMP)
	$(PY) -m pytest tests/fuzz -p no:cacheprovider

# ... the page, the admin and the API docs in Debian's Chromium through Playwright (tests/browser; screenshots of
# failures in var/browser/) ...
browser: $(STAMP)
	$(PY) -m pytest tests/browser -p no:cacheprovider

# docs/img/*.png from a running `make demo` (docs/screenshots.py).
screenshots: $(STAMP)
	$(PY) docs/screenshots.py --url http://$(HOST):$(PORT)

# ... and real services stopped or killed under the system (PostgreSQL, Redis, a Celery worker, OpenAI).
faults: $(STAMP)
	$(PY) -m pytest tests/faults -p no:cacheprovider

# A bounded soak (~2.5 minutes): capacity measured, then 80% of it for 60 s with text and image searches and
# staff edits through gunicorn; JSON figures; fails on any error or memory growth (bench/soak.py).
SOAK_ARGS ?=
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

# Known vulnerabilities in the pinned requirements (pip-audit); says so plainly when it cannot reach its data.
audit: $(STAMP)
	$(PY) .ci/audit.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: $(STAMP)
	$(PY) manage.py benchmark_embeddings --json

# Search at scale (docs/performance.md#search-at-scale): BENCH_GARMENTS garments in a database of its own,
# with HTTP, LanceDB beside us, and a primary + streaming replica built from the machine's PostgreSQL.
# Fails only on recall below 0.95 or an HTTP error; times are printed.
# BENCH_ARGS sizes the run: the default keeps CI's under ~7 minutes on 2 cores.
BENCH_GARMENTS ?= 20000
BENCH_ARGS ?= --queries 100 --rounds 2 --concurrency 4,8 --http-seconds 5
benchmark-search: benchmark-deps
	$(PY) manage.py benchmark_search --garments $(BENCH_GARMENTS) $(BENCH_ARGS) --http --compare --replica --check --json

# LanceDB, the embedded peer engine the benchmark compares with: installed for the benchmark only, never a
# requirement of the product. Keep LANCEDB_VERSION in step with bench/peer.py.
LANCEDB_VERSION := 0.40.0
benchmark-deps: $(STAMP)
	$(PY) -c "import lancedb" 2>/dev/null || $(PY) -m pip install --quiet lancedb==$(LANCEDB_VERSION)

benchmark-compare: benchmark-deps
	$(PY) manage.py benchmark_search --garments $(BENCH_GARMENTS) --compare --json

# promtool checks the alert rules and runs their unit tests (deploy/prometheus; tests/ops/test_alerts.py), and
# tests/ops/test_prometheus.py runs a real Prometheus with our scrape config and rules against gunicorn. Both
# binaries are taken from Debian's prometheus package into the venv: no Prometheus service is installed or
# started, and the tests start theirs on a loopback port of their own.
PROMTOOL := $(VENV)/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL): | $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && \
	  { apt-get download -qq -o APT::Sandbox::User=root prometheus 2>/dev/null || \
	    { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root prometheus; }; } && \
	  dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool ./usr/bin/prometheus && \
	  mv usr/bin/prometheus "$(CURDIR)/$(VENV)/bin/prometheus" && mv usr/bin/promtool "$(CURDIR)/$@"
	@$@ --version | head -1

alerts-check: $(PROMTOOL)
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	$(PROMTOOL) test rules deploy/prometheus/alerts.test.yml
	$(PROMTOOL) check config --syntax-only deploy/prometheus/prometheus.yml

# No model change without its migration, and no migration that would lock the garments table for long unreviewed.
migrations-check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check_migration_locks

# The embedded PostgreSQL outlives the processes that use it (like any local server); this stops it.
stop-db: $(STAMP)
	$(PY) manage.py embedded_db stop

clean: stop-db
	rm -rf var media
