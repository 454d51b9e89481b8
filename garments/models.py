"""The garment catalogue: listing, photos, 16 ontology attributes, and one vector per embedding space.

Rules that must always hold are database constraints, so an import, a shell or a bug in a
service cannot write a garment the rest of the product would trip on.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.lookups import Exact
from pgvector.django import HnswIndex, VectorField

from .attributes import ATTRIBUTE_MAX_LENGTH, ATTRIBUTE_NAMES, AttributeSource
from .managers import GarmentManager

IMAGE_DIMENSIONS = 512  # CLIP ViT-B/32
TEXT_DIMENSIONS = 384  # all-MiniLM-L6-v2, the local text model
OPENAI_DIMENSIONS = 1536  # text-embedding-3-small

# pgvector's defaults, written out so a change is deliberate: recall vs. build time and memory.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
SEARCH_CONFIG = "english"

_ATTRIBUTE_KEY_REGEX = "^(" + "|".join(ATTRIBUTE_NAMES) + ")$"
_SOURCE_REGEX = "^(" + "|".join(AttributeSource.values) + ")$"


def _jsonb_has_no(field: str, jsonpath: str) -> Exact:
    """A boolean expression: no member of the JSON object `field` matches the jsonpath filter."""
    matches = Func(
        F(field),
        template=f"jsonb_path_exists(%(expressions)s, '{jsonpath}'::jsonpath)",
        output_field=models.BooleanField(),
    )
    return Exact(matches, False)


def _hnsw_index(name: str, field: str) -> HnswIndex:
    """Cosine HNSW: the opclass matches CosineDistance, the distance search queries with."""
    return HnswIndex(
        name=name, fields=[field], m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, opclasses=["vector_cosine_ops"]
    )


def _is_json_object(field: str) -> Exact:
    return Exact(Func(F(field), function="jsonb_typeof", output_field=models.CharField()), "object")


def garment_image_path(instance: models.Model, filename: str) -> str:
    """Content-addressed: the same photo is stored once, and re-imports never duplicate files. The
    client's file name never becomes part of the path: the services store photos they re-encoded
    (garments/images.py), and anything else gets a random name with one of our own extensions."""
    sha = getattr(instance, "image_sha256", "") or getattr(instance, "sha256", "")
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    suffix = suffix if suffix in _IMAGE_SUFFIXES else "jpg"
    return f"garments/{sha[:2]}/{sha}.{suffix}" if sha else f"garments/unhashed/{uuid.uuid4().hex}.{suffix}"


_IMAGE_SUFFIXES = frozenset({"jpg", "jpeg", "png", "webp"})


class GarmentStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    SOLD = "sold", "Sold"


def _attribute_field(verbose_name: str) -> models.CharField:
    return models.CharField(verbose_name, max_length=ATTRIBUTE_MAX_LENGTH, blank=True, default="", db_index=True)


class Garment(models.Model):
    # --- identity and listing
    sku = models.CharField(max_length=64, unique=True, help_text="Stable id from the seller; imports match on it.")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Empty when the catalogue has none."
    )
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD, EUR, GBP.")
    status = models.CharField(max_length=16, choices=GarmentStatus.choices, default=GarmentStatus.AVAILABLE)
    sold_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # --- primary photo (more in GarmentImage)
    image = models.ImageField(upload_to=garment_image_path, blank=True, default="", max_length=255)
    image_sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True, editable=False)

    # --- the ontology: 16 canonical attributes, and per attribute its confidence and source
    category = _attribute_field("category")
    subcategory = _attribute_field("subcategory")
    gender = _attribute_field("gender")
    primary_color = _attribute_field("primary colour")
    secondary_color = _attribute_field("secondary colour")
    pattern = _attribute_field("pattern")
    material = _attribute_field("material")
    style = _attribute_field("style")
    fit = _attribute_field("fit")
    season = _attribute_field("season")
    occasion = _attribute_field("occasion")
    brand = _attribute_field("brand")
    size = _attribute_field("size")
    condition = _attribute_field("condition")
    era = _attribute_field("era")
    sleeve_length = _attribute_field("sleeve length")
    ontology_confidence = models.JSONField(default=dict, blank=True, help_text="{attribute: 0..1}")
    ontology_source = models.JSONField(default=dict, blank=True, help_text="{attribute: extracted|image|llm|staff}")
    ontology_locked = ArrayField(
        models.CharField(max_length=32),
        default=list,
        blank=True,
        help_text="Attributes staff fixed by hand; extraction never overwrites them.",
    )
    # What extraction read (title, description, photo, a stated brand): extraction is stale when
    # ontology_extracted_hash differs from ontology_input_hash or ran with another vocabulary version.
    ontology_input_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    ontology_extracted_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    ontology_version = models.PositiveIntegerField(default=0, editable=False)
    ontology_extracted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Disagreements between extractors, for staff: {"primary_color": {"text": "red", "image": "blue"}}
    ontology_conflicts = models.JSONField(default=dict, blank=True, editable=False)
    # Why extraction chose each value, for staff and a hit's explanation (a database default, so bulk
    # writers that name their columns, such as bench/catalogue.py, need not know of it):
    # {"condition": "fair: 'small stain on cuff'", "size": "ambiguous: men's eu 43, women's eu 42; kept as written"}
    ontology_evidence = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    # Raw labels an import brought along: reference and evaluation ground truth, never extractor input.
    source_attributes = models.JSONField(default=dict, blank=True)

    # --- what derived data was computed from: a vector is stale when its source hash differs
    text_content_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    # --- embeddings: one vector per space, with the model, the time and the input hash beside it
    image_embedding_vec = VectorField(dimensions=IMAGE_DIMENSIONS, null=True, blank=True, editable=False)
    image_embedding_model = models.CharField(max_length=128, blank=True, default="", editable=False)
    image_embedding_computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    image_embedding_source_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    text_embedding_vec = VectorField(dimensions=TEXT_DIMENSIONS, null=True, blank=True, editable=False)
    text_embedding_model = models.CharField(max_length=128, blank=True, default="", editable=False)
    text_embedding_computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    text_embedding_source_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    openai_text_embedding_vec = VectorField(dimensions=OPENAI_DIMENSIONS, null=True, blank=True, editable=False)
    openai_text_embedding_model = models.CharField(max_length=128, blank=True, default="", editable=False)
    openai_text_embedding_computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    openai_text_embedding_source_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    # Permanent failures per space: {space: {"message": str, "source_hash": str, "at": iso time}}.
    # Cleared when that space's vector is written; a failure for an older hash is retried. The key
    # "ontology" holds the last failed attribute extraction the same way (the garment stays pending and
    # extract_ontology retries it; cleared when an extraction succeeds).
    embedding_errors = models.JSONField(default=dict, blank=True, editable=False)

    # --- keyword search: kept by PostgreSQL itself, so no code path can forget to update it
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("brand", weight="A", config=SEARCH_CONFIG)
        + SearchVector("description", weight="B", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects: ClassVar[GarmentManager] = GarmentManager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            _hnsw_index("garment_image_vec_hnsw", "image_embedding_vec"),
            _hnsw_index("garment_text_vec_hnsw", "text_embedding_vec"),
            _hnsw_index("garment_openai_vec_hnsw", "openai_text_embedding_vec"),
            GinIndex(name="garment_search_vector_gin", fields=["search_vector"]),
            models.Index(name="garment_status_price", fields=["status", "price"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="garment_price_non_negative", condition=Q(price__isnull=True) | Q(price__gte=0)
            ),
            models.CheckConstraint(name="garment_currency_iso4217", condition=Q(currency__regex=r"^[A-Z]{3}$")),
            models.CheckConstraint(name="garment_status_valid", condition=Q(status__in=GarmentStatus.values)),
            models.CheckConstraint(
                name="garment_sold_at_iff_sold",
                condition=(Q(status=GarmentStatus.SOLD) & Q(sold_at__isnull=False))
                | (~Q(status=GarmentStatus.SOLD) & Q(sold_at__isnull=True)),
            ),
            models.CheckConstraint(name="garment_sku_not_blank", condition=~Q(sku__regex=r"^\s*$")),
            models.CheckConstraint(name="garment_title_not_blank", condition=~Q(title__regex=r"^\s*$")),
            models.CheckConstraint(
                name="garment_image_sha256_hex", condition=Q(image_sha256__regex=r"^([0-9a-f]{64})?$")
            ),
            models.CheckConstraint(
                name="garment_image_has_sha256",
                condition=Q(image="") | Q(image_sha256__regex=r"^[0-9a-f]{64}$"),
            ),
            models.CheckConstraint(
                name="garment_confidence_is_object", condition=_is_json_object("ontology_confidence")
            ),
            models.CheckConstraint(
                name="garment_confidence_valid",
                condition=_jsonb_has_no(
                    "ontology_confidence",
                    f'$.keyvalue() ? (!(@.key like_regex "{_ATTRIBUTE_KEY_REGEX}") '
                    '|| @.value.type() != "number" || @.value < 0 || @.value > 1)',
                ),
            ),
            models.CheckConstraint(name="garment_source_is_object", condition=_is_json_object("ontology_source")),
            models.CheckConstraint(
                name="garment_source_valid",
                condition=_jsonb_has_no(
                    "ontology_source",
                    f'$.keyvalue() ? (!(@.key like_regex "{_ATTRIBUTE_KEY_REGEX}") '
                    f'|| @.value.type() != "string" || !(@.value like_regex "{_SOURCE_REGEX}"))',
                ),
            ),
            models.CheckConstraint(
                name="garment_locked_are_attributes", condition=Q(ontology_locked__contained_by=list(ATTRIBUTE_NAMES))
            ),
            models.CheckConstraint(
                name="garment_source_attributes_is_object", condition=_is_json_object("source_attributes")
            ),
            models.CheckConstraint(
                name="garment_embedding_errors_is_object", condition=_is_json_object("embedding_errors")
            ),
            models.CheckConstraint(name="garment_conflicts_is_object", condition=_is_json_object("ontology_conflicts")),
            *[
                models.CheckConstraint(
                    name=f"garment_{space}_embedding_complete",
                    condition=Q(**{f"{space}_embedding_vec__isnull": True})
                    | (
                        Q(**{f"{space}_embedding_computed_at__isnull": False})
                        & Q(**{f"{space}_embedding_model__regex": r"\S"})
                    ),
                )
                for space in ("image", "text", "openai_text")
            ],
            *[
                models.CheckConstraint(
                    name=f"garment_{name}_canonical",
                    condition=Q(**{name: Func(F(name), function="lower")})
                    & Q(**{name: Func(F(name), function="btrim")}),
                )
                for name in ATTRIBUTE_NAMES
            ],
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.title}"

    def attributes(self) -> dict[str, str]:
        """The non-empty ontology attributes."""
        return {name: value for name in ATTRIBUTE_NAMES if (value := getattr(self, name))}


class GarmentImage(models.Model):
    """Additional photos; the primary one lives on Garment.image."""

    garment = models.ForeignKey(Garment, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to=garment_image_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField(default=0)
    alt_text = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("garment", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["garment", "sha256"], name="garment_photo_unique_per_garment"),
            models.CheckConstraint(name="garment_photo_sha256_hex", condition=Q(sha256__regex=r"^[0-9a-f]{64}$")),
        ]

    def __str__(self) -> str:
        return f"photo {self.position} of {self.garment_id}"
