"""Prometheus metrics of search (docs/operations.md#metrics lists every metric and where it is counted)."""

from prometheus_client import Counter, Gauge, Histogram

# Label values are fixed sets: mode is text, image, image+text, similar or browse; path is the planner's
# path of a vector signal (exact, hnsw_iterative, hnsw_overfetch, hnsw_then_exact), unavailable for a
# query encoder that did not answer, none for a search without a vector signal.
vector_search_duration_seconds = Histogram(
    "vector_search_duration_seconds",
    "Seconds per search through the engine, by mode (text, image, similar, browse) and planner path.",
    ["mode", "path"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
# The zero-result rate is rate(search_results_bucket{le="0.0"}) / rate(search_results_count): prometheus_client
# writes the 0 bucket as "0.0" (tests/ops/test_dashboard.py checks it).
search_results = Histogram(
    "search_results",
    "Hits on the first page of each search, by mode (0: the shopper found nothing).",
    ["mode"],
    buckets=(0, 1, 5, 10, 20, 50, 100),
)
# Set by the recall task on a Celery worker; "mostrecent": the last measurement of any process, kept
# after that worker process exits (multiprocess mode).
vector_search_recall = Gauge(
    "vector_search_recall",
    "Recall@10 of the vector planner against an exact scan, sampled from garments' own vectors, by space.",
    ["space"],
    multiprocess_mode="mostrecent",
)
vector_search_recall_samples = Gauge(
    "vector_search_recall_samples",
    "Query vectors the last recall measurement used, by space (0: too few vectors to measure).",
    ["space"],
    multiprocess_mode="mostrecent",
)

facets_cache_total = Counter(
    "search_facets_cache_total", "Facet computations served from the cache (hit) or computed (miss).", ["result"]
)
