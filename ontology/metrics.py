"""Prometheus metrics of attribute extraction."""

from prometheus_client import Counter, Histogram

ontology_extraction_confidence = Histogram(
    "ontology_extraction_confidence",
    "Confidence of each attribute value extraction wrote, by attribute.",
    ["attribute"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0),
)
ontology_extraction_failures_total = Counter(
    "ontology_extraction_failures_total",
    "Garments whose attribute extraction failed and stays pending for the next run, by reason.",
    ["reason"],
)
