"""Process-wide inference settings: torch threads, and the bound on concurrent model work."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

logger = logging.getLogger(__name__)
_configured = False
_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def configure_torch() -> None:
    """Set torch's thread pools once per process, before the first model runs.

    Intra-op threads default to the cores this process may use divided by the Celery worker
    concurrency (several workers each using every core would thrash); inter-op parallelism buys
    nothing for one model call at a time and costs a second pool.
    """
    global _configured
    with _lock:
        if _configured:
            return
        import torch
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars in every worker's log
        threads = settings.EMBEDDINGS_TORCH_THREADS or max(1, len(os.sched_getaffinity(0)))
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # fixed for good once parallel work has run in this process
            torch.set_num_interop_threads(1)
        _configured = True
        logger.info("torch uses %d threads", threads)


@contextmanager
def model_slot() -> Iterator[None]:
    """At most MAX_CONCURRENT_EMBEDDINGS model calls at once in this process (web threads, inline tasks)."""
    global _slots
    if _slots is None:
        with _lock:
            if _slots is None:
                _slots = threading.BoundedSemaphore(settings.MAX_CONCURRENT_EMBEDDINGS)
    with _slots:
        yield
