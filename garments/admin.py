"""The staff side of the catalogue: browse, filter, correct attributes, see why vectors are stale."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .attributes import ATTRIBUTE_NAMES
from .images import InvalidImageError, check_image
from .managers import EMBEDDING_SPACES, SPACE_SOURCE_HASH_FIELD, GarmentQuerySet
from .models import Garment, GarmentImage, GarmentStatus
from .services import (
    LISTING_FIELDS,
    GarmentConflictError,
    GarmentPreconditionFailed,
    GarmentValidationError,
    canonical_attribute_value,
    garment_lock_attributes,
    garment_update,
    garment_version,
)

THUMBNAIL_PX = 64
STALE_FORM_MESSAGE = (
    "Someone saved this garment after you opened it. Open it again to see their change, then repeat yours."
)


def _image_tag(field_file: Any, size: int) -> SafeString | str:
    if not field_file:
        return "-"
    return format_html(
        '<img src="{}" alt="" style="max-width:{}px;max-height:{}px;object-fit:contain">', field_file.url, size, size
    )


class GarmentAdminForm(forms.ModelForm[Garment]):
    class Meta:
        model = Garment
        # Editable fields only; the admin's fieldsets decide the layout.
        fields = ("sku", "title", "description", "price", "currency", "status", "image", *ATTRIBUTE_NAMES,
                  "ontology_locked")  # fmt: skip

    # The version of the garment the form was opened on: a save over someone else's newer change is
    # refused with a form error (the API's If-Match, for staff in a browser), not silently undone.
    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version"].initial = garment_version(self.instance)

    def clean_version(self) -> str:
        version = self.cleaned_data.get("version") or ""
        if self.instance.pk and version:
            current = Garment.objects.filter(pk=self.instance.pk).first()
            if current is not None and garment_version(current) != version:
                raise forms.ValidationError(STALE_FORM_MESSAGE)
        return version

    def clean_image(self) -> Any:
        upload = self.cleaned_data.get("image")
        if upload and hasattr(upload, "content_type"):  # a new upload, not the stored file
            try:
                check_image(upload.read())
            except InvalidImageError as exc:
                raise forms.ValidationError(exc.message) from exc
            finally:
                upload.seek(0)
        return upload

    def clean_ontology_locked(self) -> list[str]:
        locked = [name.strip() for name in self.cleaned_data.get("ontology_locked") or [] if name.strip()]
        unknown = sorted(set(locked) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise forms.ValidationError(
                f"Not attributes: {', '.join(unknown)}. Use names from: {', '.join(ATTRIBUTE_NAMES)}."
            )
        return [name for name in ATTRIBUTE_NAMES if name in locked]

    def clean(self) -> dict[str, Any]:
        """Attribute values as the services store them: a vocabulary value (a synonym maps to its
        canonical value), or for brand and size any value, normalised. Anything else is a field error."""
        cleaned = super().clean() or {}
        for name in ATTRIBUTE_NAMES:
            if name in cleaned and cleaned[name] is not None:
                try:
                    cleaned[name] = canonical_attribute_value(name, cleaned[name])
                except GarmentValidationError as exc:
                    self.add_error(name, exc.message)
        return cleaned


class GarmentImageInline(admin.TabularInline[GarmentImage, Garment]):
    model = GarmentImage
    extra = 0
    fields = ("preview", "image", "position", "alt_text", "sha256")
    readonly_fields = ("preview", "sha256")

    @admin.display(description="photo")
    def preview(self, obj: GarmentImage) -> SafeString | str:
        return _image_tag(obj.image, THUMBNAIL_PX)

    def has_add_permission(self, request: HttpRequest, obj: Garment | None = None) -> bool:
        return False  # extra photos arrive through the API and imports, which hash them


@admin.register(Garment)
class GarmentAdmin(admin.ModelAdmin[Garment]):
    form = GarmentAdminForm
    list_display = (
        "thumbnail",
        "sku",
        "title",
        "brand",
        "category",
        "subcategory",
        "primary_color",
        "size",
        "condition",
        "price_display",
        "status",
    )
    list_display_links = ("thumbnail", "sku", "title")
    list_filter = (
        "status",
        "category",
        "gender",
        "primary_color",
        "material",
        "pattern",
        "condition",
        "size",
        "season",
        "occasion",
    )
    search_fields = ("title", "brand", "=sku")
    list_per_page = 50
    show_full_result_count = False  # counting 1M rows on every page view is the slow part of an admin
    inlines = (GarmentImageInline,)
    actions = ("reextract_attributes", "unlock_attributes", "mark_available", "mark_reserved", "mark_sold")
    readonly_fields = (
        "image_preview",
        "image_sha256",
        "sold_at",
        "ontology_table",
        "ontology_conflicts_display",
        "source_attributes_table",
        "embeddings_table",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            "Listing",
            {"fields": ("sku", "title", "description", ("price", "currency"), "status", "sold_at", "version")},
        ),
        ("Photos", {"fields": ("image_preview", "image", "image_sha256")}),
        (
            "Ontology",
            {
                "description": "Editing a value here makes it a staff value (confidence 1) and locks it: "
                "later extraction never overwrites a locked attribute.",
                "fields": ("ontology_table", "ontology_conflicts_display", *ATTRIBUTE_NAMES, "ontology_locked"),
            },
        ),
        ("Catalogue labels", {"classes": ("collapse",), "fields": ("source_attributes_table",)}),
        ("Embeddings", {"fields": ("embeddings_table",)}),
        ("History", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Garment]:
        queryset = cast(GarmentQuerySet, super().get_queryset(request))
        if request.resolver_match and request.resolver_match.url_name == "garments_garment_changelist":
            return queryset.without_vectors()
        return queryset.defer("search_vector")

    def get_readonly_fields(self, request: HttpRequest, obj: Garment | None = None) -> tuple[str, ...]:
        # The sku is identity: imports match on it, so it is fixed once the garment exists.
        return (*self.readonly_fields, "sku") if obj is not None else tuple(self.readonly_fields)

    @admin.display(description="photo")
    def thumbnail(self, obj: Garment) -> SafeString | str:
        return _image_tag(obj.image, THUMBNAIL_PX)

    @admin.display(description="current photo")
    def image_preview(self, obj: Garment) -> SafeString | str:
        return _image_tag(obj.image, 320)

    @admin.display(description="price", ordering="price")
    def price_display(self, obj: Garment) -> str:
        return f"{obj.price} {obj.currency}" if obj.price is not None else "-"

    @admin.display(description="attributes: value, confidence, source")
    def ontology_table(self, obj: Garment) -> SafeString:
        rows = [
            (
                name,
                getattr(obj, name) or "-",
                f"{obj.ontology_confidence[name]:.2f}" if name in obj.ontology_confidence else "-",
                obj.ontology_source.get(name, "-"),
                "locked" if name in obj.ontology_locked else "",
            )
            for name in ATTRIBUTE_NAMES
        ]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            '<table class="ontology"><thead><tr><th>attribute</th><th>value</th><th>confidence</th>'
            "<th>source</th><th></th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="extractors disagree")
    def ontology_conflicts_display(self, obj: Garment) -> SafeString | str:
        if not obj.ontology_conflicts:
            return "-"
        return format_html_join(
            "", "<div>{}: {}</div>", ((name, ", ".join(f"{k} says {v}" for k, v in found.items()))
                                      for name, found in obj.ontology_conflicts.items())
        )  # fmt: skip

    @admin.display(description="labels the import brought (never read by extraction)")
    def source_attributes_table(self, obj: Garment) -> SafeString | str:
        if not obj.source_attributes:
            return "-"
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(obj.source_attributes.items())),
        )

    @admin.display(description="vectors")
    def embeddings_table(self, obj: Garment) -> SafeString:
        rows = []
        for space in EMBEDDING_SPACES:
            vector = getattr(obj, f"{space}_embedding_vec")
            if vector is None:
                state, model, dims, when = "missing", "-", "-", "-"
            else:
                fresh = getattr(obj, f"{space}_embedding_source_hash") == getattr(obj, SPACE_SOURCE_HASH_FIELD[space])
                state = "fresh" if fresh else "stale"
                model = getattr(obj, f"{space}_embedding_model")
                dims = str(len(vector))
                when = f"{getattr(obj, f'{space}_embedding_computed_at'):%Y-%m-%d %H:%M}"
            rows.append((space.replace("_", " "), state, model, dims, when))
        return format_html(
            "<table><thead><tr><th>space</th><th>state</th><th>model</th><th>dimensions</th><th>computed</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def save_model(self, request: HttpRequest, obj: Garment, form: forms.ModelForm[Garment], change: bool) -> None:
        changed = set(form.changed_data)
        upload = form.cleaned_data.get("image")
        image_content = None
        if "image" in changed and upload and hasattr(upload, "read"):
            upload.seek(0)
            image_content = upload.read()
        # Only what the form changed goes to the service, which applies it to the row as it is now
        # (locked), so a concurrent edit of other fields survives this one.
        garment_update(
            garment=obj,
            listing={name: form.cleaned_data[name] for name in LISTING_FIELDS if name in changed},
            attributes={name: form.cleaned_data[name] for name in ATTRIBUTE_NAMES if name in changed},
            locked=form.cleaned_data["ontology_locked"] if "ontology_locked" in changed else None,
            image_content=image_content,
            remove_image="image" in changed and upload is False,
            expected_version=(form.cleaned_data.get("version") or None) if change else None,
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A write that lost a race after the form validated (a sku taken, or a newer version saved, in
        the instant between the form's checks and the locked save) changed nothing: say so and show the
        form again, never a 500."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except GarmentConflictError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except GarmentPreconditionFailed:
            self.message_user(request, STALE_FORM_MESSAGE, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Re-extract attributes (locked and stated values are kept)", permissions=["change"])
    def reextract_attributes(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        from ontology.services import extract_garments

        ids = list(queryset.values_list("pk", flat=True))
        report = extract_garments(garment_ids=ids, force=True)
        self.message_user(
            request,
            f"Re-extracted {report.extracted} garments ({report.changed} changed); {len(report.failed)} failed.",
            messages.SUCCESS if not report.failed else messages.WARNING,
        )

    @admin.action(description="Unlock all attributes (extraction may update them again)", permissions=["change"])
    def unlock_attributes(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        count = 0
        for garment in cast(GarmentQuerySet, queryset).without_vectors().iterator(chunk_size=500):
            if garment.ontology_locked:
                garment_lock_attributes(garment=garment, lock=[], unlock=list(garment.ontology_locked))
                count += 1
        self.message_user(request, f"Unlocked the attributes of {count} garments.", messages.SUCCESS)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Garment], status: str) -> None:
        count = 0
        for garment in cast(GarmentQuerySet, queryset).without_vectors().iterator(chunk_size=500):
            if garment.status != status:
                garment_update(garment=garment, listing={"status": status})
                count += 1
        self.message_user(request, f"{count} garments marked {status}.", messages.SUCCESS)

    @admin.action(description="Mark selected garments available", permissions=["change"])
    def mark_available(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.AVAILABLE)

    @admin.action(description="Mark selected garments reserved", permissions=["change"])
    def mark_reserved(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.RESERVED)

    @admin.action(description="Mark selected garments sold", permissions=["change"])
    def mark_sold(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.SOLD)
