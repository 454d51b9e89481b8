"""Prometheus metrics of embedding work (exported at /metrics, and by workers; see docs/operations.md)."""

from prometheus_client import Counter, Histogram

embedding_generation_duration_seconds = Histogram(
    "embedding_generation_duration_seconds",
    "Seconds to compute one batch of garment vectors (model time, without database writes).",
    ["space"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
embedding_generation_failures_total = Counter(
    "embedding_generation_failures_total",
    "Garment vectors that could not be computed, by space and reason.",
    ["space", "reason"],
)
# Every space and reason starts at 0, so that a first failure is an increase() an alert sees, not a new series.
FAILURE_REASONS = ("provider_unavailable", "error", "gave_up")
for _space in ("image", "text", "openai_text"):
    for _reason in FAILURE_REASONS:
        embedding_generation_failures_total.labels(space=_space, reason=_reason)
embeddings_computed_total = Counter("embeddings_computed_total", "Garment vectors computed and stored.", ["space"])
query_embedding_cache_total = Counter(
    "query_embedding_cache_total", "Query-vector cache lookups by result (hit, miss, error).", ["result"]
)
task_enqueue_failures_total = Counter(
    "task_enqueue_failures_total",
    "Follow-up tasks that could not be queued after a commit (broker down); the backfill commands pick them up.",
    ["task"],
)
query_embedding_failures_total = Counter(
    "query_embedding_failures_total",
    "Searches whose query vector could not be computed in a space (provider down or slow); they ran without it.",
    ["space"],
)
