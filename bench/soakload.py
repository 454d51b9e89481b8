"""The soak's load generator: `python -m bench.soakload SPEC.json` prints one JSON object.

A mix of shoppers' text searches (GET /api/v1/search/?q=...), image searches (POST multipart) and staff
edits (PATCH /api/v1/garments/{id}/), all with one token, over keep-alive connections. Two modes:
`closed` (C clients, each sending the next request as soon as the last answered: the capacity) and
`paced` (requests scheduled at a fixed total rate; latency counts from the scheduled time, so a server
that falls behind shows it instead of hiding it: no coordinated omission). Stdlib only, like
bench/loadgen.py, and in its own process so its CPU is not the server's.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.loadgen import _percentile

KINDS = ("text", "image", "write")


def _multipart(image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="limit"\r\n\r\n20\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Requests:
    """Builds the next request of each kind, walking its list from a per-client offset."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.token = spec["token"]
        self.text_paths: list[str] = spec["text_paths"]
        self.images = [Path(path).read_bytes() for path in spec["image_files"]]
        self.write_ids: list[int] = spec["write_ids"]
        self.mix = [(kind, float(spec["mix"][kind])) for kind in KINDS]

    def pick(self, chooser: random.Random) -> str:
        point, total = chooser.random() * sum(weight for _, weight in self.mix), 0.0
        for kind, weight in self.mix:
            total += weight
            if point < total:
                return kind
        return self.mix[-1][0]

    def build(self, kind: str, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if kind == "text":
            return "GET", self.text_paths[n % len(self.text_paths)], None, headers
        if kind == "image":
            body, content_type = _multipart(self.images[n % len(self.images)])
            return "POST", "/api/v1/search/", body, {**headers, "Content-Type": content_type}
        garment = self.write_ids[n % len(self.write_ids)]
        payload = json.dumps({"title": f"Soak edit {n} of garment {garment}"}).encode()
        return "PATCH", f"/api/v1/garments/{garment}/", payload, {**headers, "Content-Type": "application/json"}


def _figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"requests": len(ordered), "p50_ms": round(_percentile(ordered, 0.5), 2),
            "p99_ms": round(_percentile(ordered, 0.99), 2)}  # fmt: skip


def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests = Requests(spec)
    host, port = "127.0.0.1", int(spec["port"])
    mode, seconds, concurrency = spec["mode"], float(spec["seconds"]), int(spec["concurrency"])
    interval = concurrency / float(spec["rate"]) if mode == "paced" else 0.0  # each client's share of the rate
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    statuses: dict[str, int] = {}
    errors = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        chooser = random.Random(number)  # noqa: S311 (a request mix, not a secret)
        n = number * 7919
        due = started + interval * number / concurrency  # clients start staggered across one interval
        while True:
            if mode == "paced":
                if due >= deadline:
                    break
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                scheduled = due
                due += interval
            else:
                scheduled = time.perf_counter()
                if scheduled >= deadline:
                    break
            kind = requests.pick(chooser)
            method, path, body, headers = requests.build(kind, n)
            n += 1
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
                status = 0
            elapsed_ms = (time.perf_counter() - scheduled) * 1000
            with lock:
                latencies[kind].append(elapsed_ms)
                if not 200 <= status < 300:
                    errors[0] += 1
                    statuses[f"{kind}:{status}"] = statuses.get(f"{kind}:{status}", 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(value for values in latencies.values() for value in values)
    return {
        "mode": mode,
        "concurrency": concurrency,
        "target_rate": spec.get("rate"),
        "seconds": round(elapsed, 2),
        "requests": len(every),
        "errors": errors[0],
        "error_statuses": statuses,
        "qps": round(len(every) / elapsed, 1),
        "p50_ms": round(_percentile(every, 0.50), 2),
        "p99_ms": round(_percentile(every, 0.99), 2),
        "by_kind": {kind: _figures(values) for kind, values in latencies.items()},
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(run(spec)))


if __name__ == "__main__":
    main()
