"""Read replicas for search: which database a search reads from.

Searches read a streaming replica when one is configured (DATABASE_REPLICA_URLS), reachable and at
most DATABASE_REPLICA_MAX_LAG seconds behind; everything else reads and writes the primary. A
client that has just written reads the primary for DATABASE_REPLICA_STICKY_SECONDS, so it sees its
own write: within a request (the write marks the context), and across requests by a signed cookie.
docs/scaling.md describes the whole arrangement.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from prometheus_client import Counter, Gauge

logger = logging.getLogger(__name__)

REPLICA_ALIAS_PREFIX = "replica_"  # settings/base.py names each DATABASE_REPLICA_URLS entry replica_<n>
COOKIE_NAME = "prethrift_rw"
COOKIE_SALT = "prethrift.replicas.read-your-writes"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# In recovery: whether all WAL received has been replayed, and the age of the last replayed commit.
LAG_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
)
# Statements that change data: seeing one on the primary during a request makes the client sticky.
_WRITE_STATEMENT = re.compile(r"\s*(insert|update|delete|merge|truncate)\b", re.IGNORECASE)

database_replica_lag_seconds = Gauge(
    "database_replica_lag_seconds",
    "Replay lag of each read replica at its last probe, in seconds; NaN when unreachable or unknown.",
    ["replica"],
    multiprocess_mode="livemostrecent",  # each process probes; the latest probe of a running one counts
)
database_replica_healthy = Gauge(
    "database_replica_healthy", "1 when the replica serves searches (reachable, lag within limit), else 0.",
    ["replica"], multiprocess_mode="livemostrecent",
)  # fmt: skip
search_database_total = Counter(
    "search_database_total", "Searches by the database alias they read from (default is the primary).", ["database"]
)

# Unix time of this context's last write (from the request's cookie, or mark_written()), and whether
# the context is pinned to the primary. Context variables, so each request and thread has its own.
_written_at: ContextVar[float] = ContextVar("prethrift_written_at", default=0.0)
_pinned: ContextVar[bool] = ContextVar("prethrift_pinned_to_primary", default=False)


@dataclass
class _Health:
    healthy: bool | None = None  # None: never probed
    checked_at: float = -math.inf  # time.monotonic() of the last probe
    probing: bool = False  # a thread is probing now; the others use the last result meanwhile


_health: dict[str, _Health] = {}
_lock = threading.Lock()  # guards _health and _rotation: gunicorn gthread workers search from many threads
_rotation = itertools.count()


def replica_aliases() -> list[str]:
    """The configured read replicas' database aliases (replica_0, replica_1, ...)."""
    return sorted(alias for alias in connections if alias.startswith(REPLICA_ALIAS_PREFIX))


def search_database() -> str:
    """The database alias a search reads from: a healthy, caught-up replica, else the primary."""
    alias = _choose()
    search_database_total.labels(database=alias).inc()
    return alias


def _choose() -> str:
    aliases = replica_aliases()
    if not aliases or must_read_primary():
        return DEFAULT_DB_ALIAS
    healthy = [alias for alias in aliases if _is_healthy(alias)]
    if not healthy:
        return DEFAULT_DB_ALIAS
    with _lock:
        turn = next(_rotation)
    return healthy[turn % len(healthy)]


def must_read_primary() -> bool:
    """Whether reads in this context must see the primary's latest data (pinned, just written, in a transaction)."""
    if _pinned.get():
        return True
    if time.time() - _written_at.get() < settings.DATABASE_REPLICA_STICKY_SECONDS:
        return True
    # Inside a transaction on the primary, its own uncommitted writes exist only there.
    return connections[DEFAULT_DB_ALIAS].in_atomic_block


def mark_written() -> None:
    """Reads in this context go to the primary for DATABASE_REPLICA_STICKY_SECONDS, so they see this write."""
    _written_at.set(time.time())


@contextlib.contextmanager
def pinned_to_primary() -> Iterator[None]:
    """Searches inside read the primary: for commands and services that must read their own writes."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


# --- health ------------------------------------------------------------------------------------


def replay_lag(in_recovery: bool, caught_up: bool | None, seconds: Decimal | float | None) -> float | None:
    """Seconds a replica is behind, from LAG_SQL's row; None when unknown (treated as unhealthy).

    Caught up (everything received is replayed) is 0 however old the last replayed commit is: an idle
    primary commits nothing, so the age of the last commit says nothing. A server out of recovery
    (promoted) is its own primary: 0.
    """
    if not in_recovery or caught_up:
        return 0.0
    if seconds is None:
        return None
    return max(0.0, float(seconds))  # the two servers' clocks may differ by a little


def _is_healthy(alias: str) -> bool:
    """Reachable and within DATABASE_REPLICA_MAX_LAG, probed at most every DATABASE_REPLICA_CHECK_SECONDS."""
    with _lock:
        health = _health.setdefault(alias, _Health())
        fresh = time.monotonic() - health.checked_at < settings.DATABASE_REPLICA_CHECK_SECONDS
        if fresh or health.probing:
            return bool(health.healthy)
        health.probing = True
    healthy = False
    try:
        lag, problem = _probe(alias)
        limit = settings.DATABASE_REPLICA_MAX_LAG
        if lag is not None and lag > limit:
            problem = f"{lag:.1f} s behind the primary (limit {limit:g} s)"
        healthy = problem is None
        database_replica_lag_seconds.labels(replica=alias).set(math.nan if lag is None else lag)
        database_replica_healthy.labels(replica=alias).set(1 if healthy else 0)
    finally:
        with _lock:
            was = health.healthy
            health.healthy, health.checked_at, health.probing = healthy, time.monotonic(), False
    if healthy and was is not True:
        logger.info("read replica %s serves searches (lag %.1f s)", alias, lag)
    elif not healthy and was is not False:
        logger.warning("read replica %s is %s: searches read the primary until it recovers", alias, problem)
    return healthy


def _probe(alias: str) -> tuple[float | None, str | None]:
    """(lag, problem) of one replica; never raises: a replica that fails the probe is only unhealthy."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, caught_up, seconds = cursor.fetchone()
    # Broad on purpose: whatever goes wrong on a replica (refused, timed out, a broken connection,
    # a database blocked in tests), search must still answer, from the primary.
    except Exception as exc:
        with contextlib.suppress(Exception):
            connection.close()  # the next use reconnects instead of reusing a broken connection
        detail = str(exc).strip().splitlines()
        return None, f"unreachable ({type(exc).__name__}: {detail[0] if detail else 'no detail'})"
    lag = replay_lag(in_recovery, caught_up, seconds)
    return lag, None if lag is not None else "of unknown lag (no transaction replayed yet)"


def reset_health() -> None:
    """Forget every probe result: the next search probes again (tests, and after replicas change)."""
    with _lock:
        _health.clear()


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "DATABASE_REPLICA_MAX_LAG", "DATABASE_REPLICA_CHECK_SECONDS"):
        reset_health()


# --- read-your-writes across requests ----------------------------------------------------------


class _WriteDetector:
    """An execute wrapper on the primary's connection that notes data-changing statements."""

    def __init__(self) -> None:
        self.wrote = False

    def __call__(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if isinstance(sql, str) and _WRITE_STATEMENT.match(sql):
            self.wrote = True
            mark_written()  # later reads in this request see the write too
        return execute(sql, params, many, context)


def _cookie_written_at(request: HttpRequest) -> float:
    """The client's last write from its signed cookie; 0 when absent, forged, malformed or expired."""
    sticky = settings.DATABASE_REPLICA_STICKY_SECONDS
    value = request.get_signed_cookie(COOKIE_NAME, default=None, salt=COOKIE_SALT, max_age=sticky)
    try:
        written_at = float(value)  # type: ignore[arg-type]  # None is caught below
    except (TypeError, ValueError):
        return 0.0
    # Our own servers signed it, but their clocks may disagree a little: never in the future.
    return min(written_at, time.time()) if math.isfinite(written_at) else 0.0


class ReadYourWritesMiddleware:
    """Pins a client's searches to the primary for DATABASE_REPLICA_STICKY_SECONDS after it wrote.

    A request that changed data (an unsafe method that ran an INSERT, UPDATE or DELETE on the primary
    and succeeded) gets a signed cookie with the time; requests carrying a recent one read the
    primary. A POST that only searches writes nothing, so it does not make its client sticky.
    Does nothing without replicas, so there is no cookie noise then.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not replica_aliases():
            return self.get_response(request)
        cookie_written_at = _cookie_written_at(request)
        token = _written_at.set(cookie_written_at)
        writes = _WriteDetector()
        try:
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(writes):
                response = self.get_response(request)
            wrote = writes.wrote or _written_at.get() > cookie_written_at  # or the code called mark_written()
        finally:
            _written_at.reset(token)
        sticky = settings.DATABASE_REPLICA_STICKY_SECONDS
        if wrote and request.method in UNSAFE_METHODS and response.status_code < 400 and sticky > 0:
            response.set_signed_cookie(
                COOKIE_NAME,
                f"{time.time():.3f}",
                salt=COOKIE_SALT,
                max_age=math.ceil(sticky),
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


# --- routing -----------------------------------------------------------------------------------


class PrimaryRouter:
    """Every ORM read and write goes to the primary; only the search engine reads replicas, by .using()."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Rows read from a replica are the primary's rows: they may relate to each other."""
        ours = {DEFAULT_DB_ALIAS, *replica_aliases()}
        return True if {obj1._state.db, obj2._state.db} <= ours else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        """Only the primary: replicas are read-only copies that replication keeps in step."""
        return db == DEFAULT_DB_ALIAS
