"""Writes to the garment catalogue. Every create and update goes through here, so derived state
(content hashes that mark vectors stale, attribute provenance, sold_at) is always kept in step.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import CharField
from django.utils import timezone
from psycopg import errors as pg_errors
from rest_framework import status as http_status

from ontology.sizes import whole_size
from ontology.vocabulary import SECTIONS, load_vocabulary
from prethrift.errors import ApplicationError, NotFoundError

from .attributes import ATTRIBUTE_MAX_LENGTH, ATTRIBUTE_NAMES, AttributeSource, normalise_attribute_value
from .documents import document_hash
from .images import CheckedImage, check_image, store_image
from .models import Garment, GarmentImage, GarmentStatus
from .signals import garments_changed

logger = logging.getLogger(__name__)

MAX_PRICE = Decimal("99999999.99")
LISTING_FIELDS = ("title", "description", "price", "currency", "status")
# Attributes that take any value (a catalogue's own brands and size labels), normalised, and mapped
# to the canonical value when the vocabulary knows it. Every other attribute is closed: a canonical
# value or a synonym of one, because a value outside the vocabulary is one no search filter can
# match. search/filters.py reads filter values by the same rule, so what staff store is findable.
OPEN_ATTRIBUTES = frozenset({"brand", "size"})
SECTION_OF = {attribute: section for section, attributes in SECTIONS.items() for attribute in attributes}
# C0 controls and DEL: never part of a garment's words, and PostgreSQL refuses NUL in text.
# Tabs and line breaks are fine in a description; in one-line fields they are whitespace.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GarmentValidationError(ApplicationError):
    code = "invalid_garment"


class GarmentConflictError(GarmentValidationError):
    """The write collides with another garment (a taken sku): 409, whether the pre-check or the
    unique index caught it."""

    code = "conflict"
    status_code = http_status.HTTP_409_CONFLICT


class GarmentPreconditionFailed(ApplicationError):
    """The client's If-Match names a version of the garment that is no longer the stored one."""

    code = "precondition_failed"
    status_code = http_status.HTTP_412_PRECONDITION_FAILED


def garment_version(garment: Garment) -> str:
    """The garment's version, the ETag of its representation: every write bumps updated_at (save()'s
    auto_now, and the bulk writers set it), so a changed garment has a changed version."""
    micros = (garment.updated_at - _EPOCH) // timedelta(microseconds=1) if garment.updated_at else 0
    return f"{garment.pk}-{micros:x}"


def check_version(garment: Garment, expected: str | None) -> None:
    """Raise GarmentPreconditionFailed unless `expected` (a version, or None for any) is current."""
    if expected is not None and expected != garment_version(garment):
        raise GarmentPreconditionFailed(
            "The garment changed since you read it; read it again and repeat the change.",
            details={"current_version": garment_version(garment)},
        )


# Sources whose brand value is an input to extraction (a seller's or staff's word, not a guess).
STATED_SOURCES = (AttributeSource.CATALOG, AttributeSource.STAFF)


def ontology_input_hash(garment: Garment) -> str:
    """Hash of what attribute extraction reads: the words, the photo, a stated brand, and the currency (a bare
    "size 10" is UK in pounds and US in dollars, so a new currency can mean a new size)."""
    stated_brand = garment.brand if garment.ontology_source.get("brand") in STATED_SOURCES else ""
    payload = "\x1f".join((garment.title, garment.description, garment.image_sha256, stated_brand, garment.currency))
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


def canonical_attribute_value(name: str, raw: object) -> str:
    """The stored form of a value for attribute `name`, or GarmentValidationError naming it.

    Closed attributes take a canonical value or a synonym ("Navy Blue" -> navy); brand and size take
    any value, mapped to the canonical one when the vocabulary knows it ("LEVIS" -> levi's, "W32"
    -> w32). "" clears the attribute. Over-long values and control characters are refused, never cut.
    """
    text = " ".join(str(raw).split())
    if _CONTROL.search(text):
        raise GarmentValidationError(
            f"{name} contains control characters", details={name: "must not contain control characters"}
        )
    if len(text) > ATTRIBUTE_MAX_LENGTH:
        raise GarmentValidationError(
            f"{name} is {len(text)} characters; the limit is {ATTRIBUTE_MAX_LENGTH}",
            details={name: f"is {len(text)} characters; the limit is {ATTRIBUTE_MAX_LENGTH}"},
        )
    if not text:
        return ""
    vocabulary = load_vocabulary()
    section = SECTION_OF[name]
    if found := vocabulary.canonical(section, text):
        return found
    if name == "size" and (size := whole_size(text, vocabulary)):
        return size
    if name in OPEN_ATTRIBUTES:
        return normalise_attribute_value(text)
    known = sorted(vocabulary.values[section])
    raise GarmentValidationError(
        f"{text!r} is not a known {name}; known values: {', '.join(known[:40])}" + (" ..." if len(known) > 40 else ""),
        details={name: f"{text!r} is not a known value", "known": known},
    )


def clean_attributes(data: Mapping[str, Any]) -> dict[str, str]:
    """Canonical attribute values (see canonical_attribute_value); unknown attribute names are an error."""
    unknown = sorted(set(data) - set(ATTRIBUTE_NAMES))
    if unknown:
        raise GarmentValidationError(f"Unknown attributes: {', '.join(unknown)}", details={"unknown": unknown})
    return {name: canonical_attribute_value(name, value) for name, value in data.items() if value is not None}


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


# What each kind of change writes; a save names only these, so a write never carries stale copies
# of fields it did not change.
_LISTING_SAVE_FIELDS = ("sold_at",)
_ATTRIBUTE_SAVE_FIELDS = ("ontology_confidence", "ontology_source", "ontology_locked")
_ALWAYS_SAVED_FIELDS = ("text_content_hash", "ontology_input_hash", "updated_at")


def _is_sku_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, pg_errors.UniqueViolation) and "sku" in (cause.diag.constraint_name or "")


def _sku_taken(sku: str) -> GarmentConflictError:
    return GarmentConflictError(f"A garment with sku {sku!r} exists.", details={"sku": "taken"})


def _insert(garment: Garment) -> None:
    """INSERT the garment; a sku another transaction inserted after our check is a 409, not a 500.
    The savepoint keeps the caller's transaction usable after the unique index refused the row."""
    try:
        with transaction.atomic():
            garment.save(force_insert=True)
    except IntegrityError as exc:
        if _is_sku_violation(exc):
            raise _sku_taken(garment.sku) from exc
        raise


def _lock(garment_id: int) -> Garment:
    """Re-read the garment's row FOR UPDATE: concurrent writers of one garment queue here, and each
    applies its change to the row as the previous one left it."""
    try:
        return Garment.objects.without_vectors().select_for_update().get(pk=garment_id)
    except Garment.DoesNotExist:
        raise NotFoundError("No such garment.", details={"id": garment_id}) from None


def _copy_loaded_fields(source: Garment, target: Garment) -> None:
    deferred = source.get_deferred_fields()
    for field in Garment._meta.concrete_fields:
        if field.attname not in deferred and not field.generated:
            setattr(target, field.attname, getattr(source, field.attname))


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
    if Garment.objects.filter(sku=listing["sku"]).exists():  # the friendly answer; _insert catches the race
        raise _sku_taken(listing["sku"])
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
    _insert(garment)
    garments_changed.send(sender=Garment, garment_ids=[garment.pk])
    return garment


@transaction.atomic
def garment_update(
    *,
    garment: Garment,
    listing: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    locked: list[str] | None = None,
    image_content: bytes | None = None,
    remove_image: bool = False,
    expected_version: str | None = None,
) -> Garment:
    """Save a garment as staff (new or existing): attributes set here are staff-sourced and locked
    against extraction, sold_at follows the status, and content hashes mark stale vectors.

    An existing garment's row is re-read under a row lock and only the given changes are applied
    and saved, so two staff editing different fields at once both keep their change. With
    `expected_version` (an If-Match), a garment changed since that version is a 412. `locked`
    replaces the locked attributes (the admin's field) before staff edits lock theirs. `garment`
    is updated in place and returned.
    """
    if garment._state.adding:  # the admin's add form saves a new garment through here
        current = garment
    else:
        current = _lock(garment.pk)
        check_version(current, expected_version)
    fields: set[str] = set()
    if listing:
        cleaned = clean_listing(listing)
        cleaned.pop("sku", None)  # the sku is identity: imports match on it
        apply_listing(current, cleaned)
        fields.update(cleaned, _LISTING_SAVE_FIELDS)
    if locked is not None:
        clean_attributes(dict.fromkeys(locked, ""))  # names must be attributes
        current.ontology_locked = [name for name in ATTRIBUTE_NAMES if name in locked]
        fields.add("ontology_locked")
    if attributes:
        values = staff_attributes(attributes)
        apply_attributes(current, values, respect_locks=False)
        fields.update(values, _ATTRIBUTE_SAVE_FIELDS)
    if image_content is not None:
        apply_image(current, check_image(image_content))
        fields.update(("image", "image_sha256"))
    elif remove_image:
        apply_image(current, None)
        fields.update(("image", "image_sha256"))
    refresh_content_hashes(current)
    if current._state.adding:
        current.sku = clean_listing({"sku": current.sku})["sku"]
        _insert(current)
    else:
        current.save(update_fields=sorted(fields.union(_ALWAYS_SAVED_FIELDS)))
        _copy_loaded_fields(current, garment)
    garments_changed.send(sender=Garment, garment_ids=[garment.pk])
    return garment


@transaction.atomic
def garment_delete(*, garment_id: int, expected_version: str | None = None) -> None:
    """Delete a garment and what hangs off it.

    The row goes in this transaction, and with it its vectors (columns of the row) and its extra
    photos' rows (a cascade). The photo files go after commit, and only those no other garment
    uses: photos are stored by content hash, so two garments with one photo share one file. A
    delete that rolls back keeps its files. A failure to delete a file is logged, never an error:
    the row is gone either way, and an orphaned file costs only disk.
    """
    garment = _lock(garment_id)
    check_version(garment, expected_version)
    names = {str(garment.image.name or "")}
    names.update(GarmentImage.objects.filter(garment_id=garment_id).values_list("image", flat=True))
    names.discard("")
    garment.delete()
    transaction.on_commit(lambda: delete_unused_photos(sorted(names)))


def delete_unused_photos(names: list[str]) -> list[str]:
    """Delete the stored photos no garment refers to any more; returns the names deleted.

    A photo uploaded again in the instant between the check and the delete would lose its file; the
    window is one query long, and re-uploading the photo stores it again."""
    deleted = []
    for name in names:
        if Garment.objects.filter(image=name).exists() or GarmentImage.objects.filter(image=name).exists():
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete the photo %s of a deleted garment", name, exc_info=True)
            continue
        deleted.append(name)
    return deleted


@transaction.atomic
def garment_lock_attributes(*, garment: Garment, lock: list[str], unlock: list[str]) -> Garment:
    clean_attributes(dict.fromkeys([*lock, *unlock], ""))  # names must be attributes
    current = _lock(garment.pk)
    locked = (set(current.ontology_locked) | set(lock)) - set(unlock)
    current.ontology_locked = [name for name in ATTRIBUTE_NAMES if name in locked]
    current.save(update_fields=["ontology_locked", "updated_at"])
    garment.ontology_locked, garment.updated_at = current.ontology_locked, current.updated_at
    return garment
