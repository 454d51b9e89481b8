"""The search page (/): the API's engine and serializers behind a server-rendered page for shoppers.

Input is validated by the API's SearchRequestSerializer and filters_from_query_params, the search is
search.serializers.run_search, as the API calls it (here with explain and facets on), and the page
renders result_payload's dicts: the page and GET /api/v1/search/ cannot disagree. Bad input is the
page again with a message and a 4xx, never a 500.

A photo search is a POST (multipart, CSRF-checked) that keeps the photo in the cache for
PHOTO_TTL_SECONDS and redirects to /?photo=<sha256>&q=...: the results are a GET like any other
search, so chips, facets, "next page" and a reload work without uploading again (docs/search-page.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from rest_framework.exceptions import APIException

from embeddings.registry import configured_spaces
from garments.attributes import ATTRIBUTE_NAMES
from garments.images import InvalidImageError, open_guarded
from garments.models import Garment
from prethrift import throttling as shared_throttling
from prethrift.errors import ApplicationError
from prethrift.parsers import MULTIPART_OVERHEAD_BYTES, refuse_if_longer
from search.apis import ImageSearchThrottle, SearchThrottle
from search.engine import SearchResult
from search.filters import canonical_value
from search.serializers import (
    SearchRequestSerializer,
    filters_from_query_params,
    reject_unknown,
    result_payload,
    run_search,
)

from . import chips
from .photos import thumbnail_url

logger = logging.getLogger(__name__)

# A grid of 4, 3 or 2 columns fills whole rows with 24 cards.
PAGE_SIZE = 24
# How long an uploaded photo stays searchable without uploading it again (chips, facets, next page).
PHOTO_TTL_SECONDS = 30 * 60
PHOTO_CACHE_PREFIX = "storefront:photo:"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The widths a card's <img srcset> offers; the browser picks by the card's rendered width.
CARD_WIDTHS = (160, 320, 640)
GET_PARAMETERS = frozenset(
    {"q", "limit", "cursor", "similar_to", "photo", "price_min", "price_max", "currency", "status", *ATTRIBUTE_NAMES}
)
POST_FIELDS = frozenset({"q", "image", "csrfmiddlewaretoken"})
# Facets a shopper narrows by, in the order shown; the rest (season, era, ...) stay in the API.
FACET_ORDER = ("category", "subcategory", "primary_color", "size", "condition", "brand", "material", "gender",
               "pattern", "style", "fit", "occasion", "sleeve_length", "era", "season", "secondary_color")  # fmt: skip
FACET_VALUES_SHOWN = 8


class PageError(Exception):
    """Input the page cannot search with: shown on the page with `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _PageThrottleScope:
    """What DRF's scoped throttle reads from a view: the page counts against the API's "search" rate."""

    throttle_scope = "search"


class PhotoSearchThrottle(ImageSearchThrottle):
    """The API's image_search rate, for an upload and for each page of a kept photo (each runs CLIP)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method == "GET" and request.GET.get("photo"):
            return shared_throttling.UserRateThrottle.allow_request(self, request, view)
        return super().allow_request(request, view)


def _throttle_wait(request: HttpRequest) -> float | None:
    """Seconds to wait when the API's throttles refuse this request (they count page and API together)."""
    for throttle in (SearchThrottle(), PhotoSearchThrottle()):
        if not throttle.allow_request(request, _PageThrottleScope()):  # type: ignore[arg-type]
            return throttle.wait() or 1.0
    return None


@csrf_exempt  # checked in _upload, after the body's declared size: the check reads the whole body
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def search_page(request: HttpRequest) -> HttpResponse:
    """GET: search and show results; POST: upload a photo to search by."""
    if not (settings.SEARCH_ALLOW_ANONYMOUS or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
    wait = _throttle_wait(request)
    if wait is not None:
        response = _page(request, error="Too many searches in a short time; please wait a moment.", status=429)
        response["Retry-After"] = str(max(1, round(wait)))
        return response
    if request.method == "POST":
        try:
            refuse_if_longer(request.META, settings.SEARCH_MAX_IMAGE_BYTES + MULTIPART_OVERHEAD_BYTES)
        except APIException as exc:
            limit_mb = settings.SEARCH_MAX_IMAGE_BYTES / (1024 * 1024)
            message = f"The photo is too large: photos of up to {limit_mb:g} MB are accepted. ({exc.detail})"
            return _page(request, error=message, status=exc.status_code)
        return _upload(request)
    return _search(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    """Keep the photo for a while and show its results at a GET URL (post, redirect, get)."""
    try:
        if not _photo_search_available():
            raise PageError("Search by photo is not available here: no image model is configured.")
        reject_unknown([*request.POST, *request.FILES], POST_FIELDS, "fields")
        serializer = SearchRequestSerializer(data={"q": request.POST.get("q", ""), "image": request.FILES.get("image")})
        if not serializer.is_valid():
            raise PageError(_messages(serializer.errors))
        upload = serializer.validated_data["image"]
        if upload is None:
            raise PageError("Choose a photo to search with.")
        content = upload.read()
        open_guarded(content, 224)  # the engine's checks, now: a bad photo is told on this page, not the next
    except PageError as exc:
        return _page(request, error=exc.message, status=exc.status)
    except (ApplicationError, InvalidImageError) as exc:
        return _page(request, error=exc.message, status=exc.status_code)
    digest = hashlib.sha256(content).hexdigest()
    cache.set(PHOTO_CACHE_PREFIX + digest, content, timeout=PHOTO_TTL_SECONDS)
    return HttpResponseRedirect(chips.page_url({"photo": [digest], "q": [serializer.validated_data["q"]]}), status=303)


def _photo_search_available() -> bool:
    return "image" in configured_spaces()


def _kept_photo(digest: str) -> bytes:
    if not SHA256.match(digest):
        raise PageError("That photo link is not valid; upload the photo again.")
    content = cache.get(PHOTO_CACHE_PREFIX + digest)
    if not isinstance(content, bytes):
        raise PageError(
            f"Uploaded photos are kept for {PHOTO_TTL_SECONDS // 60} minutes and this one has gone; upload it again."
        )
    return content


def _messages(errors: Any) -> str:
    """A serializer's errors as one sentence a shopper can read ("limit: ensure this value ...")."""
    labels = {"q": "Search", "image": "Photo", "limit": "Results per page", "cursor": "Page link",
              "similar_to": "More like this", "filters": "Filters"}  # fmt: skip
    parts = []
    for name, problems in errors.items():
        text = " ".join(str(p) for p in (problems if isinstance(problems, list) else [problems]))
        parts.append(f"{labels.get(name, name)}: {text}")
    return " ".join(parts)


def _search(request: HttpRequest) -> HttpResponse:
    params = request.GET
    try:
        reject_unknown(params, GET_PARAMETERS, "query parameters")
        data: dict[str, Any] = {key: params[key] for key in ("q", "cursor", "similar_to") if params.get(key)}
        data["limit"] = params.get("limit") or PAGE_SIZE
        data["filters"] = filters_from_query_params(params)
        data["explain"] = data["facets"] = True
        serializer = SearchRequestSerializer(data=data)
        if not serializer.is_valid():
            raise PageError(_messages(serializer.errors))
        values = serializer.validated_data
        image = _kept_photo(params["photo"]) if params.get("photo") else None
        result = run_search(values, image=image)
    except PageError as exc:
        return _page(request, error=exc.message, status=exc.status)
    except ApplicationError as exc:
        return _page(request, error=exc.message, status=exc.status_code)
    logger.info(
        "search page mode=%s results=%d total_ms=%s",
        result.mode,
        len(result.hits),
        result.timings_ms.get("total_ms"),
        extra={"event": "search_page", "mode": result.mode, "results": len(result.hits),
               "timings_ms": result.timings_ms, "next_page": bool(values["cursor"])},
    )  # fmt: skip
    return _page(request, result=result, similar_to=values["similar_to"])


# --- what the template shows ------------------------------------------------------------------------------


@dataclass
class FacetValue:
    label: str
    count: int
    url: str
    selected: bool


@dataclass
class FacetGroup:
    name: str
    label: str
    values: list[FacetValue] = field(default_factory=list)


def _number(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _size(value: str | None) -> str | None:
    """Letter sizes as shoppers write them ("xl" -> "XL"); "one size" or "EU 38" as stored."""
    return value.upper() if value and value.isalpha() and len(value) <= 4 else value


EVIDENCE_SHOWN = ("condition", "size")  # the API gives every attribute's evidence; the card, what shoppers ask
PLAIN_SIZE_EVIDENCE = "words"  # a size the listing stated plainly: nothing to explain (an ambiguous one says why)


def _card(payload: dict[str, Any], image_sha256: str) -> dict[str, Any]:
    """What a card shows, formatted here: template filters per card and signal cost more than the rest of the page."""
    garment = payload["garment"]
    attributes = garment["attributes"]
    signals = [
        {"name": name, "rank": s["rank"], "score": _number(s["score"], 3), "distance": _number(s["distance"], 3)}
        for name, s in sorted(payload["signals"].items(), key=lambda item: item[1]["rank"])
    ]
    urls = [thumbnail_url(image_sha256, width) for width in CARD_WIDTHS] if image_sha256 else []
    return {
        "id": garment["id"],
        "title": garment["title"],
        "price": None if garment["price"] is None else chips.money(garment["price"], garment["currency"]),
        "size": _size(attributes.get("size", {}).get("value")),
        "condition": (attributes.get("condition", {}).get("value") or "").replace("_", " ") or None,
        "src": urls[CARD_WIDTHS.index(320)] if urls else None,
        "srcset": ", ".join(f"{url} {width}w" for url, width in zip(urls, CARD_WIDTHS, strict=True)) if urls else "",
        "score": _number(payload["score"], 4),
        "signals": signals,
        "matched_terms": [
            {**term, "attribute": chips.attribute_label(term["attribute"])} for term in payload["matched_terms"]
        ],
        "similar_url": chips.page_url({"similar_to": [str(garment["id"])]}),
        # What the listing's own words graded: a second-hand shopper's first question is "what state is it in".
        "evidence": [
            {"attribute": chips.attribute_label(name), "text": attributes[name]["evidence"]}
            for name in EVIDENCE_SHOWN
            if attributes.get(name, {}).get("evidence") not in (None, "", PLAIN_SIZE_EVIDENCE)
        ],
    }


def _facets(request: HttpRequest, payload: dict[str, Any]) -> tuple[list[FacetGroup], list[FacetValue]]:
    """Facet links: each adds its value to the page's parameters, or takes it away when chosen."""
    facets = payload["facets"]
    if not facets:
        return [], []
    params = request.GET
    groups = []
    for name in FACET_ORDER:
        rows = facets["attributes"].get(name) or []
        # As the filter applied them: ?category=OUTERWEAR filters on "outerwear", whose facet shows as chosen.
        given = {raw: canonical_value(name, raw) for raw in params.getlist(name)}
        chosen = {value for value in given.values() if value}
        if len(rows) < 2 and not chosen:  # one value everywhere narrows nothing
            continue
        group = FacetGroup(name=name, label=chips.attribute_label(name))
        for row in rows[:FACET_VALUES_SHOWN]:
            value = row["value"]
            selected = value in chosen
            if selected:
                url = chips.removing(params, name, [raw for raw, value_of in given.items() if value_of == value])
            else:
                url = chips.adding(params, name, value)
            group.values.append(FacetValue(value.replace("_", " "), row["count"], url, selected))
        groups.append(group)
    prices = []
    # Price buckets have no currency; shown in the filter's, else in the results' (one store, one currency).
    currency = params.get("currency") or next((hit["garment"]["currency"] for hit in payload["results"]), "")
    for bucket in facets["price"]:
        if not bucket["count"]:
            continue
        low = bucket["min"] if bucket["min"] not in ("0", None) else None
        label = chips.price_label(low, bucket["max"], currency) if (low or bucket["max"]) else "any price"
        selected = params.get("price_min", "") == (low or "") and params.get("price_max", "") == (bucket["max"] or "")
        bounds = {"price_min": [low] if low else [], "price_max": [bucket["max"]] if bucket["max"] else []}
        url = chips.with_params(params, price_min=[], price_max=[]) if selected else chips.with_params(params, **bounds)
        prices.append(FacetValue(label, bucket["count"], url, selected))
    return groups, prices


def _similar_source(garment_id: int | None) -> dict[str, Any] | None:
    if garment_id is None:
        return None
    row = Garment.objects.filter(pk=garment_id).values("id", "title", "image_sha256").first()
    if row is None:
        return None
    return {**row, "src": thumbnail_url(row["image_sha256"], 160) if row["image_sha256"] else None}


def _lists(params: Any) -> dict[str, list[str]]:
    return {key: list(params.getlist(key)) for key in params}


def _page(
    request: HttpRequest,
    *,
    result: SearchResult | None = None,
    similar_to: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    params = request.GET
    context: dict[str, Any] = {
        "q": params.get("q", "") if request.method != "POST" else request.POST.get("q", ""),
        "photo": params.get("photo", ""),
        "error": error,
        "upload_open": request.method == "POST",
        "photo_search": _photo_search_available(),
        "photo_minutes": PHOTO_TTL_SECONDS // 60,
        "max_image_mb": settings.SEARCH_MAX_IMAGE_BYTES // (1024 * 1024),
    }
    if result is not None:
        payload = result_payload(result, {"request": request})
        text_chips = chips.text_chips(params, result.parsed)
        all_chips = text_chips + chips.filter_chips(params)
        groups, prices = _facets(request, payload)
        context.update(
            result=payload,
            cards=[
                _card(item, hit.garment.image_sha256) for item, hit in zip(payload["results"], result.hits, strict=True)
            ],
            chips=all_chips,
            facet_groups=groups,
            price_facets=prices,
            total=payload["facets"]["total"] if payload["facets"] else None,
            similar=_similar_source(similar_to),
            next_url=chips.page_url(_lists(params), cursor=payload["next_cursor"]) if payload["next_cursor"] else None,
            first_page_url=chips.page_url(_lists(params)) if params.get("cursor") else None,
            suggestions=[] if payload["results"] else chips.suggestions(params, result.parsed, all_chips),
        )
    return render(request, "storefront/search.html", context, status=status)
