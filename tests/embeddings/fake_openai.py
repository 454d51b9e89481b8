"""A small HTTP server on loopback that speaks OpenAI's embeddings API, with scripted failures."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def fake_vector(text: str, dimensions: int = 1536) -> list[float]:
    """Deterministic per text, not normalised (the encoder must normalise)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return (np.random.default_rng(seed).standard_normal(dimensions) * 3).tolist()


@dataclass
class Script:
    """What the next requests get: a queue of (status, headers, delay) before normal answers."""

    failures: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    always_status: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    shuffle: bool = False
    chat_answer: dict[str, Any] = field(default_factory=dict)  # what /chat/completions returns as JSON content


class FakeOpenAI:
    def __init__(self) -> None:
        self.script = Script()
        script_ref = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script = script_ref.script
                script.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                status, delay = 200, 0.0
                headers: dict[str, str] = {}
                if script.failures:
                    status, headers, delay = script.failures.pop(0)
                elif script.always_status is not None:
                    status = script.always_status
                if delay:
                    time.sleep(delay)
                if status != 200:
                    self._send(status, {"error": {"message": f"scripted {status}", "type": "server_error"}}, headers)
                    return
                if self.path.endswith("/chat/completions"):
                    message = {"role": "assistant", "content": json.dumps(script.chat_answer)}
                    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                                  "model": body["model"], "choices": [choice], "usage": usage}  # fmt: skip
                    self._send(200, completion, {})
                    return
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(text)} for i, text in enumerate(inputs)
                ]
                if script.shuffle:
                    data.reverse()
                self._send(200, {"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": 1, "total_tokens": 1}}, {})  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first, as scripted

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
