"""Prometheus metrics of search."""

from prometheus_client import Histogram

vector_search_duration_seconds = Histogram(
    "vector_search_duration_seconds",
    "Seconds per search through the engine, by mode (text, image, similar, browse) and planner path.",
    ["mode", "path"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
