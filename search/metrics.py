"""Prometheus metrics of search."""

from prometheus_client import Counter, Histogram

vector_search_duration_seconds = Histogram(
    "vector_search_duration_seconds",
    "Seconds per search through the engine, by mode (text, image, similar, browse) and planner path.",
    ["mode", "path"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

facets_cache_total = Counter(
    "search_facets_cache_total", "Facet computations served from the cache (hit) or computed (miss).", ["result"]
)
