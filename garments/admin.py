"""The staff side of the catalogue: browse, filter, correct attributes from the vocabulary, see why
vectors are stale, queue bulk work for the workers, and open the search playground and status page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from celery import Task
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from psycopg import sql

from embeddings.registry import configured_spaces
from embeddings.tasks import after_commit_safely, embed_garments_task, publish_batches
from ontology.tasks import extract_garments_task
from ontology.vocabulary import load_vocabulary

from .admin_views import (
    SIMILAR_LIMIT,
    PlaygroundView,
    StatusView,
    embedding_state,
    garment_photo_url,
    similar_garments,
)
from .attributes import ATTRIBUTE_NAMES, attribute_evidence
from .images import InvalidImageError, check_image
from .managers import EMBEDDING_SPACES, GarmentQuerySet
from .models import Garment, GarmentImage, GarmentStatus
from .services import (
    LISTING_FIELDS,
    OPEN_ATTRIBUTES,
    SECTION_OF,
    GarmentConflictError,
    GarmentPreconditionFailed,
    GarmentValidationError,
    canonical_attribute_value,
    garment_lock_attributes,
    garment_update,
    garment_version,
)
from .tasks import set_status_task, unlock_attributes_task

THUMBNAIL_PX = 64
STALE_FORM_MESSAGE = (
    "Someone saved this garment after you opened it. Open it again to see their change, then repeat yours."
)
# The most garments one action takes ("select all N" across pages included): at BATCH_SIZE 50 a
# 10,000-garment selection is 200 queued tasks, read here as 10,000 ids (~10 ms). A larger change
# is a job for the management commands (backfill_embeddings, extract_ontology), which checkpoint.
MAX_ACTION_GARMENTS = 10_000
# Status changes are cheap writes (a row lock and an UPDATE each, ~2 ms): a larger chunk per task.
STATUS_CHUNK = 500
# How many known brand or size values the datalist offers (the vocabulary's and the catalogue's).
MAX_DATALIST_VALUES = 500


def lock_field(name: str) -> str:
    """The form field holding the lock toggle of attribute `name`."""
    return f"lock_{name}"


def _image_tag(field_file: Any, size: int) -> SafeString | str:
    if not field_file:
        return "-"
    return format_html(
        '<img src="{}" alt="" style="max-width:{}px;max-height:{}px;object-fit:contain">', field_file.url, size, size
    )


# --- attribute fields: the vocabulary's values, with each value's provenance beside it -------------


class ProvenanceMixin:
    """A widget that shows, after the input, how sure extraction was of the stored value and who set it."""

    provenance: tuple[str, str, str | None] | None = None  # (confidence, source, evidence) of the stored value

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)  # type: ignore[misc]
        context["provenance"] = self.provenance
        return cast(dict[str, Any], context)


class AttributeSelect(ProvenanceMixin, forms.Select):
    template_name = "admin/garments/widgets/attribute_select.html"


class AttributeDatalist(ProvenanceMixin, forms.TextInput):
    """Free text (brand and size take any value) with the known values offered as a datalist."""

    template_name = "admin/garments/widgets/attribute_datalist.html"

    def __init__(self, options: Sequence[str] = (), attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.options = list(options)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        datalist_id = f"{context['widget']['attrs'].get('id') or name}_known"
        context["widget"]["attrs"]["list"] = datalist_id
        context["datalist_id"], context["options"] = datalist_id, self.options
        return context


def vocabulary_choices(name: str) -> list[tuple[str, Any]]:
    """The canonical values of attribute `name`, grouped where the vocabulary groups them
    (subcategories by category, colours by family), after an empty choice that clears the attribute."""
    section = SECTION_OF[name]
    values = load_vocabulary().values[section]
    blank: list[tuple[str, Any]] = [("", "---------")]
    group_by = {"subcategory": "category", "color": "family"}.get(section)
    if group_by is None:
        return blank + [(value, value) for value in sorted(values)]
    groups: dict[str, list[tuple[str, str]]] = {}
    for value in values.values():
        groups.setdefault(str(getattr(value, group_by) or "other"), []).append((value.canonical, value.canonical))
    return blank + [(group, sorted(members)) for group, members in sorted(groups.items())]


class VocabularyChoiceField(forms.ChoiceField):
    """A closed attribute: a canonical vocabulary value. A synonym posted by hand ("Navy Blue") maps to
    its canonical value, as the services map it; the value already stored is accepted unchanged even
    when a newer vocabulary dropped it, so saving other fields never fails on it."""

    widget = AttributeSelect

    def __init__(self, attribute: str, stored: str, **kwargs: Any) -> None:
        choices = vocabulary_choices(attribute)
        if stored and stored not in load_vocabulary().values[SECTION_OF[attribute]]:
            choices.append((stored, f"{stored} (not in the vocabulary)"))
        super().__init__(choices=choices, required=False, **kwargs)
        self.attribute, self.stored = attribute, stored

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        if not text or text == self.stored:
            return text
        try:
            return canonical_attribute_value(self.attribute, text)
        except GarmentValidationError as exc:
            raise forms.ValidationError(exc.message, code="not_in_vocabulary") from exc


# The distinct values of an indexed column by a skip scan: one index probe per value, so 500 brands
# cost ~500 probes (a few ms) where SELECT DISTINCT reads every row (~300 ms at a million garments).
_DISTINCT_VALUES_SQL = """
WITH RECURSIVE found(value) AS (
    (SELECT {column} FROM {table} WHERE {column} > '' ORDER BY {column} LIMIT 1)
    UNION ALL
    SELECT (SELECT {column} FROM {table} WHERE {column} > found.value ORDER BY {column} LIMIT 1)
    FROM found WHERE found.value IS NOT NULL
)
SELECT value FROM found WHERE value IS NOT NULL LIMIT %s
"""


def known_values(name: str) -> list[str]:
    """Values of an open attribute (brand, size) worth suggesting: the vocabulary's, then the catalogue's own."""
    if name not in OPEN_ATTRIBUTES:
        raise ValueError(f"{name} is not an open attribute")
    vocabulary = sorted(load_vocabulary().values[SECTION_OF[name]])
    statement = sql.SQL(_DISTINCT_VALUES_SQL).format(
        column=sql.Identifier(name), table=sql.Identifier(Garment._meta.db_table)
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection), [MAX_DATALIST_VALUES])
        stored = [row[0] for row in cursor.fetchall()]
    known = set(vocabulary)
    return (vocabulary + [value for value in stored if value not in known])[:MAX_DATALIST_VALUES]


class GarmentAdminForm(forms.ModelForm[Garment]):
    class Meta:
        model = Garment
        # Editable fields only; the admin's fieldsets decide the layout. The locks are the lock_<name>
        # checkboxes below, gathered into ontology_locked by clean().
        fields = ("sku", "title", "description", "price", "currency", "status", "image", *ATTRIBUTE_NAMES)

    # The version of the garment the form was opened on: a save over someone else's newer change is
    # refused with a form error (the API's If-Match, for staff in a browser), not silently undone.
    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        garment = self.instance
        if garment.pk:
            self.fields["version"].initial = garment_version(garment)
        for name in ATTRIBUTE_NAMES:
            if name not in self.fields:
                continue
            widget: ProvenanceMixin
            if name in OPEN_ATTRIBUTES:
                field = self.fields[name]
                widget = AttributeDatalist(options=known_values(name))
                widget.attrs.update({"size": 24, **field.widget_attrs(widget)})
                field.widget = widget
            else:
                old = self.fields[name]
                field = VocabularyChoiceField(name, getattr(garment, name), label=old.label, help_text=old.help_text)
                widget = cast(AttributeSelect, field.widget)
                self.fields[name] = field
            if name in garment.ontology_confidence or name in garment.ontology_source:
                confidence = garment.ontology_confidence.get(name)
                widget.provenance = (
                    f"{confidence:.2f}" if confidence is not None else "-",
                    str(garment.ontology_source.get(name, "-")),
                    attribute_evidence(garment, name),
                )
            self.fields[lock_field(name)].initial = name in garment.ontology_locked

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

    def clean(self) -> dict[str, Any]:
        """Attribute values as the services store them (the closed ones are already canonical: see
        VocabularyChoiceField; brand and size take any value, normalised), and the ticked locks."""
        cleaned = super().clean() or {}
        for name in OPEN_ATTRIBUTES:
            if cleaned.get(name) is not None and name in self.changed_data:
                try:
                    cleaned[name] = canonical_attribute_value(name, cleaned[name])
                except GarmentValidationError as exc:
                    self.add_error(name, exc.message)
        cleaned["ontology_locked"] = [name for name in ATTRIBUTE_NAMES if cleaned.get(lock_field(name))]
        return cleaned

    @property
    def locks_changed(self) -> bool:
        return any(lock_field(name) in self.changed_data for name in ATTRIBUTE_NAMES)


# One lock toggle per attribute, declared on the class (the admin accepts only declared form fields
# in its fieldsets); a loop here rather than sixteen lines that differ in one word.
for _name in ATTRIBUTE_NAMES:
    GarmentAdminForm.base_fields[lock_field(_name)] = GarmentAdminForm.declared_fields[lock_field(_name)] = (
        forms.BooleanField(required=False, label="locked", help_text="")
    )


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


# --- bulk work: tasks taking id lists, queued after the request's transaction commits ---------------


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _publish(task: Task, batches: list[tuple[Any, ...]], name: str) -> None:
    publish_batches(task, batches, name=name)


@admin.register(Garment)
class GarmentAdmin(admin.ModelAdmin[Garment]):
    form = GarmentAdminForm
    change_list_template = "admin/garments/garment/change_list.html"
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
    actions = (
        "reextract_attributes",
        "reembed",
        "unlock_attributes",
        "mark_available",
        "mark_reserved",
        "mark_sold",
    )
    readonly_fields = (
        "image_preview",
        "image_sha256",
        "sold_at",
        "ontology_conflicts_display",
        "extraction_state",
        "source_attributes_table",
        "embeddings_table",
        "similar_garments_panel",
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
                "description": "Values come from the vocabulary; beside each, the stored value's confidence and "
                "source. Editing a value makes it a staff value (confidence 1) and locks it; a locked "
                "attribute is never overwritten by extraction. Untick to let extraction update it again.",
                "fields": (
                    "extraction_state",
                    "ontology_conflicts_display",
                    *((name, lock_field(name)) for name in ATTRIBUTE_NAMES),
                ),
            },
        ),
        ("Catalogue labels", {"classes": ("collapse",), "fields": ("source_attributes_table",)}),
        ("Embeddings", {"fields": ("embeddings_table",)}),
        ("Similar garments", {"fields": ("similar_garments_panel",)}),
        ("History", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )

    class Media:
        css = {"all": ("garments/admin.css",)}

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("playground/", wrap(PlaygroundView.as_view(admin_site=self.admin_site)), name=f"{prefix}_playground"),
            path("status/", wrap(StatusView.as_view(admin_site=self.admin_site)), name=f"{prefix}_status"),
        ]
        return own + super().get_urls()  # before the catch-all <path:object_id>/

    def get_queryset(self, request: HttpRequest) -> QuerySet[Garment]:
        queryset = cast(GarmentQuerySet, super().get_queryset(request))
        if request.resolver_match and request.resolver_match.url_name == "garments_garment_changelist":
            return queryset.without_vectors()
        return queryset.defer("search_vector")

    def get_readonly_fields(self, request: HttpRequest, obj: Garment | None = None) -> tuple[str, ...]:
        # The sku is identity: imports match on it, so it is fixed once the garment exists.
        return (*self.readonly_fields, "sku") if obj is not None else tuple(self.readonly_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Garment | None = None) -> Any:
        if obj is None:  # a garment being added has no vectors nor neighbours yet
            return [fieldset for fieldset in self.fieldsets if fieldset[0] not in ("Embeddings", "Similar garments")]
        return self.fieldsets

    @admin.display(description="photo")
    def thumbnail(self, obj: Garment) -> SafeString | str:
        return _image_tag(obj.image, THUMBNAIL_PX)

    @admin.display(description="current photo")
    def image_preview(self, obj: Garment) -> SafeString | str:
        return _image_tag(obj.image, 320)

    @admin.display(description="price", ordering="price")
    def price_display(self, obj: Garment) -> str:
        return f"{obj.price} {obj.currency}" if obj.price is not None else "-"

    @admin.display(description="extraction")
    def extraction_state(self, obj: Garment) -> SafeString | str:
        from ontology.services import ERROR_KEY

        error = obj.embedding_errors.get(ERROR_KEY) if obj.pk else None
        if error:
            return format_html(
                '<span class="garment-state garment-state-failed">failed</span> {} <small>({})</small>',
                error.get("message", ""),
                error.get("at", ""),
            )
        if not obj.pk or obj.ontology_extracted_at is None:
            return format_html('<span class="garment-state garment-state-missing">{}</span>', "not extracted yet")
        pending = obj.ontology_extracted_hash != obj.ontology_input_hash
        # format_html escapes its arguments into strings first: the time is formatted here.
        return format_html(
            '<span class="garment-state garment-state-{}">{}</span> <small>last run {}</small>',
            "stale" if pending else "fresh",
            "pending (the content changed since)" if pending else "up to date",
            f"{obj.ontology_extracted_at:%Y-%m-%d %H:%M}",
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
        configured = set(configured_spaces())
        rows = []
        for space in EMBEDDING_SPACES:
            state = embedding_state(obj, space, configured=space in configured)
            rows.append((space.replace("_", " "), state.state, state.label, state.model or "-",
                         state.dimensions or "-", state.computed, state.message or ""))  # fmt: skip
        return format_html(
            '<table class="garment-embeddings"><thead><tr><th>space</th><th>state</th><th>model</th>'
            "<th>dimensions</th><th>computed</th><th>failure</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><th>{}</th><td><span class="garment-state garment-state-{}">{}</span></td><td>{}</td>'
                "<td>{}</td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
        )

    @admin.display(description=f"nearest {SIMILAR_LIMIT} (any status)")
    def similar_garments_panel(self, obj: Garment) -> SafeString | str:
        if not obj.pk:
            return "-"
        hits, problem = similar_garments(obj.pk)
        if problem:
            return problem
        cards = [
            (
                reverse("admin:garments_garment_change", args=[hit.garment.pk]),
                garment_photo_url(hit.garment, 160),
                hit.garment.title,
                hit.garment.title,
                ", ".join(
                    f"{name} {signal.distance:.3f}"
                    for name, signal in hit.signals.items()
                    if signal.distance is not None
                ),
            )
            for hit in hits
        ]
        return format_html(
            '<div class="garment-similar">{}</div>',
            format_html_join(
                "",
                '<a class="garment-card" href="{}"><img src="{}" alt="{}"><span>{}</span>'
                "<small>distance {}</small></a>",
                cards,
            ),
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
            locked=form.cleaned_data["ontology_locked"] if cast(GarmentAdminForm, form).locks_changed else None,
            image_content=image_content,
            remove_image="image" in changed and upload is False,
            expected_version=(form.cleaned_data.get("version") or None) if change else None,
        )
        # A staff edit locks its attribute, unless the same save unticked that attribute's lock: the box the
        # person cleared wins ("edit it, and let extraction update it again"). Same transaction as the save.
        cleaned = form.cleaned_data
        unticked = [
            name
            for name in ATTRIBUTE_NAMES
            if name in changed and lock_field(name) in changed and not cleaned[lock_field(name)]
        ]
        if unticked:
            garment_lock_attributes(garment=obj, lock=[], unlock=unticked)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        """A selection that names no garment ids (a hand-made or mangled POST) is a message, not a 500."""
        try:
            return super().response_action(request, queryset, *args, **kwargs)
        except (ValueError, ValidationError):
            self.message_user(request, "The selection names no garments: choose them in the list.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

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

    # --- actions: bounded selections, queued for the workers -----------------------------------------

    def _selected_ids(self, request: HttpRequest, queryset: QuerySet[Garment]) -> list[int] | None:
        """The selection's ids, or None (with a message saying why) when it is over MAX_ACTION_GARMENTS."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_ACTION_GARMENTS + 1])
        if len(ids) > MAX_ACTION_GARMENTS:
            self.message_user(
                request,
                f"This selection holds more than {MAX_ACTION_GARMENTS:,} garments; nothing was queued. Narrow it "
                "with the filters, or run the management command (backfill_embeddings, extract_ontology).",
                messages.ERROR,
            )
            return None
        return ids

    def _queue(
        self,
        request: HttpRequest,
        queryset: QuerySet[Garment],
        *,
        task: Task,
        name: str,
        what: str,
        chunk: int,
        args: Callable[[list[int]], tuple[Any, ...]],
    ) -> None:
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return
        batches = [args(batch) for batch in _chunks(ids, chunk)]
        transaction.on_commit(after_commit_safely(name, lambda: _publish(task, batches, name)))
        # Without a broker Celery runs tasks inline (CELERY_TASK_ALWAYS_EAGER): then this request did it.
        who = "this request applied it (no task broker is configured)" if settings.CELERY_TASK_ALWAYS_EAGER \
            else "a worker applies it"  # fmt: skip
        self.message_user(
            request, f"Queued {len(ids)} garments {what} in {len(batches)} tasks; {who}.", messages.SUCCESS
        )

    @admin.action(description="Re-extract attributes (locked and stated values are kept)", permissions=["change"])
    def reextract_attributes(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._queue(request, queryset, task=extract_garments_task, name="extract_garments", chunk=settings.BATCH_SIZE,
                    what="for re-extraction", args=lambda batch: (batch, True))  # fmt: skip

    @admin.action(description="Re-embed in every configured space (recomputes fresh vectors too)",
                  permissions=["change"])  # fmt: skip
    def reembed(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._queue(request, queryset, task=embed_garments_task, name="embed_garments", chunk=settings.BATCH_SIZE,
                    what="for re-embedding", args=lambda batch: (batch, None, True))  # fmt: skip

    @admin.action(description="Unlock all attributes (extraction may update them again)", permissions=["change"])
    def unlock_attributes(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._queue(request, queryset, task=unlock_attributes_task, name="unlock_attributes", chunk=STATUS_CHUNK,
                    what="to have their attributes unlocked", args=lambda batch: (batch,))  # fmt: skip

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Garment], status: str) -> None:
        self._queue(request, queryset, task=set_status_task, name="set_status", chunk=STATUS_CHUNK,
                    what=f"to be marked {status}", args=lambda batch: (batch, status))  # fmt: skip

    @admin.action(description="Mark selected garments available", permissions=["change"])
    def mark_available(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.AVAILABLE)

    @admin.action(description="Mark selected garments reserved", permissions=["change"])
    def mark_reserved(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.RESERVED)

    @admin.action(description="Mark selected garments sold", permissions=["change"])
    def mark_sold(self, request: HttpRequest, queryset: QuerySet[Garment]) -> None:
        self._set_status(request, queryset, GarmentStatus.SOLD)


# The admin index links to the playground and the status page (templates/admin/garments/index.html).
admin.site.index_template = "admin/garments/index.html"
