"""Slow clients: gunicorn (deploy/gunicorn.conf.py) behind nginx (deploy/nginx/prethrift.conf), as deployed.

Two dozen connections that send their headers and then stall their bodies hold every gunicorn thread
when they reach gunicorn; nginx reads each body whole first (request buffering, client_body_timeout),
so /healthz through nginx still answers. Times are printed, never asserted (only a generous bound).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STALLED_CLIENTS = 24
# gunicorn's thread pool here: fewer threads than stalled clients, as in production (cores x 4).
WORKERS, THREADS = 2, 4
ANSWER_WITHIN = 10.0  # generous: /healthz answers in milliseconds when nothing holds the workers

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light; CI installs it)")
    return found


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _get(port: int, path: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _wait_for(port: int, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if _get(port, "/healthz", timeout=2) == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} did not answer /healthz within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    gunicorn_port: int
    nginx_port: int


def render_nginx(folder: Path, nginx_port: int, gunicorn_port: int) -> Path:
    """deploy/nginx/prethrift.conf with this test's ports, inside a minimal nginx.conf of its own."""
    site = (ROOT / "deploy" / "nginx" / "prethrift.conf").read_text()
    for deployed, here in (("server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};"),
                           ("listen 80;", f"listen 127.0.0.1:{nginx_port};")):  # fmt: skip
        assert deployed in site, f"deploy/nginx/prethrift.conf no longer has {deployed!r}"
        site = site.replace(deployed, here)
    (folder / "prethrift.conf").write_text(site)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / name).mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # a root master would hand the temp folders to nobody
    main = folder / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;\n"
        f"    client_body_temp_path {folder}/body;\n    proxy_temp_path {folder}/proxy;\n"
        f"    fastcgi_temp_path {folder}/fastcgi;\n    uwsgi_temp_path {folder}/uwsgi;\n"
        f"    scgi_temp_path {folder}/scgi;\n"
        f"    include {folder}/prethrift.conf;\n"
        "}\n"
    )
    return main


@pytest.fixture
def stack(tmp_path: Path, django_db_setup: None, django_db_blocker: object) -> Iterator[Stack]:
    """gunicorn with deploy/gunicorn.conf.py and production settings on the test database, nginx in front."""
    nginx = _nginx()
    from bench.database import database_url

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        url = database_url()
    gunicorn_port, nginx_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "prethrift.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_NUM_PROXIES": "1",
        "DATABASE_URL": url,
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "PRELOAD_QUERY_ENCODERS": "false",
        "GUNICORN_BIND": f"127.0.0.1:{gunicorn_port}",
        "GUNICORN_WORKERS": str(WORKERS),
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_ACCESSLOG": "",
        "CELERY_BROKER_URL": "",
    })  # fmt: skip
    if _redis_answers():
        env["REDIS_URL"] = "redis://127.0.0.1:6379/12"
    else:
        env.pop("REDIS_URL", None)
        env["DJANGO_ALLOW_PER_PROCESS_THROTTLES"] = "true"
    gunicorn_bin = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    gunicorn_log, nginx_log = tmp_path / "gunicorn.log", tmp_path / "nginx-stderr.log"
    with gunicorn_log.open("wb") as glog, nginx_log.open("wb") as nlog:
        gunicorn = subprocess.Popen(
            [gunicorn_bin, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "prethrift.wsgi"],
            cwd=ROOT, env=env, stdout=glog, stderr=subprocess.STDOUT,
        )  # fmt: skip
        nginx_folder = tmp_path / "nginx"
        nginx_folder.mkdir()
        config = render_nginx(nginx_folder, nginx_port, gunicorn_port)
        server = subprocess.Popen(
            [nginx, "-p", str(nginx_folder), "-c", str(config), "-e", str(nginx_folder / "error.log")],
            stdout=nlog, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for(gunicorn_port, gunicorn, "gunicorn", gunicorn_log)
            _wait_for(nginx_port, server, "nginx", nginx_log)
            yield Stack(gunicorn_port=gunicorn_port, nginx_port=nginx_port)
        finally:
            _stop(server)
            _stop(gunicorn)


def _stall(port: int, count: int) -> list[socket.socket]:
    """`count` connections that send a search's headers and the first byte of a 100 kB body, then nothing."""
    stalled = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(
            b"POST /api/v1/search/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        stalled.append(connection)
    time.sleep(0.5)  # let the server take them all up
    return stalled


def _close(connections: list[socket.socket]) -> None:
    for connection in connections:
        connection.close()


def _timed_healthz(port: int, timeout: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        status: int | None = _get(port, "/healthz", timeout=timeout)
    except OSError:
        status = None
    return status, time.monotonic() - started


def test_stalled_request_bodies_do_not_starve_healthz_behind_nginx(stack: Stack):
    # given two dozen clients stalled mid-body, through nginx
    stalled = _stall(stack.nginx_port, STALLED_CLIENTS)
    try:
        # when a load balancer checks health through nginx
        status, took = _timed_healthz(stack.nginx_port, ANSWER_WITHIN)
    finally:
        _close(stalled)
    print(f"/healthz through nginx with {STALLED_CLIENTS} stalled bodies: {status} in {took:.3f} s")
    # then it answers: nginx holds the stalled bodies, gunicorn's threads stay free
    assert status == 200

    # The same clients straight at gunicorn, for the record (not asserted: it shows what nginx prevents).
    stalled = _stall(stack.gunicorn_port, STALLED_CLIENTS)
    try:
        direct, direct_took = _timed_healthz(stack.gunicorn_port, 3.0)
    finally:
        _close(stalled)
    print(f"/healthz straight at gunicorn ({WORKERS}x{THREADS} threads) with {STALLED_CLIENTS} stalled bodies: "
          f"{direct if direct is not None else 'no answer'} after {direct_took:.3f} s")  # fmt: skip


def test_nginx_refuses_bodies_larger_than_the_app_accepts(stack: Stack):
    with socket.create_connection(("127.0.0.1", stack.nginx_port), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/search/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n"
        )
        head = connection.recv(200).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head


def test_gunicorn_refuses_an_overlong_request_line_before_django(stack: Stack):
    with socket.create_connection(("127.0.0.1", stack.gunicorn_port), timeout=10) as connection:
        connection.sendall(b"GET /healthz?" + b"q" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = connection.recv(200).decode(errors="replace")
    assert head.startswith("HTTP/1.1 414 URI Too Long"), head


def test_metrics_are_not_served_to_the_public_side(stack: Stack):
    """nginx answers /metrics only to private addresses; this test's loopback client is one, and without
    METRICS_TOKEN production answers 404."""
    assert _get(stack.nginx_port, "/metrics", timeout=10) == 404
