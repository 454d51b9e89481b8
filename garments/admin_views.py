"""Staff pages beside the garment admin: the search playground ("why does this rank here") and the
catalogue status page (vectors missing, stale or failed; index sizes; the last recall sample)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from embeddings.registry import configured_spaces
from ontology.vocabulary import load_vocabulary
from prethrift.errors import ApplicationError
from search.engine import MAX_LIMIT, MAX_QUERY_CHARS, Hit, HybridSearchEngine, SearchResult
from search.indexes import HNSW_BY_SPACE, IndexState, index_states
from search.recall import RECALL_AT, last_sample, measure_vector_search_recall, remember_sample
from search.serializers import SearchRequestSerializer, filters_from_query_params, run_search

from .attributes import ATTRIBUTE_NAMES
from .managers import EMBEDDING_SPACES, SPACE_SOURCE_HASH_FIELD, EmbeddingSpace
from .models import Garment, GarmentStatus
from .services import OPEN_ATTRIBUTES, SECTION_OF

logger = logging.getLogger(__name__)

SIMILAR_LIMIT = 8
# The status page lists this many of the latest failures (vectors and extraction), newest first.
RECENT_FAILURES = 20
# "Measure now" runs recall synchronously in the request: per space, this many garments' own vectors,
# each searched by an exact scan and by the planner. An exact scan of 100,000 384-dimension vectors
# is ~100 ms, so the button costs a few seconds at most; the beat task measures the configured
# SEARCH_RECALL_SAMPLE_SIZE in a worker.
ADMIN_RECALL_SAMPLE = 5


# --- shared pieces of the change page ---------------------------------------------------------------

STATE_LABELS = {
    "fresh": "fresh",
    "stale": "stale",
    "missing": "missing",
    "failed": "failed",
    "unconfigured": "not configured",
    "no-photo": "no photo",
}


@dataclass(frozen=True)
class EmbeddingState:
    state: str  # a key of STATE_LABELS
    model: str = ""
    dimensions: int | None = None
    computed: str = "-"
    message: str = ""

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def embedding_state(garment: Garment, space: EmbeddingSpace, *, configured: bool) -> EmbeddingState:
    """Where the garment's vector in `space` stands: fresh, stale (computed from other content), missing,
    failed (with the message embed_garments recorded), not configured here, or no photo to embed."""
    vector = getattr(garment, f"{space}_embedding_vec")
    error = garment.embedding_errors.get(space) if garment.pk else None
    message = ""
    if error:
        message = f"{error.get('message', '')} ({error.get('at', '')})"
    if vector is None:
        if space == "image" and not garment.image:
            state = "no-photo"
        elif error:
            state = "failed"
        else:
            state = "missing" if configured else "unconfigured"
        return EmbeddingState(state, message=message)
    fresh = getattr(garment, f"{space}_embedding_source_hash") == getattr(garment, SPACE_SOURCE_HASH_FIELD[space])
    return EmbeddingState(
        "failed" if error else "fresh" if fresh else "stale",
        model=getattr(garment, f"{space}_embedding_model"),
        dimensions=len(vector),
        computed=f"{getattr(garment, f'{space}_embedding_computed_at'):%Y-%m-%d %H:%M}",
        message=message,
    )


def garment_photo_url(garment: Garment, width: int) -> str:
    """A small copy of the garment's photo (the storefront's resized WebP), or "" when it has none."""
    if not garment.image or not garment.image_sha256:
        return ""
    from storefront.photos import thumbnail_url

    return thumbnail_url(garment.image_sha256, width)


def similar_garments(garment_id: int) -> tuple[list[Hit], str]:
    """The garment's nearest neighbours in every space it has a vector in (any status), or why there are none."""
    try:
        result = HybridSearchEngine().search(
            similar_to=garment_id, limit=SIMILAR_LIMIT, filters={"status": "any"}, explain=True, facets=False
        )
    except ApplicationError as exc:  # no vectors yet, or the garment went away
        return [], exc.message
    return result.hits, "" if result.hits else "No other garment has a vector to compare with."


# --- the pages ---------------------------------------------------------------------------------------


class AdminPage(View):
    """A page of the admin site: its context (site header, sidebar), staff only, with view permission."""

    admin_site: admin.AdminSite | None = None
    title = ""
    template_name = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm("garments.view_garment"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def render(self, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
        site = self.admin_site or admin.site
        return render(
            request,
            self.template_name,
            {**site.each_context(request), "title": self.title, "opts": Garment._meta, **context},
        )


def _vocabulary_select(name: str) -> forms.Select:
    values = sorted(load_vocabulary().values[SECTION_OF[name]])
    return forms.Select(choices=[("", "any"), *((value, value) for value in values)])


class PlaygroundForm(forms.Form):
    """What the playground shows and keeps between runs. Deliberately lenient: the search API's own
    serializer and filter parser judge the input (see PlaygroundView), so staff see the errors a
    client of the API would get."""

    q = forms.CharField(required=False, label="query", widget=forms.TextInput(attrs={"size": 60}))
    similar_to = forms.CharField(required=False, label="similar to garment id")
    limit = forms.CharField(required=False, initial=str(20), widget=forms.TextInput(attrs={"size": 4}))
    status = forms.CharField(
        required=False,
        widget=forms.Select(choices=[("", "available (default)"), *GarmentStatus.choices, ("any", "any")]),
    )
    price_min = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 8}))
    price_max = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 8}))
    currency = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 4}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ATTRIBUTE_NAMES:
            widget = forms.TextInput(attrs={"size": 12}) if name in OPEN_ATTRIBUTES else _vocabulary_select(name)
            self.fields[name] = forms.CharField(required=False, label=name.replace("_", " "), widget=widget)

    @property
    def search_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("q", "similar_to", "limit", "status", "price_min", "price_max", "currency")]

    @property
    def attribute_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ATTRIBUTE_NAMES]


def _error_text(detail: Any) -> str:
    """A DRF error detail (a list, a dict of lists, nested) as one line."""
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_error_text(value)}" for key, value in detail.items())
    if isinstance(detail, list | tuple):
        return "; ".join(_error_text(value) for value in detail)
    return str(detail)


@dataclass
class SignalCell:
    rank: int | None = None
    value: str = ""  # the distance (vectors) or the rank score (keyword, trigram)
    contribution: float = 0.0  # weight / (K + rank): what this signal added to the score


@dataclass
class ExplainedHit:
    position: int
    hit: Hit
    photo: str
    cells: list[SignalCell]
    boost: float


def explain_hits(result: SearchResult, signals: list[str]) -> list[ExplainedHit]:
    """Each hit's score taken apart: reciprocal-rank fusion per signal, then the soft-term boosts."""
    weights, k = settings.SEARCH_SIGNAL_WEIGHTS, settings.SEARCH_RRF_K
    explained = []
    for position, hit in enumerate(result.hits, 1):
        cells = []
        for name in signals:
            match = hit.signals.get(name)
            if match is None:
                cells.append(SignalCell())
                continue
            weight = weights.get(name, weights.get("image", 1.0))
            value = match.distance if match.distance is not None else match.score
            cells.append(SignalCell(match.rank, "" if value is None else f"{value:.4f}", weight / (k + match.rank)))
        boost = hit.score - sum(cell.contribution for cell in cells)
        explained.append(ExplainedHit(position, hit, garment_photo_url(hit.garment, 160), cells, round(boost, 6)))
    return explained


class PlaygroundView(AdminPage):
    """GET /admin/garments/garment/playground/?q=...: a search with every explanation the engine gives."""

    title = "Search playground"
    template_name = "admin/garments/playground.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        ran = bool(request.GET)
        form = PlaygroundForm(request.GET if ran else None)
        context: dict[str, Any] = {"form": form, "ran": ran}
        if ran and form.is_valid():
            result = self._search(request, form)
            if result is not None:
                signals = list(dict.fromkeys([*result.planner, *(name for hit in result.hits for name in hit.signals)]))
                signals = [name for name in signals if any(name in hit.signals for hit in result.hits)] or signals
                context.update(
                    result=result,
                    signals=signals,
                    hits=explain_hits(result, signals),
                    planner=sorted(result.planner.items()),
                    timings=list(result.timings_ms.items()),
                    weights=settings.SEARCH_SIGNAL_WEIGHTS,
                    rrf_k=settings.SEARCH_RRF_K,
                    parsed=result.parsed,
                    applied=sorted(result.filters.as_dict().items()),
                )
        context["max_query_chars"], context["max_limit"] = MAX_QUERY_CHARS, MAX_LIMIT
        return self.render(request, context)

    def _search(self, request: HttpRequest, form: PlaygroundForm) -> SearchResult | None:
        """Validate as the search API does (its serializer and filter parser); any refusal is a form error."""
        values = form.cleaned_data
        data: dict[str, Any] = {"q": values["q"], "explain": True, "facets": False}
        for name in ("similar_to", "limit"):
            if values[name].strip():
                data[name] = values[name].strip()
        data["filters"] = filters_from_query_params(request.GET)
        serializer = SearchRequestSerializer(data=data)
        if not serializer.is_valid():
            for name, detail in serializer.errors.items():
                form.add_error(name if name in form.fields else None, _error_text(detail))
            return None
        validated = serializer.validated_data
        try:
            return run_search(validated)  # explain on and facets off: the data above asks for them
        except ApplicationError as exc:  # a filter value, a missing garment, no vectors yet
            form.add_error(None, exc.message)
            return None


@dataclass
class SpaceStatus:
    space: str
    configured: bool
    eligible: int  # garments that should have a vector here (those with a photo, for images)
    with_vector: int
    missing: int
    stale: int
    failed: int
    index: str
    index_bytes: int | None
    index_valid: bool | None


def space_statuses(*, total: int, states: dict[str, IndexState]) -> list[SpaceStatus]:
    """Per embedding space, how many garments lack a vector, have a stale one, or failed (counts: one
    scan each; at a million garments the page takes about a second)."""
    configured = set(configured_spaces())
    everyone = Garment.objects.all()
    with_image = everyone.with_image().order_by().count()
    rows = []
    for space in EMBEDDING_SPACES:
        column = f"{space}_embedding_vec"
        pending = everyone.needs_embedding(space)
        missing = pending.filter(**{f"{column}__isnull": True}).order_by().count()
        index = states.get(HNSW_BY_SPACE[space])
        rows.append(
            SpaceStatus(
                space=space,
                configured=space in configured,
                eligible=with_image if space == "image" else total,
                with_vector=everyone.filter(**{f"{column}__isnull": False}).order_by().count(),
                missing=missing,
                stale=pending.order_by().count() - missing,
                failed=everyone.filter(embedding_errors__has_key=space).order_by().count(),
                index=HNSW_BY_SPACE[space],
                index_bytes=index.size_bytes if index else None,
                index_valid=index.valid if index else None,
            )
        )
    return rows


@dataclass
class Failure:
    garment: Garment
    kind: str  # an embedding space, or "ontology" (attribute extraction)
    message: str
    at: str


def recent_failures(limit: int = RECENT_FAILURES) -> list[Failure]:
    """The latest recorded failures, newest first: a garment's embedding_errors, one row per kind."""
    garments = (
        Garment.objects.exclude(embedding_errors={})
        .only("pk", "sku", "title", "embedding_errors", "updated_at")
        .order_by("-updated_at", "-pk")[:limit]
    )
    failures = [
        Failure(garment, str(kind), str(error.get("message", "")), str(error.get("at", "")))
        for garment in garments
        for kind, error in sorted(garment.embedding_errors.items())
        if isinstance(error, dict)
    ]
    return sorted(failures, key=lambda failure: failure.at, reverse=True)[:limit]


def pgvector_version() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return str(row[0]) if row else None


def measure_recall_now() -> dict[str, Any]:
    """Measure recall on a small sample now and keep it as the last sample (as the beat task does)."""
    results = measure_vector_search_recall(sample_size=ADMIN_RECALL_SAMPLE)
    return remember_sample(results, sample_size=ADMIN_RECALL_SAMPLE, k=RECALL_AT)


class StatusView(AdminPage):
    """GET /admin/garments/garment/status/: the catalogue's derived data at a glance; POST measures recall."""

    title = "Catalogue status"
    template_name = "admin/garments/status.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        from ontology.services import ERROR_KEY, ontology_version

        everyone = Garment.objects.all()
        total = everyone.order_by().count()
        states = index_states()
        other_indexes = sorted(
            (state for name, state in states.items() if name not in HNSW_BY_SPACE.values()), key=lambda s: s.name
        )
        context = {
            "spaces": space_statuses(total=total, states=states),
            "total": total,
            "extraction_pending": everyone.needs_extraction(version=ontology_version()).order_by().count(),
            "extraction_failed": everyone.filter(embedding_errors__has_key=ERROR_KEY).order_by().count(),
            "failures": recent_failures(),
            "pgvector_version": pgvector_version(),
            "other_indexes": other_indexes,
            "recall": last_sample(),
            "recall_sample": ADMIN_RECALL_SAMPLE,
            "recall_interval": settings.SEARCH_RECALL_INTERVAL_SECONDS,
        }
        return self.render(request, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        # Measuring runs queries and replaces the stored sample: work, not a view. Staff who may change garments.
        if not request.user.has_perm("garments.change_garment"):
            raise PermissionDenied
        try:
            sample = measure_recall_now()
        except DatabaseError as exc:  # a statement timeout or a lost connection: say so, never a 500
            logger.warning("recall measurement from the admin failed: %s", exc)
            messages.error(request, f"Recall could not be measured: {exc}")
        else:
            measured = [f"{s['space']} {s['recall']:.3f}" for s in sample["spaces"] if s["recall"] is not None]
            found = ", ".join(measured) or "no space has enough vectors"
            messages.success(request, f"Recall@{RECALL_AT} measured: {found}.")
        return HttpResponseRedirect(reverse("admin:garments_garment_status"))
