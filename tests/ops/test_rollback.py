"""Rolling back a release: every migration of ours reverses, and the garments app steps back to the previous
release's migration and forward again on a database with data, losing nothing the older schema holds.

docs/deployment.md#roll-back says what a step back costs: the columns a migration added are dropped with it
(0005's extraction bookkeeping comes back at its defaults, so extract_ontology redoes those garments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField
from django.db.migrations.operations.base import Operation
from django.db.models import NOT_PROVIDED
from django.utils import timezone

from garments.models import TEXT_DIMENSIONS, Garment
from tests.factories import GarmentFactory

OUR_APPS = ("prethrift", "garments", "ontology", "embeddings", "search")
# Migrations whose reversal cannot run, with the procedure docs/deployment.md gives for them. Empty: a new
# irreversible migration fails test_every_migration_of_ours_reverses until it is listed here and documented.
IRREVERSIBLE: dict[str, str] = {}
KEPT_SQL = """
SELECT id, sku, title, price::text, status, ontology_locked, updated_at, primary_color,
       text_embedding_vec::text, text_embedding_model, embedding_errors::text
FROM garments_garment ORDER BY id
"""


def kept() -> list[tuple[Any, ...]]:
    """What both schemas hold: identity, listing, attributes, staff locks, vectors and their bookkeeping."""
    with connection.cursor() as cursor:
        cursor.execute(KEPT_SQL)
        return list(cursor.fetchall())


def columns() -> set[str]:
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, "garments_garment")}


def leaf_and_previous(app: str) -> tuple[str, str]:
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes(app)
    (previous,) = graph.node_map[leaf].parents
    return leaf[1], previous.key[1]


def added_fields(app: str, name: str) -> set[str]:
    migration = MigrationLoader(None, ignore_no_migrations=True).get_migration(app, name)
    return {operation.name for operation in migration.operations if isinstance(operation, AddField)}


def test_every_migration_of_ours_reverses() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    irreversible = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        operations: Sequence[Operation] = migration.operations
        if app in OUR_APPS and any(not operation.reversible for operation in operations):
            irreversible.append(f"{app}.{name}")
    assert sorted(irreversible) == sorted(IRREVERSIBLE), "list and document each irreversible migration"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_garments_steps_back_to_the_previous_release_and_forward_with_its_data() -> None:
    # given: garments with vectors, staff locks, a recorded failure and extraction bookkeeping
    latest, previous = leaf_and_previous("garments")
    rows = np.random.default_rng(7).standard_normal((4, TEXT_DIMENSIONS)).astype(np.float32)
    for index, vector in enumerate(rows):
        garment = GarmentFactory.create(title=f"Rollback coat {index}", price=f"{20 + index}.00")
        Garment.objects.filter(pk=garment.pk).update(
            text_embedding_vec=vector.tolist(), text_embedding_model="test-text",
            text_embedding_computed_at=timezone.now(), ontology_locked=["primary_color"] if index % 2 else [],
            embedding_errors={"image": {"message": "no photo", "source_hash": "", "at": "2026-01-01T00:00:00Z"}},
            ontology_version=3,
        )  # fmt: skip
    before = kept()
    added = added_fields("garments", latest)
    assert added <= columns()
    try:
        # when: the previous release's schema
        call_command("migrate", "garments", previous, verbosity=0)
        # then: its columns hold the same values; the latest's are gone
        assert kept() == before
        assert not added & columns()
        # and forward again
        call_command("migrate", "garments", verbosity=0)
    finally:
        call_command("migrate", "garments", verbosity=0)  # never leave the test database behind the code
    assert kept() == before
    # What the step back dropped comes back at its defaults (0005: extraction sees the garments as never extracted).
    for name in added:
        field = Garment._meta.get_field(name)
        default = field.get_default()
        assert all(value == default for value in Garment.objects.values_list(name, flat=True)), name
    if "ontology_version" in added:
        assert set(Garment.objects.needs_extraction().values_list("pk", flat=True)) == {row[0] for row in before}


@pytest.mark.django_db(transaction=True)
def test_the_previous_release_writes_to_the_latest_schema_only_when_it_only_expanded() -> None:
    """Why the guide migrates back before switching code: the previous release's model (its historical
    state) inserts without the columns the latest migration added, and a NOT NULL column without a database
    default refuses that row. A column added with db_default (or null=True) takes its default: expand/contract."""
    from django.db import IntegrityError

    latest, previous = leaf_and_previous("garments")
    required = {
        name
        for name in added_fields("garments", latest)
        if not Garment._meta.get_field(name).null and Garment._meta.get_field(name).db_default is NOT_PROVIDED
    }
    old_garment = MigrationLoader(None).project_state(("garments", previous)).apps.get_model("garments", "Garment")
    if required:
        with pytest.raises(IntegrityError, match="|".join(sorted(required))):
            old_garment.objects.create(sku="old-release-1", title="Written by the previous release", currency="USD")
        return
    # An expand migration (every added column nullable or with a database default, as 0006 is): the previous
    # release writes to the latest schema unchanged, and the new columns take their database defaults.
    row = old_garment.objects.create(sku="old-release-1", title="Written by the previous release", currency="USD")
    stored = Garment.objects.get(pk=row.pk)
    for name in added_fields("garments", latest):
        field = Garment._meta.get_field(name)
        default = field.db_default
        expected = None if default is NOT_PROVIDED else getattr(default, "value", default)  # Value(x) or x itself
        assert getattr(stored, name) == expected, name
