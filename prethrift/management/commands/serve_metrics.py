"""Serve this host's multiprocess metrics on their own port: for hosts that run Celery workers and no web.

On a host with gunicorn, the web's /metrics already merges the workers' files (docs/operations.md#metrics).
A worker-only host runs this beside its workers, with the same PROMETHEUS_MULTIPROC_DIR, as a second
Prometheus job. It answers GET /metrics to a bearer of METRICS_TOKEN (or anyone where METRICS_PUBLIC),
like the web, and nothing else.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.multiprocess import MultiProcessCollector

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Prometheus scrapes every few seconds: no line per scrape."""


def _guarded(app: Callable[..., Iterable[bytes]], token: str) -> Callable[..., Iterable[bytes]]:
    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        scheme, _, offered = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if token and not (scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())):
            headers = [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')]
            start_response("401 Unauthorized", headers)
            return [b"Metrics need Authorization: Bearer <METRICS_TOKEN>.\n"]
        return app(environ, start_response)

    return guarded


class Command(BaseCommand):
    help = "Serve the metrics of this host's processes (PROMETHEUS_MULTIPROC_DIR) on their own port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:9808", help="address:port to listen on (a private one)")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        if not directory or not os.path.isdir(directory):
            raise CommandError("PROMETHEUS_MULTIPROC_DIR must name the metrics directory the workers of this host use")
        host, _, port_text = str(options["bind"]).rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise CommandError(f"--bind must be address:port, got {options['bind']!r}")
        token: str = settings.METRICS_TOKEN
        if not token and not settings.METRICS_PUBLIC:
            raise CommandError("set METRICS_TOKEN (Prometheus sends it as a bearer token), or METRICS_PUBLIC=true")
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        app = _guarded(make_wsgi_app(registry), token)
        try:
            server = make_server(host.strip("[]"), int(port_text), app, handler_class=_QuietHandler)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['bind']}: {exc}") from exc
        self.stdout.write(f"serving {directory} at http://{options['bind']}/metrics")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
