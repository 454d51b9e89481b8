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

import copy
import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core import signing
from django.db import connections, models
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL

from embeddings.encoders.base import EncoderError, TransientEncoderError
from embeddings.metrics import query_embedding_failures_total
from embeddings.query import embed_query
from embeddings.registry import configured_spaces, get_encoder
from garments.attributes import ATTRIBUTE_NAMES
from garments.managers import EMBEDDING_SPACES
from garments.models import Garment
from ontology.query import ParsedQuery, parse_query
from ontology.vocabulary import load_vocabulary, tokenize
from prethrift.db_features import database_features
from prethrift.errors import ApplicationError, NotFoundError
from prethrift.replicas import search_database

from .facets import Facets, cached_facets
from .filters import SearchFilters, is_storable_text, merge_parsed, parse_filters
from .metrics import search_results, vector_search_duration_seconds
from .planner import NEWEST_ID_SQL, apply_session_settings, nearest

logger = logging.getLogger(__name__)
MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
KEYWORD_STOPWORDS = {"a", "an", "the", "for", "in", "on", "with", "and", "or", "of", "to"}
TRIGRAM_MIN_SIMILARITY = 0.4
TRIGRAM_WHEN_KEYWORD_FOUND_FEWER = 5  # garments: below it, the words probably do not match as written


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


# How deep a client may page: results past rank 1,000 are not served. Each signal fetches
# offset + limit candidates, so an unbounded offset (a forged or long-paged cursor) made one request
# rank every vector in every space exactly; at this depth a page reads at most 1,100 candidates per
# signal (11 times the default pool), and fusion ranked that deep is noise for a shopper anyway.
MAX_CURSOR_OFFSET = 1000
# A cursor pins a snapshot of the catalogue; after a day that snapshot is stale enough to start over.
CURSOR_MAX_AGE_SECONDS = 24 * 60 * 60
CURSOR_SALT = "prethrift.search.cursor"  # a signature made for another purpose never verifies here
MAX_CURSOR_CHARS = 200  # a cursor this API issues is about 90 characters
_FINGERPRINT_CHARS = 16
_MAX_PK = 2**63 - 1  # bigint


@dataclass
class _Cursor:
    """Where the next page starts: signed (django.core.signing), so a client can present a cursor
    this API issued, unchanged and not expired, and nothing else."""

    offset: int
    snapshot: int
    fingerprint: str

    def encode(self) -> str:
        payload = {"o": self.offset, "s": self.snapshot, "f": self.fingerprint}
        return signing.dumps(payload, salt=CURSOR_SALT, compress=False)

    @classmethod
    def decode(cls, token: str) -> _Cursor:
        def refuse(why: str) -> InvalidSearchError:
            return InvalidSearchError(f"the cursor is not one this API issued ({why}); start from the first page",
                                      details={"cursor": token[:MAX_CURSOR_CHARS]})  # fmt: skip

        if not isinstance(token, str) or len(token) > MAX_CURSOR_CHARS:
            raise refuse("too long")
        try:
            data = signing.loads(token, salt=CURSOR_SALT, max_age=CURSOR_MAX_AGE_SECONDS)
        except signing.SignatureExpired:
            raise refuse("expired") from None
        except (signing.BadSignature, ValueError, RecursionError):
            raise refuse("bad signature") from None
        # Signed by us, but checked all the same: a leaked SECRET_KEY must not turn into a 500.
        if not isinstance(data, dict) or set(data) != {"o", "s", "f"}:
            raise refuse("bad payload")
        offset, snapshot, fingerprint = data["o"], data["s"], data["f"]
        if not (type(offset) is int and 0 <= offset <= MAX_CURSOR_OFFSET):
            raise refuse("bad offset")
        if not (type(snapshot) is int and 0 <= snapshot <= _MAX_PK):
            raise refuse("bad snapshot")
        if not (isinstance(fingerprint, str) and len(fingerprint) == _FINGERPRINT_CHARS):
            raise refuse("bad fingerprint")
        return cls(offset, snapshot, fingerprint)


def _fingerprint(**request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:_FINGERPRINT_CHARS]


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
        if not is_storable_text(query):
            raise InvalidSearchError("the query holds a NUL byte or an unpaired surrogate", details={"q": repr(query)})
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidSearchError(f"limit must be between 1 and {MAX_LIMIT}", details={"limit": limit})
        parsed = _parse(query) if query else None
        search_filters = (
            merge_parsed(parse_filters(filters), parsed, set(filters or {})) if parsed else parse_filters(filters)
        )
        image_digest = hashlib.sha256(image).hexdigest() if image else None
        fingerprint = _fingerprint(q=query, f=search_filters.as_dict(), i=image_digest, s=similar_to)
        position = _Cursor.decode(cursor) if cursor else None
        if position is not None and position.fingerprint != fingerprint:
            raise InvalidSearchError("the cursor belongs to another search", details={"cursor": cursor})
        alias = search_database()
        garments = Garment.objects.using(alias)
        offset = position.offset if position else 0
        if position is not None:  # a later page: the garments that existed when the first was served
            base = garments.filter(search_filters.q(), pk__lte=position.snapshot)
        else:  # the first page: every garment now; the newest id comes back with the candidates
            # NEWEST_ID_SQL: the newest id, read in the same statement (so the same snapshot) as the
            # first candidates; later pages see only garments up to it, so new listings cannot shift
            # them. A separate SELECT max(id) cost a round trip and ~7% of a search's CPU.
            base = garments.filter(search_filters.q()).annotate(newest=RawSQL(NEWEST_ID_SQL, ()))  # noqa: S611
        if similar_to is not None:
            base = base.exclude(pk=similar_to)
        timings["parse_ms"] = _ms(started)

        pool = max(settings.SEARCH_CANDIDATES_PER_SIGNAL, offset + limit)
        found = _Candidates(base, pool, offset + limit, _SignalFilter(only_signals), newest=position is None)
        mode = "browse"
        if query:
            mode = "text"
            self._text_signals(query, parsed, found)
        if image is not None:
            mode = "image+text" if query else "image"
            self._image_signal(image, found)
        if similar_to is not None:
            mode = "similar"
            self._similar_signals(similar_to, found)
        signals, planner = found.signals, found.planner
        if only_signals is not None:
            signals = {name: rows for name, rows in signals.items() if name in only_signals}
        timings["candidates_ms"] = _ms(started) - sum(timings.values())

        if mode == "browse":
            newest_first = base.order_by("-created_at", "-pk").values_list("pk", *found.extra)
            rows = list(newest_first[offset : offset + limit + 1])
            found.newest = found.newest or (rows[0][-1] if rows and found.extra else None)
            ranked = [row[0] for row in rows]
            more = len(ranked) > limit
            page = _page_rows(garments, ranked[:limit])
            hits = [Hit(page[pk], 0.0) for pk in ranked[:limit] if pk in page]
        else:
            scores = _fuse(signals)
            # Ranking needs only the attributes (boosts) and the photo hash (duplicates) of every
            # candidate, which came back with the candidates; whole rows are read for the page alone.
            ranked_hits = _collapse_duplicates(
                self._rank(scores, found.light, signals, parsed if boosts else None, explain)
            )
            more = len(ranked_hits) > offset + limit
            hits = ranked_hits[offset : offset + limit]
            page = _page_rows(garments, [hit.garment.pk for hit in hits])
            hits = [hit for hit in hits if hit.garment.pk in page]  # deleted since the candidates were read
            for hit in hits:
                hit.garment = page[hit.garment.pk]
        timings["fusion_ms"] = _ms(started) - sum(timings.values())
        snapshot = position.snapshot if position is not None else found.newest or 0
        facet_key = {"filters": search_filters.as_dict(), "snapshot": snapshot, "similar_to": similar_to}
        facet_counts = cached_facets(base, facet_key) if facets else None
        timings["facets_ms"] = _ms(started) - sum(timings.values())
        timings["total_ms"] = _ms(started)
        for path in set(planner.values()) or {"none"}:
            vector_search_duration_seconds.labels(mode=mode, path=path).observe(timings["total_ms"] / 1000)
        if position is None:  # a query's first page: later pages would count the same query again
            search_results.labels(mode=mode).observe(len(hits))
        # No cursor past MAX_CURSOR_OFFSET: the client has reached the deepest page served.
        deeper = more and offset + limit <= MAX_CURSOR_OFFSET
        next_cursor = _Cursor(offset + limit, snapshot, fingerprint).encode() if deeper else None
        return SearchResult(hits, parsed, search_filters, facet_counts, next_cursor, mode, planner,
                            {k: round(v, 2) for k, v in timings.items()})  # fmt: skip

    # --- signals -----------------------------------------------------------------------------------

    def _vector(self, space: str, vector: Any, found: _Candidates, name: str) -> None:
        result = nearest(found.base, f"{space}_embedding_vec", [float(x) for x in vector], found.pool,
                         min_rows=found.page_end, fields=LIGHT_FIELDS, newest=bool(found.extra))  # fmt: skip
        found.add(name, [(pk, distance, *extra) for pk, distance, extra in
                         zip(result.ids, result.distances, result.extras, strict=True)])  # fmt: skip
        found.planner[name] = result.path

    def _text_signals(self, query: str, parsed: ParsedQuery | None, found: _Candidates) -> None:
        for space in configured_spaces():
            if not found.wanted(space):
                continue
            try:
                vector = embed_query(query, space)
            except (EncoderError, TransientEncoderError) as exc:
                # A remote encoder that is down or slow costs this signal, never the search: the others
                # (local vectors, keywords) still answer, and the planner says which one was missing.
                logger.warning("search without the %s signal: %s", space, exc)
                query_embedding_failures_total.labels(space=space).inc()
                found.planner[space] = "unavailable"
                continue
            if vector is not None:
                self._vector(space, vector, found, space)
        words = keyword_words(query, parsed)
        if words and found.wanted("keyword"):
            # With a vector signal beside it, keyword search keeps to its strict stages (see keyword_stages).
            found.add("keyword", self._keyword(found, words, loosest=not found.signals))
        residual = parsed.residual if parsed else ""
        if residual and found.wanted("trigram") and self._needs_trigram(found):
            connection = connections[found.base.db]
            with connection.cursor() as cursor:
                threshold = {"pg_trgm.word_similarity_threshold": str(TRIGRAM_MIN_SIMILARITY)}
                apply_session_settings(connection, cursor, threshold)
            similar = (
                # `title %> words`: word similarity above the threshold, which the title's trigram GIN
                # index answers; a bare similarity >= x condition scanned the whole table (450 ms
                # at 100,000 garments).
                found.base.filter(title__trigram_word_similar=residual)
                .annotate(similarity=TrigramWordSimilarity(residual, "title"))
                .order_by("-similarity", "pk")
                .values_list("pk", "similarity", *found.fields)[: found.pool]
            )
            found.add("trigram", list(similar))

    @staticmethod
    def _needs_trigram(found: _Candidates) -> bool:
        """Trigram similarity is for words full text cannot match (misspellings: "sandels"). When the
        keyword signal found garments, the words are spelled as the catalogue spells them, and a
        common word ("shirt") matches a fifth of the catalogue by trigrams too: 450 ms at 100,000."""
        if not database_features(found.base.db).has_pg_trgm:
            return False
        return len(found.signals.get("keyword", [])) < TRIGRAM_WHEN_KEYWORD_FOUND_FEWER

    def _keyword(self, candidates: _Candidates, words: list[str], *, loosest: bool = True) -> list[tuple[Any, ...]]:
        """Every word first; then all but one (any n-1 of n); then any word, while too few were found.

        Ranking an OR of common words ("women black heels": every women's or black garment) means
        ranking half the catalogue: tens of milliseconds at 100,000 garments. The AND query answers
        most shopper queries alone, and n-1 of n (a "minimum should match") most of the rest. Beside a
        vector signal the any-word stage is skipped (`loosest=False`): the vectors already rank those
        garments by meaning, and it was the slowest statement of a search.
        """
        found: list[tuple[Any, ...]] = []
        stages = keyword_stages(words)
        for stage in stages if loosest or len(stages) == 1 else stages[:-1]:
            search_query = SearchQuery(stage, search_type="raw", config="english")
            seen = {row[0] for row in found}
            rows = (
                candidates.base.filter(search_vector=search_query)
                .exclude(pk__in=seen)
                # F(), not the name: a bare name would be wrapped in to_tsvector(search_vector::text),
                # re-parsing the stored vector and dropping its A/B weights.
                .annotate(rank=SearchRank(F("search_vector"), search_query, cover_density=True))
                .order_by("-rank", "pk")
                .values_list("pk", "rank", *candidates.fields)[: candidates.pool - len(found)]
            )
            found += list(rows)
            if len(found) >= candidates.pool // 4:
                break
        return found

    def _image_signal(self, image: bytes, found: _Candidates) -> None:
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
        self._vector("image", vector, found, "photo")

    def _similar_signals(self, garment_id: int, found: _Candidates) -> None:
        columns = [f"{space}_embedding_vec" for space in EMBEDDING_SPACES]
        source = Garment.objects.using(found.base.db).filter(pk=garment_id).values(*columns).first()
        if source is None:
            raise NotFoundError(f"garment {garment_id} does not exist", details={"similar_to": garment_id})
        for space in EMBEDDING_SPACES:
            vector = source[f"{space}_embedding_vec"]
            if vector is not None:
                self._vector(space, vector, found, space)
        if not found.signals:
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


MAX_KEYWORD_WORDS = 8  # a shopper's query; more words only make the tsquery and its stages larger


def keyword_words(query: str, parsed: ParsedQuery | None) -> list[str]:
    """The words full-text search looks for: the parser's (no prices, sizes or negated terms)."""
    words = parsed.keywords if parsed is not None else tokenize(query)
    kept = [w for w in dict.fromkeys(words) if w not in KEYWORD_STOPWORDS and not w.isdigit()]
    return kept[:MAX_KEYWORD_WORDS]


def keyword_stages(words: list[str]) -> list[str]:
    """tsquery texts from strictest to loosest: all words, any n-1 of them (n >= 3), any one."""
    if len(words) == 1:
        return [words[0]]
    stages = [" & ".join(words)]
    if len(words) >= 3:
        stages.append(" | ".join("(" + " & ".join(words[:i] + words[i + 1 :]) + ")" for i in range(len(words))))
    stages.append(" | ".join(words))
    return stages


# What ranking reads of every candidate; each signal's query returns them beside its own score.
LIGHT_FIELDS = ("image_sha256", *ATTRIBUTE_NAMES)
# What a page of hits shows (the API's garment representation): vectors, the tsvector, hashes and
# the import's raw labels stay in the database.
PAGE_FIELDS = ("id", "sku", "title", "description", "price", "currency", "status", "sold_at", "image",
               "image_sha256", "created_at", "updated_at", "ontology_confidence", "ontology_source",
               "ontology_locked", "ontology_evidence", *ATTRIBUTE_NAMES)  # fmt: skip


class _Candidates:
    """What the signals found: ranked (pk, score) lists, the planner's path per signal, light rows."""

    def __init__(
        self, base: QuerySet[Garment], pool: int, page_end: int, wanted: _SignalFilter, *, newest: bool
    ) -> None:
        self.base, self.pool, self.page_end, self.wanted = base, pool, page_end, wanted
        self.extra: tuple[str, ...] = ("newest",) if newest else ()
        self.fields = (*LIGHT_FIELDS, *self.extra)  # what every candidate query returns beside its score
        self.newest: int | None = None
        self.signals: dict[str, list[tuple[int, float]]] = {}
        self.planner: dict[str, str] = {}
        self.light: dict[int, SimpleNamespace] = {}

    def add(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        """rows: (pk, score or distance, *fields), best first."""
        if self.extra and rows:
            # The first statement's newest id pins the page; a garment listed between this search's
            # statements is left out, so that later pages rank exactly the same set.
            self.newest = rows[0][-1] if self.newest is None else self.newest
            rows = [row for row in rows if row[0] <= self.newest]
        self.signals[name] = [(row[0], float(row[1])) for row in rows]
        width = len(LIGHT_FIELDS)
        for row in rows:
            if row[0] not in self.light:
                light = dict(zip(LIGHT_FIELDS, row[2 : 2 + width], strict=True))
                self.light[row[0]] = SimpleNamespace(pk=row[0], **light)


_PAGE_CONCRETE = [f for f in Garment._meta.concrete_fields if f.name in PAGE_FIELDS]  # in the model's order
_PAGE_ATTNAMES = [f.attname for f in _PAGE_CONCRETE]
_PAGE_JSON = [i for i, f in enumerate(_PAGE_CONCRETE) if isinstance(f, models.JSONField)]
_PAGE_SQL = (
    f"SELECT {', '.join(f'{chr(34)}{f.column}{chr(34)}' for f in _PAGE_CONCRETE)} "  # noqa: S608  (constants)
    f'FROM "{Garment._meta.db_table}" WHERE "id" = ANY(%s)'
)


def _page_rows(garments: QuerySet[Garment], ids: list[int]) -> dict[int, Garment]:
    """The page's garments (only what a hit shows; the rest deferred), built from one bare statement.

    Through the ORM (`only(...).filter(pk__in=...)`) this cost 2.3 ms for 20 rows, against 0.8 ms for
    the same SQL: Django's compiler and per-row converters. Model instances are still what comes
    out, made by Model.from_db as the ORM makes them; JSON columns are decoded as JSONField does.
    """
    if not ids:
        return {}
    with connections[garments.db].cursor() as cursor:
        cursor.execute(_PAGE_SQL, [list(ids)])
        rows = cursor.fetchall()
    page = {}
    for row in rows:
        values = list(row)
        for index in _PAGE_JSON:
            if isinstance(values[index], str):
                values[index] = json.loads(values[index])
        garment = Garment.from_db(garments.db, _PAGE_ATTNAMES, values)
        page[garment.pk] = garment
    return page


class _SignalFilter:
    """Which signals a search computes: all, or those `only_signals` names (evaluation, benchmarks)."""

    def __init__(self, only: set[str] | None) -> None:
        self.only = only

    def __call__(self, name: str) -> bool:
        return self.only is None or name in self.only


@functools.lru_cache(maxsize=4096)
def _parse_cached(query: str, vocabulary_version: int) -> ParsedQuery:
    return parse_query(query)


def _parse(query: str) -> ParsedQuery:
    """parse_query, memoised per text and vocabulary version (1 ms a parse; head queries repeat).

    A copy goes out: the engine's callers may change what they get back."""
    return copy.deepcopy(_parse_cached(query, load_vocabulary().version))


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
