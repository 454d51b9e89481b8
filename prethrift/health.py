"""Liveness (/healthz) and readiness (/readyz) for load balancers and orchestrators.

/healthz says the process answers, and touches nothing else: were it to fail while the database is
down, an orchestrator would restart every healthy web process during a database outage, and the
restarts (model loads, cold connections) would slow the recovery. /readyz says whether this
process should get traffic: the database answers, pgvector is installed, every migration on disk
is applied, the configured query encoders are loaded, and the cache answers (optional unless
READINESS_REQUIRE_CACHE: search works without it, only slower). It is 200 or 503 with each check's
status and seconds, and never takes longer than READINESS_TIMEOUT: each probe runs its checks in
threads of their own and reports a check still running at the deadline as "timeout" (a database
that accepts connections but never answers, a lock held on django_migrations).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

OK, FAILING, TIMEOUT, LOADING, SKIPPED = "ok", "failing", "timeout", "loading", "skipped"


@dataclass
class CheckGroup:
    """Checks that run one after another in one thread (the database ones share a connection)."""

    name: str
    names: tuple[str, ...]
    run: Callable[[dict[str, dict[str, Any]]], None]  # fills results[name] as each check finishes
    required: Callable[[str], bool] = field(default=lambda name: True)


def _timed(results: dict[str, dict[str, Any]], name: str, check: Callable[[], dict[str, Any]]) -> bool:
    """Run one check into results[name]; whether it passed. Errors are named, not described: the
    probe is unauthenticated, and a driver's message names hosts and ports (it goes to the log)."""
    started = time.monotonic()
    try:
        outcome = check()
    except Exception as error:  # a readiness check reports every failure; it must never raise
        logger.warning("readiness check %s failed: %s: %s", name, type(error).__name__, str(error).strip())
        outcome = {"status": FAILING, "error": type(error).__name__}
    outcome.setdefault("status", OK)
    outcome["seconds"] = round(time.monotonic() - started, 4)
    results[name] = outcome
    return bool(outcome["status"] == OK)


def _database_checks(results: dict[str, dict[str, Any]]) -> None:
    """database, pgvector, migrations on this thread's own connection, closed afterwards."""
    connection = connections["default"]
    try:

        def database() -> dict[str, Any]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return {}

        def pgvector() -> dict[str, Any]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                row = cursor.fetchone()
            if row is None:
                return {"status": FAILING, "error": "the vector extension is not installed"}
            return {"version": row[0]}

        def migrations() -> dict[str, Any]:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            unapplied = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
            if unapplied:
                return {"status": FAILING, "error": "unapplied migrations", "unapplied": unapplied}
            return {}

        if not _timed(results, "database", database):
            for name in ("pgvector", "migrations"):
                results[name] = {"status": SKIPPED, "error": "the database did not answer", "seconds": 0.0}
            return
        _timed(results, "pgvector", pgvector)
        _timed(results, "migrations", migrations)
    finally:
        connection.close()


def _cache_check(results: dict[str, dict[str, Any]]) -> None:
    """A write and a read back: the Redis cache swallows its errors (IGNORE_EXCEPTIONS), so a get
    alone cannot tell a miss from a cache that is down."""

    def cache() -> dict[str, Any]:
        store, token = caches["default"], secrets.token_hex(8)
        store.set("readyz:probe", token, timeout=60)
        if store.get("readyz:probe") != token:
            return {"status": FAILING, "error": "the cache did not return what was written"}
        return {}

    _timed(results, "cache", cache)
    results["cache"]["required"] = settings.READINESS_REQUIRE_CACHE


_encoder_loads: dict[str, Future[None]] = {}
_encoder_lock = threading.Lock()


def _start_encoder_load(space: str) -> Future[None]:
    """Load `space`'s encoder once, in the background: a probe reports "loading" meanwhile rather
    than waiting seconds for a model; a failed load is retried by the next probe."""
    from embeddings.registry import get_encoder

    with _encoder_lock:
        load = _encoder_loads.get(space)
        if load is not None and not (load.done() and load.exception() is not None):
            return load
        load = Future()
        _encoder_loads[space] = load

    def run() -> None:
        try:
            get_encoder(space)  # type: ignore[arg-type]
        except BaseException as error:  # reported by the probe, and retried by the next one
            load.set_exception(error)
        else:
            load.set_result(None)

    threading.Thread(target=run, name=f"readyz-encoder-{space}", daemon=True).start()
    return load


def _encoder_check(results: dict[str, dict[str, Any]]) -> None:
    from embeddings.registry import configured_spaces

    def encoders() -> dict[str, Any]:
        spaces: dict[str, str] = {}
        for space in configured_spaces():
            load = _start_encoder_load(space)
            if not load.done():
                spaces[space] = LOADING
            elif load.exception() is not None:
                error = load.exception()
                logger.warning("readiness: the %s encoder did not load: %s", space, error)
                spaces[space] = f"{FAILING}: {type(error).__name__}"
            else:
                spaces[space] = "loaded"
        status = OK if all(state == "loaded" for state in spaces.values()) else FAILING
        return {"status": status, "spaces": spaces}

    _timed(results, "encoders", encoders)


CHECK_GROUPS = [
    CheckGroup("database", ("database", "pgvector", "migrations"), _database_checks),
    CheckGroup("cache", ("cache",), _cache_check, required=lambda name: bool(settings.READINESS_REQUIRE_CACHE)),
    CheckGroup("encoders", ("encoders",), _encoder_check),
]
# A group still running from an earlier probe (hung on a lock or a silent server) is not started
# again: each probe would otherwise leave one more thread and connection behind.
_running: dict[str, threading.Thread] = {}
_running_lock = threading.Lock()


def readiness(timeout: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether this process is ready, and the body: every check's status and seconds."""
    timeout = settings.READINESS_TIMEOUT if timeout is None else timeout
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    threads: list[threading.Thread] = []
    for group in CHECK_GROUPS:
        with _running_lock:
            previous = _running.get(group.name)
            if previous is not None and previous.is_alive():
                for name in group.names:
                    results[name] = {"status": TIMEOUT, "error": "still running since an earlier probe"}
                continue
            thread = threading.Thread(target=group.run, args=(results,), name=f"readyz-{group.name}", daemon=True)
            _running[group.name] = thread
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, timeout - (time.monotonic() - started)))
    checks: dict[str, dict[str, Any]] = {}
    ready = True
    for group in CHECK_GROUPS:
        for name in group.names:
            outcome = dict(results.get(name) or {"status": TIMEOUT, "error": f"no answer within {timeout:g} s"})
            checks[name] = outcome
            if outcome["status"] != OK and group.required(name):
                ready = False
    body = {"status": "ok" if ready else "unavailable", "seconds": round(time.monotonic() - started, 4),
            "checks": checks}  # fmt: skip
    return ready, body


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches neither the database nor the cache (see the module)."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every required check passes, else 503 naming the checks that failed."""
    ready, body = readiness()
    if not ready:
        failed = [name for name, outcome in body["checks"].items() if outcome["status"] != OK]
        logger.warning("not ready: %s", ", ".join(failed))
    response = JsonResponse(body, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    # Said once above at WARNING: without this, django.request would also log every probe's 503 at
    # ERROR, one error line per probe for the whole length of an outage.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
