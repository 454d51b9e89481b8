"""HTTP throughput: the real server (gunicorn, production settings) on the benchmark database, driven
over loopback by bench.loadgen in a separate process.

Two request mixes: `vector` is "more like this" (GET /api/v1/garments/{id}/similar/, a pure vector
search from a stored vector), `hybrid` is a shopper's text search (GET /api/v1/search/?q=..., with
facets, as a storefront calls it). Query vectors are warmed first (Redis, shared by the workers,
when one answers on 127.0.0.1:6379, as in production; else each worker's local cache).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from bench.database import database_url
from bench.measure import child_pids, pss_mb
from bench.pgcluster import free_port
from garments.models import Garment

REDIS_DB_FOR_BENCH = 15  # a Redis database of its own: never the product's cache keys


def _configured_threads(env: dict[str, str]) -> int:
    """The thread count deploy/gunicorn.conf.py settles on under `env`."""
    config: dict[str, Any] = {}
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        exec(compile((Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py").read_text(), "gunicorn.conf", "exec"),  # noqa: S102
             config)  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(config["threads"])


def _redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return f"redis://127.0.0.1:6379/{REDIS_DB_FOR_BENCH}"
    except OSError:
        return None


def server_environment(port: int, workers: int | None, threads: int | None, redis_url: str | None) -> dict[str, str]:
    """Production settings, as deploy/ runs them; workers and threads as deploy/gunicorn.conf.py sizes
    them unless given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "GUNICORN_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "prethrift.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; TLS ends at the proxy
        "DATABASE_URL": database_url(),
        "SEARCH_ALLOW_ANONYMOUS": "true",
        "SEARCH_THROTTLE_RATE": "100000000/min",  # a load test is one client: measure the server, not the throttle
        "ANON_THROTTLE_RATE": "100000000/min",
        "USER_THROTTLE_RATE": "100000000/min",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_ACCESSLOG": "",  # one log line a request costs ~3% here; production ships them
        "HF_HUB_OFFLINE": "1",
        "DJANGO_STATIC_ROOT": tempfile.mkdtemp(prefix="prethrift-bench-static-"),
    })  # fmt: skip
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["CELERY_BROKER_URL"] = ""  # never enqueue from a benchmark
    else:
        env.pop("REDIS_URL", None)
        env["DJANGO_ALLOW_PER_PROCESS_THROTTLES"] = "true"  # production refuses to start without Redis otherwise
    return env


def log_tail(log: Any, size: int = 4000) -> str:
    """The last `size` bytes of a server's log file, for an error message."""
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - size))
    return str(log.read().decode(errors="replace"))


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def request_paths(queries: list[str], count: int = 400) -> dict[str, list[str]]:
    ids = list(
        Garment.objects.filter(status="available", text_embedding_vec__isnull=False)
        .order_by("?")
        .values_list("pk", flat=True)[:count]
    )
    return {
        "vector": [f"/api/v1/garments/{pk}/similar/?limit=20&facets=false" for pk in ids],
        "hybrid": [f"/api/v1/search/?q={urllib.parse.quote_plus(q)}&limit=20" for q in queries],
    }


def _warm(port: int, paths: list[str], passes: int) -> int:
    errors = 0
    for _ in range(passes):
        for path in paths:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                    response.read()
            except (urllib.error.URLError, OSError):
                errors += 1
    return errors


def _load(port: int, paths: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(paths))
    try:
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--paths", handle.name,
             "--concurrency", str(concurrency), "--seconds", str(seconds)],
            cwd=settings.BASE_DIR, capture_output=True, text=True, check=True, timeout=seconds + 120,
        ).stdout  # fmt: skip
    finally:
        os.unlink(handle.name)
    return dict(json.loads(output))


def _server_memory(pid: int) -> float:
    return pss_mb(pid) + sum(pss_mb(child) for child in child_pids(pid))


def run(queries: list[str], levels: list[int], seconds: float, *, workers: int | None, threads: int | None,
        say: Callable[[str], Any], flamegraph: Path | None = None) -> dict[str, Any]:  # fmt: skip
    cores = len(os.sched_getaffinity(0))
    port = free_port()
    redis_url = _redis_url()
    env = server_environment(port, workers, threads, redis_url)
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    # gunicorn's and the application's log lines go to a file: a pipe nobody reads fills after 64 KiB of
    # them and then blocks every worker that logs (one line a request in production).
    server_log = tempfile.TemporaryFile(prefix="prethrift-bench-gunicorn-")  # noqa: SIM115  (closed in finally)
    process = subprocess.Popen(  # noqa: S603
        [gunicorn, "-c", str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"), "prethrift.wsgi"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=server_log,
    )  # fmt: skip
    try:
        try:
            _wait_ready(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log_tail(server_log)}") from exc
        time.sleep(2)  # every worker booted and preloaded its encoders (post_worker_init)
        started_workers = len(child_pids(process.pid))
        threads = threads or _configured_threads(env)
        workers = started_workers
        paths = request_paths(queries)
        passes = 1 if redis_url else workers * 2  # a local cache is per worker: every worker must see each query
        warm_errors = sum(_warm(port, mix, passes) for mix in paths.values())
        result: dict[str, Any] = {"workers": workers, "threads": threads, "cores": cores,
                                  "query_cache": "redis" if redis_url else "local", "warm_errors": warm_errors,
                                  "seconds_per_level": seconds}  # fmt: skip
        for mix, mix_paths in paths.items():
            levels_out = []
            for level in levels:
                say(f"  {mix}: {level} clients for {seconds:.0f} s")
                levels_out.append(_load(port, mix_paths, level, seconds))
            best = max(levels_out, key=lambda level: level["qps"])
            result[mix] = {**best, "levels": levels_out}
        if flamegraph is not None:
            result["flamegraph"] = _flamegraph(process.pid, port, paths["hybrid"], levels[-1], flamegraph, say)
        result["rss_web_mb"] = round(_server_memory(process.pid), 1)
        return result
    finally:
        stop_server(process, server_log, env, flush_redis=bool(redis_url))


def stop_server(process: subprocess.Popen[bytes], server_log: Any, env: dict[str, str], *, flush_redis: bool) -> None:
    """Stop a gunicorn started by run() or the soak, and remove what it left: its log, the benchmark's
    Redis keys, the collected static files."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    server_log.close()
    if flush_redis:
        _flush_redis()
    shutil.rmtree(env["DJANGO_STATIC_ROOT"], ignore_errors=True)


def _flush_redis() -> None:
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB_FOR_BENCH, socket_timeout=1).flushdb()
    except Exception:  # noqa: S110  (a cache left behind holds only benchmark keys in its own database)
        pass


def _flamegraph(pid: int, port: int, paths: list[str], concurrency: int, target: Path,
                say: Callable[[str], Any]) -> str | None:  # fmt: skip
    """py-spy on one worker while the hybrid mix runs: where a search's CPU goes."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    workers = child_pids(pid)
    if spy is None or not workers:
        say("  no flame graph: py-spy is not installed (pip install py-spy)")
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(  # noqa: S603
        [spy, "record", "--pid", str(workers[0]), "--duration", "10", "--rate", "200", "--format", "flamegraph",
         "--output", str(target), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _load(port, paths, concurrency, 11)
    recorder.wait(timeout=60)
    return str(target) if target.exists() else None
