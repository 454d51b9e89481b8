"""Writes to the garment catalogue. Every create and update goes through here, so derived state
(content hashes that mark vectors stale, attribute provenance, sold_at) is always kept in step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.db import transaction
from django.db.models import CharField
from django.utils import timezone

from prethrift.errors import ApplicationError

from .attributes import ATTRIBUTE_MAX_LENGTH, ATTRIBUTE_NAMES, AttributeSource, normalise_attribute_value
from .documents import document_hash
from .images import CheckedImage, check_image, store_image
from .models import Garment, GarmentStatus
from .signals import garments_changed

MAX_PRICE = Decimal("99999999.99")
LISTING_FIELDS = ("title", "description", "price", "currency", "status")


class GarmentValidationError(ApplicationError):
    code = "invalid_garment"


# Sources whose brand value is an input to extraction (a seller's or staff's word, not a guess).
STATED_SOURCES = (AttributeSource.CATALOG, AttributeSource.STAFF)


def ontology_input_hash(garment: Garment) -> str:
    """Hash of what attribute extraction reads: the words, the photo, and a stated brand."""
    stated_brand = garment.brand if garment.ontology_source.get("brand") in STATED_SOURCES else ""
    payload = "\x1f".join((garment.title, garment.description, garment.image_sha256, stated_brand))
    return hashlib.sha256(payload.encode()).hexdigest()


def text_content_hash(garment: Garment) -> str:
    """Hash of the garment's document: text vectors computed from another hash are stale."""
    return document_hash(garment)


@dataclass(frozen=True)
class AttributeValue:
    value: str
    confidence: float
    source: str


def clean_listing(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise listing fields; raise GarmentValidationError naming every bad one."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("sku", "title"):
        if name in data:
            value = " ".join(str(data[name] or "").split())
            limit = cast(CharField, Garment._meta.get_field(name)).max_length or 0
            if not value:
                errors[name] = "must not be empty"
            elif len(value) > limit:
                errors[name] = f"is {len(value)} characters; the limit is {limit}"
            cleaned[name] = value
    if "description" in data:
        cleaned["description"] = str(data["description"] or "").strip()
    if "price" in data:
        raw = data["price"]
        if raw in (None, ""):
            cleaned["price"] = None
        else:
            try:
                price = Decimal(str(raw).strip().lstrip("$€£").replace(",", ""))
            except InvalidOperation:
                errors["price"] = f"{raw!r} is not a number"
            else:
                if not price.is_finite() or price < 0 or price > MAX_PRICE:
                    errors["price"] = f"{raw!r} must be between 0 and {MAX_PRICE}"
                else:
                    cleaned["price"] = price.quantize(Decimal("0.01"))
    if "currency" in data:
        currency = str(data["currency"] or "USD").strip().upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            errors["currency"] = f"{data['currency']!r} is not an ISO 4217 code such as USD"
        cleaned["currency"] = currency
    if "status" in data:
        status = str(data["status"] or GarmentStatus.AVAILABLE).strip().lower()
        if status not in GarmentStatus.values:
            errors["status"] = f"{data['status']!r} is not one of {', '.join(GarmentStatus.values)}"
        cleaned["status"] = status
    if errors:
        raise GarmentValidationError(
            "The garment is not valid: " + "; ".join(f"{k} {v}" for k, v in errors.items()), details=errors
        )
    return cleaned


def clean_attributes(data: Mapping[str, Any]) -> dict[str, str]:
    """Normalise attribute values; unknown attribute names are an error."""
    unknown = sorted(set(data) - set(ATTRIBUTE_NAMES))
    if unknown:
        raise GarmentValidationError(f"Unknown attributes: {', '.join(unknown)}", details={"unknown": unknown})
    return {name: normalise_attribute_value(value) for name, value in data.items() if value is not None}


def apply_listing(garment: Garment, listing: Mapping[str, Any]) -> None:
    """Set listing fields, keeping sold_at in step with the status."""
    for name, value in listing.items():
        setattr(garment, name, value)
    if garment.status == GarmentStatus.SOLD and garment.sold_at is None:
        garment.sold_at = timezone.now()
    elif garment.status != GarmentStatus.SOLD:
        garment.sold_at = None


def apply_attributes(
    garment: Garment, values: Mapping[str, AttributeValue], *, respect_locks: bool = True
) -> list[str]:
    """Set attribute values with their provenance; locked attributes are left alone. Returns what changed."""
    changed = []
    confidence = dict(garment.ontology_confidence)
    source = dict(garment.ontology_source)
    locked = list(garment.ontology_locked)
    for name, attribute in values.items():
        if respect_locks and name in locked:
            continue
        value = normalise_attribute_value(attribute.value)[:ATTRIBUTE_MAX_LENGTH]
        if getattr(garment, name) != value:
            changed.append(name)
        setattr(garment, name, value)
        if value:
            confidence[name] = round(min(max(float(attribute.confidence), 0.0), 1.0), 4)
            source[name] = attribute.source
        else:
            confidence.pop(name, None)
            source.pop(name, None)
        if attribute.source == AttributeSource.STAFF and name not in locked:
            locked.append(name)
    garment.ontology_confidence, garment.ontology_source = confidence, source
    garment.ontology_locked = [name for name in ATTRIBUTE_NAMES if name in locked]
    return changed


def apply_image(garment: Garment, image: CheckedImage | None) -> None:
    # Assigning a name (not a file) gives a committed FieldFile: save() stores nothing twice.
    if image is None:
        garment.image, garment.image_sha256 = "", ""
    else:
        garment.image, garment.image_sha256 = store_image(image), image.sha256


def refresh_content_hashes(garment: Garment) -> None:
    garment.text_content_hash = text_content_hash(garment)
    garment.ontology_input_hash = ontology_input_hash(garment)


def staff_attributes(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {
        name: AttributeValue(value=value, confidence=1.0, source=AttributeSource.STAFF)
        for name, value in clean_attributes(values).items()
    }


@transaction.atomic
def garment_create(
    *,
    sku: str,
    title: str,
    description: str = "",
    price: Decimal | str | None = None,
    currency: str = "USD",
    status: str = GarmentStatus.AVAILABLE,
    attributes: Mapping[str, Any] | None = None,
    attribute_source: str = AttributeSource.STAFF,
    image_content: bytes | None = None,
    source_attributes: Mapping[str, Any] | None = None,
) -> Garment:
    listing = clean_listing(
        {"sku": sku, "title": title, "description": description, "price": price, "currency": currency, "status": status}
    )
    if Garment.objects.filter(sku=listing["sku"]).exists():
        raise GarmentValidationError(f"A garment with sku {listing['sku']!r} exists.", details={"sku": "taken"})
    garment = Garment()
    apply_listing(garment, listing)
    values = {
        name: AttributeValue(value=value, confidence=1.0, source=attribute_source)
        for name, value in clean_attributes(attributes or {}).items()
    }
    apply_attributes(garment, values)
    apply_image(garment, check_image(image_content) if image_content is not None else None)
    garment.source_attributes = dict(source_attributes or {})
    refresh_content_hashes(garment)
    garment.save()
    garments_changed.send(sender=Garment, garment_ids=[garment.pk])
    return garment


@transaction.atomic
def garment_update(
    *,
    garment: Garment,
    listing: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    image_content: bytes | None = None,
    remove_image: bool = False,
) -> Garment:
    """Save a garment as staff (new or existing): attributes set here are staff-sourced and locked
    against extraction, sold_at follows the status, and content hashes mark stale vectors."""
    if listing:
        cleaned = clean_listing(listing)
        cleaned.pop("sku", None)  # the sku is identity: imports match on it
        apply_listing(garment, cleaned)
    if attributes:
        apply_attributes(garment, staff_attributes(attributes), respect_locks=False)
    if image_content is not None:
        apply_image(garment, check_image(image_content))
    elif remove_image:
        apply_image(garment, None)
    refresh_content_hashes(garment)
    garment.save()
    garments_changed.send(sender=Garment, garment_ids=[garment.pk])
    return garment


@transaction.atomic
def garment_lock_attributes(*, garment: Garment, lock: list[str], unlock: list[str]) -> Garment:
    clean_attributes(dict.fromkeys([*lock, *unlock], ""))  # names must be attributes
    locked = (set(garment.ontology_locked) | set(lock)) - set(unlock)
    garment.ontology_locked = [name for name in ATTRIBUTE_NAMES if name in locked]
    garment.save(update_fields=["ontology_locked", "updated_at"])
    return garment
