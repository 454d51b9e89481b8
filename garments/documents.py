"""The text a garment is known by: the one template every text vector is computed from.

Template (version 1), one line per part, empty parts left out:

    <title>
    Brand: <brand>
    <description, first 2,000 characters>
    <category> / <subcategory>; for <gender>; colour <primary_color> and <secondary_color>;
    <pattern>; <material>; <style>; <fit> fit; <sleeve_length> sleeves; for <occasion>; <season>; <era>

Size and condition are left out on purpose: they say nothing about what a garment looks like,
and a size edit should not cost a re-embed. Changing this template means bumping
DOCUMENT_VERSION, which changes every text_content_hash and so marks every text vector stale.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

DOCUMENT_VERSION = 1
MAX_DESCRIPTION_CHARS = 2000


class _GarmentText(Protocol):
    title: str
    description: str
    brand: str
    category: str
    subcategory: str
    gender: str
    primary_color: str
    secondary_color: str
    pattern: str
    material: str
    style: str
    fit: str
    sleeve_length: str
    occasion: str
    season: str
    era: str


# The garment fields the document reads: what a text-embedding pass must load.
DOCUMENT_FIELDS: tuple[str, ...] = tuple(_GarmentText.__annotations__)


def garment_document(garment: _GarmentText) -> str:
    """The garment as text, for text embeddings (see the module docstring for the template)."""
    colours = " and ".join(value for value in (garment.primary_color, garment.secondary_color) if value)
    kind = " / ".join(value for value in (garment.category, garment.subcategory) if value)
    traits = [
        kind,
        f"for {garment.gender}" if garment.gender else "",
        f"colour {colours}" if colours else "",
        garment.pattern,
        garment.material,
        garment.style,
        f"{garment.fit} fit" if garment.fit else "",
        f"{garment.sleeve_length} sleeves" if garment.sleeve_length else "",
        f"for {garment.occasion}" if garment.occasion else "",
        garment.season,
        garment.era,
    ]
    lines = [
        garment.title,
        f"Brand: {garment.brand}" if garment.brand else "",
        garment.description[:MAX_DESCRIPTION_CHARS].strip(),
        "; ".join(trait for trait in traits if trait),
    ]
    return "\n".join(line for line in lines if line)


def document_hash(garment: _GarmentText) -> str:
    return hashlib.sha256(f"v{DOCUMENT_VERSION}\n{garment_document(garment)}".encode()).hexdigest()
