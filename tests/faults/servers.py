"""Real services a fault test starts, breaks and stops itself: a private redis-server, gunicorn with
production settings, a Celery worker. Never the machine's Redis or PostgreSQL, which others share."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pgcluster import free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY_TIMEOUT = 120.0  # a gunicorn worker loads the text model before its first request (~5 s, more on a busy CI)


def wait_for(condition: Callable[[], bool], timeout: float = 120.0, interval: float = 0.25) -> bool:
    """Poll until `condition()` holds; False when `timeout` passed first (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def stop_process(process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@dataclass
class RedisServer:
    """A redis-server of this test's own on a free loopback port, nothing saved to disk."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_for(answers, timeout=30):
            raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    if not Path(REDIS_SERVER).exists():
        import pytest

        pytest.skip(f"no redis-server at {REDIS_SERVER} (CI installs it)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def production_env(*, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """Production settings as deploy/ runs them, on loopback: one worker, a few threads, no access log."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "GUNICORN_", "CELERY_", "REDIS_", "OPENAI_", "CLIP_"))}  # fmt: skip
    env.pop("DATABASE_REPLICA_URLS", None)
    env.update({
        "DJANGO_SETTINGS_MODULE": "prethrift.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; TLS ends at the proxy
        # Tests that break Redis pass REDIS_URL; the others run without one.
        "DJANGO_ALLOW_PER_PROCESS_THROTTLES": "true",
        # These tests send thousands of requests as one client to watch a fault; throttles are tested elsewhere
        # (tests/platform/test_throttles.py) and would only answer 429 here.
        "ANON_THROTTLE_RATE": "1000000/min",
        "USER_THROTTLE_RATE": "1000000/min",
        "SEARCH_THROTTLE_RATE": "1000000/min",
        "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESSLOG": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "EMBEDDINGS_TORCH_THREADS": "1",
        "DJANGO_STATIC_ROOT": tempfile.mkdtemp(prefix="prethrift-fault-static-"),
    })  # fmt: skip
    env.update(extra)
    return env


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(port: int, path: str, *, method: str = "GET", token: str | None = None, payload: Any = None,
            timeout: float = 30.0) -> Response:  # fmt: skip
    """One HTTP request to the server on loopback; an HTTP error status is a Response, not an exception."""
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Token {token}"
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    http_request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers.items()), answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers.items()), error.read())


class Gunicorn:
    """gunicorn -c deploy/gunicorn.conf.py prethrift.wsgi, its log in a file for the failure message."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "prethrift.wsgi"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if request(self.port, "/healthz", timeout=5).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /healthz within {READY_TIMEOUT:.0f} s:\n{self.log()[-4000:]}")

    def __exit__(self, *args: object) -> None:
        if self.process is not None:
            stop_process(self.process)
        self._log.close()
        shutil.rmtree(self.env["DJANGO_STATIC_ROOT"], ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        from bench.measure import child_pids

        assert self.process is not None
        return sorted(child_pids(self.process.pid))


def manage(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    """Run manage.py in its own process (local settings unless env says otherwise); its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "prethrift.settings.local", **env},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


CREATE_TOKEN = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
roles = {{"is_staff": {staff}, "is_superuser": {staff}}}
user, _ = get_user_model().objects.get_or_create(username={name!r}, defaults=roles)
print(Token.objects.get_or_create(user=user)[0].key)
"""


def create_token(*, env: dict[str, str], username: str, staff: bool) -> str:
    """A user (a staff superuser or a reader) and its API token, created by a process of its own."""
    output = manage("shell", "-c", CREATE_TOKEN.format(name=username, staff=staff), env=env)
    return output.strip().splitlines()[-1]
