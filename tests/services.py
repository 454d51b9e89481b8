"""Which of the machine's services a test can reach (CI starts them all)."""

from __future__ import annotations

import socket


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def reset_celery_pools() -> None:
    """Drop this process's pooled Celery connections and producers; the next enqueue opens new ones.

    Celery's pools come from kombu's process-wide registry, keyed by broker URL, and an eager apply_async still
    acquires a producer from them. Closing one pool in place leaves the closed pool registered for its URL, and
    every later enqueue to that broker fails with "Acquire on closed pool"; kombu.pools.reset() closes them all
    and empties the registry, so the next enqueue builds fresh ones, as in a freshly forked process."""
    from kombu import pools

    from prethrift.celery import app

    pools.reset()
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]


def use_celery_broker(url: str, *, eager: bool) -> None:
    """Point this process's Celery app at `url` (eager or not), with no connection left to the old broker."""
    from prethrift.celery import app

    reset_celery_pools()
    app.conf.update(broker_url=url, task_always_eager=eager)
