"""Which of the machine's services a test can reach (CI starts them all)."""

from __future__ import annotations

import socket


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
