"""A closed-loop HTTP load generator: `python -m bench.loadgen --port P --paths FILE --concurrency C --seconds S`.

Runs in its own process (the harness starts it), C threads each holding one keep-alive connection
and sending the next request as soon as the last answered, for S seconds. Prints one JSON object:
requests, errors (every non-2xx and every failed connection), qps and latency percentiles. Stdlib
only, so it adds no dependency; one Python thread costs ~0.1 ms of CPU a request, counted in the
figures it prints, since it shares the machine with the server it measures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import threading
import time
from pathlib import Path


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def run(host: str, port: int, paths: list[str], concurrency: int, seconds: float) -> dict[str, object]:
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        index = number * 7919  # each client walks the paths from its own starting point
        while time.perf_counter() < deadline:
            path = paths[index % len(paths)]
            index += 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Host": host, "Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                errors[number] += 1
                continue
            latencies[number].append((time.perf_counter() - started) * 1000)
            if not 200 <= status < 300:
                errors[number] += 1
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(value for values in latencies for value in values)
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(ordered),
        "errors": sum(errors),
        "error_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "qps": round(len(ordered) / elapsed, 1),
        "p50_ms": round(_percentile(ordered, 0.50), 2),
        "p95_ms": round(_percentile(ordered, 0.95), 2),
        "p99_ms": round(_percentile(ordered, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", type=Path, required=True, help="one request path per line")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    paths = [line for line in args.paths.read_text().splitlines() if line.strip()]
    print(json.dumps(run(args.host, args.port, paths, args.concurrency, args.seconds)))


if __name__ == "__main__":
    main()
