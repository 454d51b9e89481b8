"""Search filters: validated against the vocabulary, merged with what the query text said, compiled to SQL.

Accepted keys: any of the 16 attributes (a value or a list; values are canonicalised through the
vocabulary, so "Navy Blue" is navy and "levis" is levi's), `price_range` ({"min", "max"} or
[min, max]), `currency`, and `status` (a value, a list, or "any"; only available garments unless
asked). Unknown keys or values are an error that names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.db.models import Q

from garments.attributes import ATTRIBUTE_NAMES, normalise_attribute_value
from garments.models import GarmentStatus
from ontology.query import ParsedQuery
from ontology.sizes import whole_size
from ontology.vocabulary import SECTIONS, Vocabulary, load_vocabulary
from prethrift.errors import ApplicationError

# Attributes whose values must be vocabulary values; brand and size also accept values outside it
# (a catalogue's own brands, its own size labels), normalised.
SECTION_OF = {attribute: section for section, attributes in SECTIONS.items() for attribute in attributes}
OPEN_ATTRIBUTES = {"brand", "size"}
MAX_VALUES = 50
MAX_VALUE_CHARS = 100  # the longest attribute value a garment can hold is 64 characters
MAX_PRICE = Decimal("99999999.99")  # Garment.price: max_digits=10, decimal_places=2
MAX_NUMBER_CHARS = 32
CENT = Decimal("0.01")


class InvalidFilterError(ApplicationError):
    code = "invalid_filter"


@dataclass
class SearchFilters:
    attributes: dict[str, list[str]] = field(default_factory=dict)
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    currency: str | None = None
    statuses: list[str] | None = field(default_factory=lambda: [GarmentStatus.AVAILABLE.value])  # None: any

    def q(self) -> Q:
        condition = Q()
        for attribute, values in self.attributes.items():
            condition &= Q(**{f"{attribute}__in": values})
        if self.price_min is not None:
            condition &= Q(price__gte=self.price_min)
        if self.price_max is not None:
            condition &= Q(price__lte=self.price_max)
        if self.currency:
            condition &= Q(currency=self.currency)
        if self.statuses is not None:
            condition &= Q(status__in=self.statuses)
        return condition

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.attributes)
        if self.price_min is not None or self.price_max is not None:
            out["price_range"] = {
                "min": str(self.price_min) if self.price_min is not None else None,
                "max": str(self.price_max) if self.price_max is not None else None,
            }
        if self.currency:
            out["currency"] = self.currency
        out["status"] = self.statuses if self.statuses is not None else "any"
        return out


def is_storable_text(text: str) -> bool:
    """Text PostgreSQL accepts: no NUL (text columns refuse it) and no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decimal(value: Any, name: str, rounding: str) -> Decimal | None:
    """A price bound as Garment.price can hold it; anything PostgreSQL's numeric would refuse is a 400."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidFilterError(f"{name} must be a number", details={name: repr(value)[:100]})
    text = str(value).strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidFilterError(f"{name} is not a price", details={name: text[:MAX_NUMBER_CHARS]})
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidFilterError(f"{name} {text!r} is not a number", details={name: text}) from None
    if not number.is_finite() or number < 0:
        raise InvalidFilterError(f"{name} must be a number >= 0", details={name: text})
    if number > MAX_PRICE:
        raise InvalidFilterError(f"{name} must be at most {MAX_PRICE}", details={name: text})
    if number.as_tuple().exponent < -2:  # type: ignore[operator]  # finite: an int
        # Prices have cents: 0.001 as a minimum means 0.01, as a maximum 0.00 (and 1e-999999 would
        # overflow PostgreSQL's numeric).
        number = number.quantize(CENT, rounding=rounding)
    return number if number else Decimal(0)  # -0 is 0


def canonical_value(attribute: str, raw: str) -> str | None:
    """The value a filter on `attribute` applies for `raw` ("OUTERWEAR" -> "outerwear"), or None if refused."""
    try:
        return _canonical(attribute, raw, load_vocabulary())
    except InvalidFilterError:
        return None


def _canonical(attribute: str, raw: Any, vocabulary: Vocabulary) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidFilterError(
            f"a value of {attribute} is a string (or a list of strings)", details={attribute: repr(raw)[:100]}
        )
    text = str(raw).strip()
    if not text:
        raise InvalidFilterError(f"an empty value for {attribute}", details={attribute: raw})
    if len(text) > MAX_VALUE_CHARS or not is_storable_text(text) or not text.isprintable():
        raise InvalidFilterError(
            f"{attribute} values are printable text of at most {MAX_VALUE_CHARS} characters",
            details={attribute: repr(text)[:MAX_VALUE_CHARS]},
        )
    section = SECTION_OF[attribute]
    found = vocabulary.canonical(section, text)
    if found:
        return found
    if attribute == "size" and (size := whole_size(text, vocabulary)):
        return size
    if attribute in OPEN_ATTRIBUTES:
        return normalise_attribute_value(text)
    known = sorted(vocabulary.values[section])
    raise InvalidFilterError(
        f"{text!r} is not a known {attribute}; known values: {', '.join(known[:40])}"
        + (" ..." if len(known) > 40 else ""),
        details={"attribute": attribute, "value": text},
    )


def parse_filters(raw: dict[str, Any] | None, *, vocabulary: Vocabulary | None = None) -> SearchFilters:
    """Validate a client's filters; raises InvalidFilterError naming the first bad key or value."""
    vocabulary = vocabulary or load_vocabulary()
    raw = dict(raw or {})
    filters = SearchFilters()
    unknown = sorted(set(raw) - set(ATTRIBUTE_NAMES) - {"price_range", "currency", "status"})
    if unknown:
        raise InvalidFilterError(
            f"unknown filters: {', '.join(unknown)}; use attributes ({', '.join(ATTRIBUTE_NAMES)}), "
            "price_range, currency or status",
            details={"unknown": unknown},
        )
    for attribute in ATTRIBUTE_NAMES:
        if attribute not in raw or raw[attribute] in (None, "", []):
            continue
        values = raw[attribute] if isinstance(raw[attribute], list | tuple) else [raw[attribute]]
        if len(values) > MAX_VALUES:
            raise InvalidFilterError(f"at most {MAX_VALUES} values for {attribute}", details={attribute: len(values)})
        filters.attributes[attribute] = sorted({_canonical(attribute, value, vocabulary) for value in values})
    price = raw.get("price_range")
    if price not in (None, "", {}):
        if isinstance(price, dict) and set(price) <= {"min", "max"}:
            low, high = price.get("min"), price.get("max")
        elif isinstance(price, list | tuple) and len(price) == 2:
            low, high = price
        else:
            raise InvalidFilterError(
                'price_range is {"min": x, "max": y} or [min, max]', details={"price_range": price}
            )
        filters.price_min = _decimal(low, "price_range.min", ROUND_CEILING)
        filters.price_max = _decimal(high, "price_range.max", ROUND_FLOOR)
        if filters.price_min is not None and filters.price_max is not None and filters.price_min > filters.price_max:
            raise InvalidFilterError("price_range.min is above price_range.max", details={"price_range": price})
    if raw.get("currency"):
        currency = str(raw["currency"]).strip().upper()
        if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
            raise InvalidFilterError(
                f"currency {raw['currency']!r} is not an ISO 4217 code", details={"currency": raw["currency"]}
            )
        filters.currency = currency
    status = raw.get("status")
    if status == "any":
        filters.statuses = None
    elif status not in (None, "", []):
        statuses = status if isinstance(status, list | tuple) else [status]
        bad = sorted(str(s) for s in statuses if s not in GarmentStatus.values)
        if bad:
            raise InvalidFilterError(
                f"unknown status {', '.join(bad)}; use {', '.join(GarmentStatus.values)} or any",
                details={"status": bad},
            )
        filters.statuses = sorted(set(statuses))
    return filters


def merge_parsed(filters: SearchFilters, parsed: ParsedQuery, explicit: set[str]) -> SearchFilters:
    """Hard filters the query text stated (price bounds, sizes, availability), where the client did not
    set the same filter explicitly: explicit filters win."""
    if "price_range" not in explicit:
        if "price_min" in parsed.filters:
            filters.price_min = parsed.filters["price_min"]  # type: ignore[assignment]
        if "price_max" in parsed.filters:
            filters.price_max = parsed.filters["price_max"]  # type: ignore[assignment]
    # A currency in the words ("under 30 euros") is shown to the client but not filtered on: with no
    # exchange rates here, it would hide every garment priced in the store's own currency.
    if "size" not in explicit and parsed.filters.get("size"):
        filters.attributes["size"] = list(parsed.filters["size"])  # type: ignore[call-overload]
    if "status" not in explicit and parsed.filters.get("status"):
        filters.statuses = [str(parsed.filters["status"])]
    return filters
