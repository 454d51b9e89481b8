"""A bounded soak: `python -m bench.soak` (make soak). Prints one JSON object; exits 1 on any error or
on memory beyond its bound.

gunicorn with production settings (deploy/gunicorn.conf.py: one worker per core, gthread) on a
database of its own (prethrift_bench_soak, the 500-garment sample with attributes, text vectors and
tiny random-CLIP image vectors), driven over loopback by bench.soakload in its own process with a mix
of text searches, image searches and staff edits (70/15/15). In one run:

1. unloaded: one client, one request at a time: the latency baseline;
2. capacity: WORKERS x THREADS clients back to back: the most requests a second it serves;
3. soak: SOAK_FRACTION (80%) of that capacity, paced, for --seconds, latency counted from each
   request's scheduled time; PSS of the master and workers is sampled throughout.

Fails on: any non-2xx or dropped connection in any phase; the web processes' PSS at the end of the soak
above MEMORY_GROWTH_FACTOR x its start + MEMORY_GROWTH_SLACK_MB (a leak). The loaded p99 is compared
with twice the unloaded p99 and reported; it fails the run only with --check-latency, because on a
2-core machine shared with the load generator (and, in CI, anything else) a latency bound is a
measurement, not an invariant.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "prethrift_bench_soak"
SOAK_FRACTION = 0.8
MIX = {"text": 0.70, "image": 0.15, "write": 0.15}
MEMORY_GROWTH_FACTOR = 1.2
MEMORY_GROWTH_SLACK_MB = 64.0
UNLIMITED_RATE = "100000000/min"  # one load generator is every client: measure the server, not the throttles
QUERIES = [
    "blue denim jacket", "red summer dress", "black leather boots", "white cotton shirt", "wool scarf",
    "floral skirt", "running shoes", "grey hoodie", "silk blouse", "vintage jeans", "navy blazer",
    "green t-shirt", "kurta for women", "sports watch", "brown handbag", "casual shorts",
]  # fmt: skip


def _prepare(garments: int) -> dict[str, Any]:
    """The soak's database and catalogue (idempotent: a second run reuses them), and a staff token."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from bench.database import use_database
    from embeddings.services import embed_garments
    from garments.catalog_import import catalog_import
    from garments.managers import EmbeddingSpace
    from garments.models import Garment
    from ontology.services import extract_garments

    use_database(DATABASE)
    call_command("migrate", verbosity=0)
    sample = ROOT / "data" / "sample"
    if Garment.objects.count() < garments:
        catalog_import(path=sample / "styles.csv", images_dir=sample / "images", synthesize=True, limit=garments)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    extract_garments(garment_ids=list(Garment.objects.needs_extraction().values_list("pk", flat=True)))
    spaces: tuple[EmbeddingSpace, ...] = ("text", "image")
    for space in spaces:
        stale = list(Garment.objects.needs_embedding(space).values_list("pk", flat=True))
        for start in range(0, len(stale), 100):
            embed_garments(garment_ids=stale[start : start + 100], space=space)
    roles = {"is_staff": True, "is_superuser": True}
    staff, _ = get_user_model().objects.get_or_create(username="soak-staff", defaults=roles)
    token = Token.objects.get_or_create(user=staff)[0].key
    images = sorted(str(path) for path in (sample / "images").glob("*.jpg"))[:40]
    return {"ids": ids, "token": token, "images": images}


def _server_env(port: int, redis_url: str | None, clip_path: Path) -> dict[str, str]:
    from bench.http import server_environment

    env = server_environment(port, None, None, redis_url)
    env.update({
        "CLIP_MODEL_PATH": str(clip_path),
        "SEARCH_THROTTLE_RATE": UNLIMITED_RATE, "IMAGE_SEARCH_THROTTLE_RATE": UNLIMITED_RATE,
        "USER_THROTTLE_RATE": UNLIMITED_RATE, "ANON_THROTTLE_RATE": UNLIMITED_RATE,
    })  # fmt: skip
    if redis_url:
        env["CELERY_BROKER_URL"] = redis_url  # staff edits enqueue their vectors, as in production (no worker here)
    else:
        env["DJANGO_ALLOW_PER_PROCESS_THROTTLES"] = "true"
        env["EMBEDDINGS_ENQUEUE_ON_SAVE"] = "false"
        env["ONTOLOGY_EXTRACT_ON_SAVE"] = "false"
    return env


def _load(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.soakload", handle.name], cwd=ROOT, capture_output=True, text=True,
            check=True, timeout=float(spec["seconds"]) + 180,
        ).stdout  # fmt: skip
    finally:
        os.unlink(handle.name)
    return dict(json.loads(output))


class MemorySampler(threading.Thread):
    """PSS of the gunicorn master and its workers, once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[float] = []
        self.stop = threading.Event()

    def web_mb(self) -> float:
        from bench.measure import child_pids, pss_mb

        return pss_mb(self.pid) + sum(pss_mb(child) for child in child_pids(self.pid))

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(self.web_mb())


def soak(seconds: float, unloaded_seconds: float, capacity_seconds: float, garments: int,
         say: Any, fraction: float = SOAK_FRACTION) -> dict[str, Any]:  # fmt: skip
    from bench.http import _redis_url, _wait_ready, log_tail, stop_server
    from bench.measure import child_pids
    from bench.pgcluster import free_port

    say("preparing the soak database ...")
    prepared = _prepare(garments)
    port = free_port()
    redis_url = _redis_url()
    env = _server_env(port, redis_url, Path(os.environ["CLIP_MODEL_PATH"]))
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    # gunicorn's and the application's log lines go to a file: a pipe nobody reads fills after 64 KiB of
    # them and then blocks every worker that logs (one line a request in production).
    server_log = tempfile.TemporaryFile(prefix="prethrift-bench-gunicorn-")  # noqa: SIM115  (closed in finally)
    process = subprocess.Popen(  # noqa: S603
        [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "prethrift.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=server_log,
    )  # fmt: skip
    try:
        try:
            _wait_ready(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log_tail(server_log)}") from exc
        time.sleep(2)  # every worker booted and loaded its encoders
        workers = len(child_pids(process.pid))
        threads = int(env.get("GUNICORN_THREADS") or 4)
        base = {
            "port": port, "token": prepared["token"], "image_files": prepared["images"], "mix": MIX,
            "write_ids": prepared["ids"][: max(1, len(prepared["ids"]) // 5)],
            "text_paths": [f"/api/v1/search/?q={urllib.parse.quote_plus(q)}&limit=20" for q in QUERIES],
        }  # fmt: skip
        say("warming (every query once, both towers) ...")
        warm = _load({**base, "mode": "closed", "concurrency": 2, "seconds": 8, "rate": 0})
        say(f"unloaded: 1 client for {unloaded_seconds:.0f} s ...")
        unloaded = _load({**base, "mode": "closed", "concurrency": 1, "seconds": unloaded_seconds, "rate": 0})
        say(f"capacity: {workers * threads} clients for {capacity_seconds:.0f} s ...")
        capacity = _load({**base, "mode": "closed", "concurrency": workers * threads, "seconds": capacity_seconds,
                          "rate": 0})  # fmt: skip
        rate = round(fraction * capacity["qps"], 1)
        # enough clients that the pace, not a client waiting on its last answer, sets the rate
        clients = max(8, int(rate * max(capacity["p99_ms"], 100.0) / 1000) + 4)
        sampler = MemorySampler(process.pid)
        memory_start = sampler.web_mb()
        sampler.start()
        say(f"soak: {rate} requests/s ({fraction:.0%} of {capacity['qps']}) for {seconds:.0f} s ...")
        loaded = _load({**base, "mode": "paced", "concurrency": clients, "seconds": seconds, "rate": rate})
        sampler.stop.set()
        sampler.join()
        memory_end = sampler.web_mb()
    finally:
        stop_server(process, server_log, env, flush_redis=bool(redis_url))
    memory_bound = MEMORY_GROWTH_FACTOR * memory_start + MEMORY_GROWTH_SLACK_MB
    errors = warm["errors"] + unloaded["errors"] + capacity["errors"] + loaded["errors"]
    return {
        "workers": workers,
        "threads": threads,
        "cores": len(os.sched_getaffinity(0)),
        "garments": len(prepared["ids"]),
        "mix": MIX,
        "broker": "redis" if redis_url else "none (edits enqueue nothing)",
        "capacity_qps": capacity["qps"],
        "soak_fraction": fraction,
        "soak_rate_qps": rate,
        "soak_achieved_qps": loaded["qps"],
        "errors": errors,
        "unloaded": unloaded,
        "capacity": capacity,
        "soak": loaded,
        "p99_unloaded_ms": unloaded["p99_ms"],
        "p99_loaded_ms": loaded["p99_ms"],
        "p99_ratio": round(loaded["p99_ms"] / max(unloaded["p99_ms"], 1e-9), 2),
        "p99_within_2x": loaded["p99_ms"] <= 2 * unloaded["p99_ms"],
        "memory_pss_mb": {
            "start": round(memory_start, 1),
            "end": round(memory_end, 1),
            "max": round(max(sampler.samples or [memory_end]), 1),
            "bound_end": round(memory_bound, 1),
            "bound_rule": f"end <= {MEMORY_GROWTH_FACTOR} x start + {MEMORY_GROWTH_SLACK_MB:.0f} MB",
        },
        "memory_within_bound": memory_end <= memory_bound,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the soak at 80%% of capacity")
    parser.add_argument("--unloaded-seconds", type=float, default=10.0)
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    parser.add_argument("--garments", type=int, default=500)
    parser.add_argument("--fraction", type=float, default=SOAK_FRACTION, help="the soak's share of capacity")
    parser.add_argument("--check-latency", action="store_true", help="also fail when loaded p99 > 2 x unloaded p99")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Image search needs a CLIP model; a tiny random one (built here, no download) has the real code path.
    clip_path = ROOT / "var" / "soak" / "tiny-clip"
    if not (clip_path / "config.json").exists():
        from embeddings.random_clip import build_random_clip

        build_random_clip(clip_path, tiny=True, image_size=32)
    os.environ["CLIP_MODEL_PATH"] = str(clip_path)
    import django

    django.setup()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if not 0 < args.fraction <= 1:
        parser.error("--fraction is a share of capacity, above 0 and at most 1")
    result = soak(args.seconds, args.unloaded_seconds, args.capacity_seconds, args.garments, say, args.fraction)
    print(json.dumps(result, indent=2))
    failed = result["errors"] > 0 or not result["memory_within_bound"]
    if args.check_latency and not result["p99_within_2x"]:
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
