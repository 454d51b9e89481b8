"""The hybrid search engine: query understanding, candidates per signal, fusion, facets, explanations.

text / photo / similar_to + filters
  -> parse the text (hard filters, soft terms, residual words); explicit filters win
  -> candidates per signal, each restricted by the hard filters inside PostgreSQL:
       vectors in every configured space (planner: exact scan or HNSW), keyword (full text),
       trigram (misspellings; where pg_trgm exists)
  -> reciprocal rank fusion + boosts for soft terms a garment matches
  -> collapse listings sharing a photo, paginate with a cursor pinned to a snapshot
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.db.models import F, Max, QuerySet

from embeddings.query import embed_query
from embeddings.registry import configured_spaces, get_encoder
from garments.attributes import ATTRIBUTE_NAMES
from garments.models import Garment
from ontology.query import ParsedQuery, parse_query
from ontology.vocabulary import tokenize
from prethrift.db_features import database_features
from prethrift.errors import ApplicationError, NotFoundError

from .facets import Facets, compute_facets
from .filters import SearchFilters, merge_parsed, parse_filters
from .metrics import vector_search_duration_seconds
from .planner import nearest

MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
KEYWORD_STOPWORDS = {"a", "an", "the", "for", "in", "on", "with", "and", "or", "of", "to"}
TRIGRAM_MIN_SIMILARITY = 0.4


class InvalidSearchError(ApplicationError):
    code = "invalid_search"


@dataclass
class SignalMatch:
    rank: int
    distance: float | None = None
    score: float | None = None


@dataclass
class Hit:
    garment: Garment
    score: float
    signals: dict[str, SignalMatch] = field(default_factory=dict)
    matched_terms: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SearchResult:
    hits: list[Hit]
    parsed: ParsedQuery | None
    filters: SearchFilters
    facets: Facets | None
    next_cursor: str | None
    mode: str
    planner: dict[str, str]
    timings_ms: dict[str, float]


@dataclass
class _Cursor:
    offset: int
    snapshot: int
    fingerprint: str

    def encode(self) -> str:
        raw = json.dumps({"o": self.offset, "s": self.snapshot, "f": self.fingerprint}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> _Cursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(int(data["o"]), int(data["s"]), str(data["f"]))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidSearchError("the cursor is not one this API issued", details={"cursor": token}) from exc


def _fingerprint(**request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]


class HybridSearchEngine:
    def search(
        self,
        *,
        query: str = "",
        image: bytes | None = None,
        similar_to: int | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 20,
        cursor: str | None = None,
        explain: bool = False,
        facets: bool = True,
        only_signals: set[str] | None = None,
        boosts: bool = True,
    ) -> SearchResult:
        """`only_signals` and `boosts` exist for evaluation: each signal alone, with the same filters."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        query = " ".join((query or "").split())
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidSearchError(f"the query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidSearchError(f"limit must be between 1 and {MAX_LIMIT}", details={"limit": limit})
        parsed = parse_query(query) if query else None
        search_filters = (
            merge_parsed(parse_filters(filters), parsed, set(filters or {})) if parsed else parse_filters(filters)
        )
        image_digest = hashlib.sha256(image).hexdigest() if image else None
        fingerprint = _fingerprint(q=query, f=search_filters.as_dict(), i=image_digest, s=similar_to)
        position = _Cursor.decode(cursor) if cursor else None
        if position is not None and position.fingerprint != fingerprint:
            raise InvalidSearchError("the cursor belongs to another search", details={"cursor": cursor})
        snapshot = position.snapshot if position else (Garment.objects.aggregate(top=Max("pk"))["top"] or 0)
        offset = position.offset if position else 0
        base = Garment.objects.filter(search_filters.q(), pk__lte=snapshot)
        if similar_to is not None:
            base = base.exclude(pk=similar_to)
        timings["parse_ms"] = _ms(started)

        pool = max(settings.SEARCH_CANDIDATES_PER_SIGNAL, offset + limit)
        signals: dict[str, list[tuple[int, float]]] = {}
        planner: dict[str, str] = {}
        mode = "browse"
        if query:
            mode = "text"
            self._text_signals(query, parsed, base, pool, signals, planner)
        if image is not None:
            mode = "image+text" if query else "image"
            self._image_signal(image, base, pool, signals, planner)
        if similar_to is not None:
            mode = "similar"
            self._similar_signals(similar_to, base, pool, signals, planner)
        if only_signals is not None:
            signals = {name: rows for name, rows in signals.items() if name in only_signals}
        timings["candidates_ms"] = _ms(started) - sum(timings.values())

        if mode == "browse":
            ranked = list(base.order_by("-created_at", "-pk").values_list("pk", flat=True)[offset : offset + limit + 1])
            scores = dict.fromkeys(ranked, 0.0)
            page_ids, more = ranked[:limit], len(ranked) > limit
        else:
            scores = _fuse(signals)
            page_ids, more = [], False
        if mode == "browse":
            garments = Garment.objects.without_vectors().in_bulk(page_ids)
            hits = [Hit(garments[pk], 0.0) for pk in page_ids if pk in garments]
        else:
            # Ranking needs only the attributes (boosts) and the photo hash (duplicates) of every
            # candidate; whole rows are read for the page alone.
            light = {
                row["pk"]: SimpleNamespace(**row)
                for row in Garment.objects.filter(pk__in=list(scores)).values("pk", "image_sha256", *ATTRIBUTE_NAMES)
            }
            ranked_hits = _collapse_duplicates(self._rank(scores, light, signals, parsed if boosts else None, explain))
            more = len(ranked_hits) > offset + limit
            hits = ranked_hits[offset : offset + limit]
            full = Garment.objects.without_vectors().in_bulk([hit.garment.pk for hit in hits])
            for hit in hits:
                hit.garment = full[hit.garment.pk]
        timings["fusion_ms"] = _ms(started) - sum(timings.values())
        facet_counts = compute_facets(base) if facets else None
        timings["facets_ms"] = _ms(started) - sum(timings.values())
        timings["total_ms"] = _ms(started)
        for path in set(planner.values()) or {"none"}:
            vector_search_duration_seconds.labels(mode=mode, path=path).observe(timings["total_ms"] / 1000)
        next_cursor = _Cursor(offset + limit, snapshot, fingerprint).encode() if more else None
        return SearchResult(hits, parsed, search_filters, facet_counts, next_cursor, mode, planner,
                            {k: round(v, 2) for k, v in timings.items()})  # fmt: skip

    # --- signals -----------------------------------------------------------------------------------

    def _vector(self, space: str, vector: Any, base: QuerySet[Garment], pool: int,
                signals: dict[str, list[tuple[int, float]]], planner: dict[str, str], name: str) -> None:  # fmt: skip
        result = nearest(base, f"{space}_embedding_vec", [float(x) for x in vector], pool)
        signals[name] = list(zip(result.ids, result.distances, strict=True))
        planner[name] = result.path

    def _text_signals(self, query: str, parsed: ParsedQuery | None, base: QuerySet[Garment], pool: int,
                      signals: dict[str, list[tuple[int, float]]], planner: dict[str, str]) -> None:  # fmt: skip
        for space in configured_spaces():
            vector = embed_query(query, space)
            if vector is not None:
                self._vector(space, vector, base, pool, signals, planner, space)
        words = list(dict.fromkeys(w for w in tokenize(query) if w not in KEYWORD_STOPWORDS and not w.isdigit()))
        if words:
            signals["keyword"] = self._keyword(base, words, pool)
        residual = parsed.residual if parsed else ""
        if residual and database_features().has_pg_trgm:
            similar = (
                base.annotate(similarity=TrigramWordSimilarity(residual, "title"))
                .filter(similarity__gte=TRIGRAM_MIN_SIMILARITY)
                .order_by("-similarity", "pk")
                .values_list("pk", "similarity")[:pool]
            )
            signals["trigram"] = [(pk, float(similarity)) for pk, similarity in similar]

    def _keyword(self, base: QuerySet[Garment], words: list[str], pool: int) -> list[tuple[int, float]]:
        """Every word first (few rows to rank, and the best ones); then any word, if that found too few.

        Ranking an OR of common words ("men") means ranking half the catalogue: 110 ms of the 200
        an early search took. The AND query answers most shopper queries alone.
        """
        found: list[tuple[int, float]] = []
        for joiner in (" & ", " | ") if len(words) > 1 else (" | ",):
            search_query = SearchQuery(joiner.join(words), search_type="raw", config="english")
            seen = {pk for pk, _ in found}
            rows = (
                base.filter(search_vector=search_query)
                .exclude(pk__in=seen)
                # F(), not the name: a bare name would be wrapped in to_tsvector(search_vector::text),
                # re-parsing the stored vector and dropping its A/B weights.
                .annotate(rank=SearchRank(F("search_vector"), search_query, cover_density=True))
                .order_by("-rank", "pk")
                .values_list("pk", "rank")[: pool - len(found)]
            )
            found += [(pk, float(rank)) for pk, rank in rows]
            if len(found) >= pool // 4:
                break
        return found

    def _image_signal(self, image: bytes, base: QuerySet[Garment], pool: int,
                      signals: dict[str, list[tuple[int, float]]], planner: dict[str, str]) -> None:  # fmt: skip
        from embeddings.encoders.base import EncoderError
        from embeddings.images import open_for_model
        from embeddings.runtime import model_slot

        encoder = get_encoder("image")
        if encoder is None:
            raise InvalidSearchError("image search is not available: no CLIP model is configured (CLIP_MODEL_PATH)")
        try:
            picture = open_for_model(image, int(getattr(encoder, "input_size", 224)))
        except EncoderError as exc:
            raise InvalidSearchError(f"the image cannot be used: {exc}") from exc
        with model_slot():
            vector = encoder.embed_images([picture])[0]
        self._vector("image", vector, base, pool, signals, planner, "photo")

    def _similar_signals(self, garment_id: int, base: QuerySet[Garment], pool: int,
                         signals: dict[str, list[tuple[int, float]]], planner: dict[str, str]) -> None:  # fmt: skip
        source = Garment.objects.filter(pk=garment_id).first()
        if source is None:
            raise NotFoundError(f"garment {garment_id} does not exist", details={"similar_to": garment_id})
        for space in ("image", "text", "openai_text"):
            vector = getattr(source, f"{space}_embedding_vec")
            if vector is not None:
                self._vector(space, vector, base, pool, signals, planner, space)
        if not signals:
            raise InvalidSearchError(f"garment {garment_id} has no vectors yet; try again once they are computed")

    # --- ranking ----------------------------------------------------------------------------------

    def _rank(
        self,
        scores: dict[int, float],
        garments: dict[int, Any],  # Garment, or a namespace of its pk, image_sha256 and attributes
        signals: dict[str, list[tuple[int, float]]],
        parsed: ParsedQuery | None,
        explain: bool,
    ) -> list[Hit]:
        positions = {
            name: {pk: (rank, value) for rank, (pk, value) in enumerate(rows, 1)} for name, rows in signals.items()
        }
        hits = []
        for pk, score in scores.items():
            garment = garments.get(pk)
            if garment is None:
                continue
            matched = _matched_terms(garment, parsed)
            boost = sum(settings.SEARCH_SOFT_TERM_BOOSTS.get(t["attribute"], 0.005) * t["confidence"] for t in matched)
            hit = Hit(garment, round(score + boost, 6))
            if explain:
                hit.matched_terms = matched
                for name, found in positions.items():
                    if pk in found:
                        rank, value = found[pk]
                        is_distance = name not in ("keyword", "trigram")
                        hit.signals[name] = SignalMatch(rank, round(value, 5) if is_distance else None,
                                                        None if is_distance else round(value, 5))  # fmt: skip
            hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.garment.pk))
        return hits


def _fuse(signals: dict[str, list[tuple[int, float]]]) -> dict[int, float]:
    """Reciprocal rank fusion: sum over signals of weight / (K + rank)."""
    scores: dict[int, float] = {}
    for name, rows in signals.items():
        weight = settings.SEARCH_SIGNAL_WEIGHTS.get(name, settings.SEARCH_SIGNAL_WEIGHTS.get("image", 1.0))
        for rank, (pk, _) in enumerate(rows, 1):
            scores[pk] = scores.get(pk, 0.0) + weight / (settings.SEARCH_RRF_K + rank)
    return scores


def _matched_terms(garment: Any, parsed: ParsedQuery | None) -> list[dict[str, Any]]:
    if parsed is None:
        return []
    return [
        {"attribute": term.attribute, "value": term.value, "words": term.words, "confidence": term.confidence}
        for term in parsed.soft
        if getattr(garment, term.attribute, None) == term.value
    ]


def _collapse_duplicates(hits: list[Hit]) -> list[Hit]:
    """Listings of the same photo are one garment listed twice: keep the best-ranked."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = hit.garment.image_sha256
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        out.append(hit)
    return out


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
