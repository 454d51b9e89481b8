"""Importing a CSV catalogue of garments (generic or Myntra format), idempotent by sku.

Rows are validated in Python, then written a chunk at a time: one bulk INSERT and one bulk UPDATE
per chunk. If the database refuses a chunk (a rule Python did not foresee, a concurrent writer),
that chunk is replayed row by row in savepoints, so one bad row is reported with its line number
and skipped while its neighbours land. A garment is written in one statement with its photo
reference, so no half-garment can exist; photos are content-addressed files written first.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from .attributes import ATTRIBUTE_NAMES, AttributeSource
from .images import MAX_IMAGE_BYTES, CheckedImage, InvalidImageError, check_image, store_image
from .models import Garment, GarmentStatus
from .services import (
    AttributeValue,
    GarmentValidationError,
    apply_attributes,
    apply_listing,
    clean_attributes,
    clean_listing,
    refresh_content_hashes,
)
from .signals import garments_changed

CatalogFormat = Literal["generic", "myntra"]
# 500 rows per chunk: one INSERT of 500 garments costs ~40 ms on the embedded server; larger
# chunks gain little and make a fallback to row-by-row replay longer.
CHUNK_SIZE = 500
GENERIC_REQUIRED = ("sku", "title")
GENERIC_COLUMNS = ("sku", "title", "description", "brand", "price", "currency", "status", "image")
MYNTRA_COLUMNS = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
)
MYNTRA_SKU_PREFIX = "myntra-"
# strict: a quote opened and never closed is an error, not a field that silently swallows the rest
# of the file; a field longer than csv.field_size_limit() (131,072 characters) is an error too.
CSV_DIALECT: dict[str, Any] = {"strict": True}
READ_CHUNK_BYTES = 1 << 20
# Fields a re-import compares to decide between "updated" and "skipped".
COMPARED_FIELDS = (
    "title",
    "description",
    "price",
    "currency",
    "status",
    "image_sha256",
    "source_attributes",
    *ATTRIBUTE_NAMES,
)


class CatalogFormatError(Exception):
    """The file as a whole cannot be imported (unreadable, unknown header)."""


class _Unreadable(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class RowProblem:
    line: int
    sku: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    # Set when reading stopped before the end of the file: the rows before it were imported.
    stopped: str = ""
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: list[RowProblem] = field(default_factory=list)
    image_warnings: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    format: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class ParsedRow:
    line: int
    sku: str
    listing: dict[str, Any]
    attributes: dict[str, str]
    source_attributes: dict[str, Any]
    image_path: Path | None
    image: CheckedImage | None = None
    # The folder the photo must lie in (after resolving symlinks), and the path as the CSV wrote it.
    image_root: Path | None = None
    image_ref: str = ""


def detect_format(header: list[str]) -> CatalogFormat:
    columns = set(header)
    if {"id", "productDisplayName"} <= columns:
        return "myntra"
    if set(GENERIC_REQUIRED) <= columns:
        return "generic"
    raise CatalogFormatError(
        f"Unrecognised CSV header {header}: a generic catalogue needs the columns {', '.join(GENERIC_REQUIRED)}; "
        f"a Myntra one needs id and productDisplayName."
    )


def synthesize_missing(sku: str, master_category: str) -> dict[str, str]:
    """Deterministic stand-ins for what the Myntra data lacks (price, size, condition), seeded by the sku.

    They are synthetic, for demos and benchmarks only; each garment records so in source_attributes.
    """
    digest = hashlib.sha256(sku.encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    price = Decimal(5 + number % 14500 / 100).quantize(Decimal("0.01"))  # 5.00 .. 149.99
    if master_category == "Footwear":
        sizes = ["eu 36", "eu 37", "eu 38", "eu 39", "eu 40", "eu 41", "eu 42", "eu 43", "eu 44", "eu 45"]
    elif master_category == "Apparel":
        sizes = ["xs", "s", "m", "m", "l", "l", "xl", "xxl"]
    else:
        sizes = ["one size"]
    conditions = ["new_with_tags", "like_new", "like_new", "good", "good", "good", "fair"]
    return {
        "price": str(price),
        "size": sizes[(number >> 16) % len(sizes)],
        "condition": conditions[(number >> 32) % len(conditions)],
    }


def _parse_generic(record: dict[str, str], line: int, base_dir: Path, images_dir: Path | None) -> ParsedRow:
    listing = clean_listing(
        {
            "sku": record.get("sku"),
            "title": record.get("title"),
            "description": record.get("description", ""),
            "price": record.get("price", ""),
            "currency": record.get("currency") or "USD",
            "status": record.get("status") or GarmentStatus.AVAILABLE,
        }
    )
    attributes = clean_attributes({name: record[name] for name in ATTRIBUTE_NAMES if record.get(name)})
    extra = {
        key: value
        for key, value in record.items()
        if key and key not in GENERIC_COLUMNS and key not in ATTRIBUTE_NAMES and value not in (None, "")
    }
    row = ParsedRow(line, listing["sku"], listing, attributes, extra, None)
    if raw := (record.get("image") or "").strip():
        # Relative to the images folder, and confined to it: _load_image refuses what resolves outside.
        row.image_root = images_dir or base_dir
        row.image_path, row.image_ref = row.image_root / raw, raw
    return row


def _parse_myntra(record: dict[str, str], line: int, images_dir: Path | None, synthesize: bool) -> ParsedRow:
    style_id = (record.get("id") or "").strip()
    if not style_id.isdigit():
        raise GarmentValidationError(f"id {style_id!r} is not a Myntra style number")
    sku = f"{MYNTRA_SKU_PREFIX}{style_id}"
    labels: dict[str, Any] = {
        key: value.strip() for key in MYNTRA_COLUMNS[1:-1] if (value := record.get(key) or "").strip()
    }
    fields: dict[str, Any] = {"sku": sku, "title": record.get("productDisplayName"), "description": ""}
    attributes: dict[str, str] = {}
    if synthesize:
        synthetic = synthesize_missing(sku, labels.get("masterCategory", ""))
        fields["price"] = synthetic["price"]
        attributes = {"size": synthetic["size"], "condition": synthetic["condition"]}
        labels["synthetic"] = ["price", "size", "condition"]
    listing = clean_listing({**fields, "currency": "USD", "status": GarmentStatus.AVAILABLE})
    image_path = images_dir / f"{style_id}.jpg" if images_dir else None
    return ParsedRow(line, sku, listing, clean_attributes(attributes), labels, image_path)


def _check_encoding(path: Path) -> None:
    """Refuse, before anything is written, a file that is not UTF-8 text: say where and what it looks like."""
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            raise CatalogFormatError(f"{path} is UTF-32 text; save it as UTF-8 (nothing was imported).")
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise CatalogFormatError(f"{path} is UTF-16 text; save it as UTF-8 (nothing was imported).")
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        first = True
        while chunk := handle.read(READ_CHUNK_BYTES):
            if first and b"\x00" in chunk.split(b"\n", 1)[0]:
                raise CatalogFormatError(
                    f"{path} has NUL bytes in its header: a binary file or UTF-16 text without a byte-order "
                    "mark, not a UTF-8 CSV (nothing was imported)."
                )
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = line + exc.object[: exc.start].count(b"\n")
                raise CatalogFormatError(
                    f"{path} is not a readable UTF-8 CSV file: byte {exc.object[exc.start]:#04x} on line {at} is "
                    "not UTF-8 (a Latin-1 or Windows-1252 export, or not a text file); save it as UTF-8 "
                    "(nothing was imported)."
                ) from exc
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise CatalogFormatError(
                f"{path} is not a readable UTF-8 CSV file: it ends inside a character (nothing was imported)."
            ) from exc


def _check_structure(path: Path) -> None:
    """Parse every record once before writing anything: broken quoting or a huge field stops the
    import while nothing is written, rather than half-way through (or silently, with a quote that
    swallows the rest of the file into one field)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, **CSV_DIALECT)
        record_start = 1
        try:
            for _ in reader:
                record_start = reader.line_num + 1
        except csv.Error as exc:
            raise CatalogFormatError(
                f"{path}: the record starting on line {record_start} is not valid CSV ({exc}); a quote opened "
                "and never closed, text after a closing quote, or a field over "
                f"{csv.field_size_limit()} characters. Nothing was imported."
            ) from exc


def _read_rows(
    path: Path, fmt: CatalogFormat | None, images_dir: Path | None, synthesize: bool
) -> tuple[CatalogFormat, Iterator[ParsedRow | RowProblem]]:
    _check_encoding(path)
    _check_structure(path)
    handle = path.open(newline="", encoding="utf-8-sig")
    reader = csv.DictReader(handle, **CSV_DIALECT)
    try:
        header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise CatalogFormatError(f"{path} is not a readable UTF-8 CSV file: {exc}") from exc
    detected = detect_format(list(header)) if header else None
    if detected is None:
        handle.close()
        raise CatalogFormatError(f"{path} is empty: it has no header row.")
    chosen = fmt or detected
    if chosen != detected:
        handle.close()
        raise CatalogFormatError(f"{path} looks like the {detected} format, not {chosen}.")

    def rows() -> Iterator[ParsedRow | RowProblem]:
        with handle:
            line = 1
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as exc:  # the file changed since it was checked
                    raise _Unreadable(line + 1, str(exc)) from exc
                line = reader.line_num
                if None in record:
                    yield RowProblem(line, "", f"{len(header) + len(record[None])} fields where the header has "
                                     f"{len(header)}")  # fmt: skip
                    continue
                try:
                    if chosen == "myntra":
                        yield _parse_myntra(record, line, images_dir, synthesize)
                    else:
                        yield _parse_generic(record, line, path.parent, images_dir)
                except GarmentValidationError as exc:
                    yield RowProblem(line, (record.get("sku") or record.get("id") or "").strip(), exc.message)

    return chosen, rows()


def _confined(path: Path, root: Path) -> Path | None:
    """`path` with symlinks resolved when it lies inside `root`; None when it does not (or cannot be resolved)."""
    try:
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(root.resolve()) else None
    except (OSError, ValueError, RuntimeError):  # a NUL in the name, a symlink loop
        return None


def _read_photo(path: Path) -> bytes:
    """The bytes of a regular file no larger than the image limit (never a FIFO or a device, never a huge read)."""
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(path)
        if info.st_size > MAX_IMAGE_BYTES:
            raise InvalidImageError(f"The image is {info.st_size} bytes; the limit is {MAX_IMAGE_BYTES}.")
        return handle.read(MAX_IMAGE_BYTES + 1)


def _load_image(row: ParsedRow, report: ImportReport) -> None:
    if row.image_path is None:
        return
    shown = row.image_ref or str(row.image_path)
    # One message whether the file is missing or outside the images folder: the warnings must not
    # tell a catalogue author which files exist elsewhere on the server.
    missing = f"no image file {shown} in the images folder"
    path = row.image_path
    if row.image_root is not None:
        confined = _confined(path, row.image_root)
        if confined is None:
            report.image_warnings.append(RowProblem(row.line, row.sku, missing))
            return
        path = confined
    try:
        row.image = check_image(_read_photo(path))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        report.image_warnings.append(RowProblem(row.line, row.sku, missing))
    except OSError as exc:
        report.image_warnings.append(RowProblem(row.line, row.sku, f"cannot read {shown}: {exc.strerror or exc}"))
    except InvalidImageError as exc:
        report.image_warnings.append(RowProblem(row.line, row.sku, f"{shown}: {exc.message}"))


def _build(row: ParsedRow, existing: Garment | None) -> Garment:
    garment = existing or Garment(sku=row.sku)
    apply_listing(garment, row.listing)
    source = AttributeSource.CATALOG
    apply_attributes(garment, {name: AttributeValue(value, 1.0, source) for name, value in row.attributes.items()})
    garment.source_attributes = row.source_attributes
    if row.image is not None:
        garment.image.name, garment.image_sha256 = row.image.storage_name, row.image.sha256
    elif existing is None:
        garment.image.name, garment.image_sha256 = "", ""
    # An existing photo is kept when the file went missing: a bad disk must not strip a catalogue.
    refresh_content_hashes(garment)
    return garment


def _snapshot(garment: Garment) -> tuple[Any, ...]:
    return (*tuple(getattr(garment, name) for name in COMPARED_FIELDS), garment.image.name)


class _Writer:
    """Writes one chunk: bulk first, then row by row in savepoints when the database refuses the bulk."""

    UPDATE_FIELDS = (
        "title",
        "description",
        "price",
        "currency",
        "status",
        "sold_at",
        "image",
        "image_sha256",
        "source_attributes",
        "ontology_confidence",
        "ontology_source",
        "text_content_hash",
        "ontology_input_hash",
        "updated_at",
        *ATTRIBUTE_NAMES,
    )

    def __init__(self, report: ImportReport, dry_run: bool) -> None:
        self.report = report
        self.dry_run = dry_run

    def write(self, chunk: list[ParsedRow]) -> None:
        existing = Garment.objects.without_vectors().in_bulk([row.sku for row in chunk], field_name="sku")
        creates: list[tuple[ParsedRow, Garment]] = []
        updates: list[tuple[ParsedRow, Garment]] = []
        for row in chunk:
            current = existing.get(row.sku)
            before = _snapshot(current) if current else None
            garment = _build(row, current)
            if current is None:
                creates.append((row, garment))
            elif _snapshot(garment) != before:
                garment.updated_at = timezone.now()
                updates.append((row, garment))
            else:
                self.report.skipped += 1
        if self.dry_run:
            self.report.created += len(creates)
            self.report.updated += len(updates)
            return
        for row, _ in creates + updates:
            if row.image is not None:
                store_image(row.image)
        try:
            with transaction.atomic():
                Garment.objects.bulk_create([garment for _, garment in creates])
                Garment.objects.bulk_update([garment for _, garment in updates], self.UPDATE_FIELDS)
                changed = [garment.pk for _, garment in creates + updates]
                if changed:
                    garments_changed.send(sender=Garment, garment_ids=changed)
        except (IntegrityError, DatabaseError):
            self._write_one_by_one(creates, updates)
            return
        self.report.created += len(creates)
        self.report.updated += len(updates)

    def _write_one_by_one(
        self, creates: list[tuple[ParsedRow, Garment]], updates: list[tuple[ParsedRow, Garment]]
    ) -> None:
        for kind, pairs in (("created", creates), ("updated", updates)):
            for row, garment in pairs:
                try:
                    with transaction.atomic():
                        if kind == "created":
                            garment.pk = None
                            garment._state.adding = True
                            garment.save(force_insert=True)
                        else:
                            garment.save(update_fields=self.UPDATE_FIELDS)
                        garments_changed.send(sender=Garment, garment_ids=[garment.pk])
                except (IntegrityError, DatabaseError) as exc:
                    message = str(exc).strip().splitlines()[0]
                    self.report.failed.append(RowProblem(row.line, row.sku, f"database refused the row: {message}"))
                else:
                    setattr(self.report, kind, getattr(self.report, kind) + 1)


def catalog_import(
    *,
    path: Path,
    images_dir: Path | None = None,
    fmt: CatalogFormat | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    synthesize: bool = False,
    progress: Callable[[int], object] | None = None,
) -> ImportReport:
    """Import garments from the CSV at `path`. Raises CatalogFormatError when the file as a whole is unusable."""
    if not path.is_file():
        raise CatalogFormatError(f"{path} is not a file.")
    if images_dir is not None and not images_dir.is_dir():
        raise CatalogFormatError(f"--images {images_dir} is not a folder.")
    started = time.monotonic()
    chosen, rows = _read_rows(path, fmt, images_dir, synthesize)
    report = ImportReport(dry_run=dry_run, format=chosen)
    writer = _Writer(report, dry_run)
    seen: dict[str, int] = {}
    chunk: list[ParsedRow] = []
    try:
        for item in rows:
            if limit is not None and report.rows >= limit:
                break
            report.rows += 1
            if isinstance(item, RowProblem):
                report.failed.append(item)
            elif item.sku in seen:
                report.failed.append(RowProblem(item.line, item.sku, f"duplicate sku (first on line {seen[item.sku]})"))
            else:
                seen[item.sku] = item.line
                _load_image(item, report)
                chunk.append(item)
                if len(chunk) >= CHUNK_SIZE:
                    writer.write(chunk)
                    chunk = []
            if progress:
                progress(1)
    except _Unreadable as exc:
        # Chunks already written stay (each is whole and idempotent); the report says where it stopped.
        report.stopped = f"line {exc.line} of {path} could not be read ({exc}); the rows after it were not imported"
    if chunk:
        writer.write(chunk)
    report.seconds = time.monotonic() - started
    return report
