"""check_migration_locks: a migration that would hold a long lock on the garments table fails the
check unless reviewed; safe ones pass; the current tree passes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management import CommandError, call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader

from prethrift import migration_locks

# Transactional: AddIndexConcurrently refuses to collect its SQL inside a transaction, as it refuses to run there.
pytestmark = pytest.mark.django_db(transaction=True)


def _findings(*operations: migrations.operations.base.Operation, atomic: bool = True) -> list[str]:
    """The problems the check finds in a migration made of `operations`, after garments' last one."""
    loader = MigrationLoader(connection)
    leaf = max(name for app, name in loader.disk_migrations if app == "garments")
    migration = type("Migration", (migrations.Migration,), {
        "dependencies": [("garments", leaf)], "operations": list(operations), "atomic": atomic})(
        "9999_under_test", "garments")  # fmt: skip
    state = loader.project_state(loader.graph.leaf_nodes(), at_end=True)
    return [finding.problem for finding in
            migration_locks.statement_findings(migration_locks.migration_sql(migration, state))]  # fmt: skip


def test_the_current_migrations_pass():
    out = io.StringIO()
    call_command("check_migration_locks", stdout=out)
    print(out.getvalue())
    assert "0 need review" in out.getvalue()
    assert "garments.0004_embedding_errors: reviewed (" in out.getvalue()


@pytest.mark.parametrize(
    ("operation", "problem"),
    [
        (migrations.AddIndex("garment", models.Index(fields=["sku", "status"], name="garment_sku_status")),
         "CREATE INDEX without CONCURRENTLY"),
        (migrations.AlterField("garment", "price", models.FloatField(null=True, blank=True)),
         "a column type change (rewrites or scans the table)"),
        (migrations.AlterField("garment", "brand", models.CharField(max_length=200)),
         "a column type change (rewrites or scans the table)"),
        (migrations.RunSQL("ALTER TABLE garments_garment ALTER COLUMN description SET NOT NULL"),
         "SET NOT NULL (scans the whole table)"),
        (migrations.RunSQL("ALTER TABLE garments_garment ADD COLUMN grade integer NOT NULL"),
         "a NOT NULL column without a default"),
        (migrations.AddField("garment", "seller", models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                                                   on_delete=models.SET_NULL)),
         "a FOREIGN KEY without NOT VALID"),
        (migrations.AddConstraint("garment", models.CheckConstraint(condition=models.Q(price__lt=100000),
                                                                   name="garment_price_sane")),
         "a CHECK constraint without NOT VALID"),
        (migrations.AddConstraint("garment", models.UniqueConstraint(fields=["title", "brand"],
                                                                    name="garment_title_brand")),
         "a UNIQUE or PRIMARY KEY constraint (builds its index under the lock)"),
        (migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
         "an operation that is not SQL (RunPython)"),
    ],
)  # fmt: skip
def test_a_migration_that_locks_the_garments_table_is_caught(operation, problem):
    assert problem in _findings(operation)


def test_a_foreign_key_from_another_table_to_garments_is_caught():
    sql = ("ALTER TABLE auth_user ADD CONSTRAINT auth_user_fav FOREIGN KEY (id) "
           "REFERENCES garments_garment (id) DEFERRABLE INITIALLY DEFERRED")  # fmt: skip
    assert "a FOREIGN KEY without NOT VALID" in _findings(migrations.RunSQL(sql))


def test_safe_migrations_pass():
    assert (
        _findings(
            AddIndexConcurrently("garment", models.Index(fields=["sku", "status"], name="garment_sku_status")),
            atomic=False,
        )
        == []
    )
    assert _findings(
        migrations.AddField("garment", "grade", models.IntegerField(null=True)),
        migrations.AddField("garment", "score", models.IntegerField(default=0)),  # a constant default: no rewrite
        migrations.RunSQL("ALTER TABLE garments_garment ADD CONSTRAINT garment_grade_positive CHECK (grade > 0) "
                          "NOT VALID"),
        migrations.RunSQL("ALTER TABLE garments_garment VALIDATE CONSTRAINT garment_grade_positive"),
    ) == []  # fmt: skip
    # a new table that refers to garments: its own indexes and constraints are built while it is empty
    assert _findings(
        migrations.CreateModel("Favourite", [
            ("id", models.BigAutoField(primary_key=True)),
            ("garment", models.ForeignKey("garments.Garment", on_delete=models.CASCADE)),
        ]),
    ) == []  # fmt: skip


def test_an_unreviewed_migration_fails_the_command_and_a_review_accepts_it(tmp_path: Path, monkeypatch):
    # given no reviews at all: the real 0003..0005 are then unreviewed
    empty = tmp_path / "reviews.toml"
    empty.write_text("[reviewed]\n")
    monkeypatch.setattr(migration_locks, "REVIEWS_FILE", empty)
    monkeypatch.setattr(migration_locks.load_reviews, "__defaults__", (empty,))
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"garments\.0004_embedding_errors"):
        call_command("check_migration_locks", stdout=out)
    assert "garments.0004_embedding_errors: LONG LOCK, not reviewed" in out.getvalue()
    # and a review without a reason is refused, one naming no migration is stale
    empty.write_text('[reviewed]\n"garments.0004_embedding_errors" = ""\n')
    with pytest.raises(CommandError, match="needs a reason"):
        call_command("check_migration_locks", stdout=io.StringIO())
    reviews = migration_locks.load_reviews(Path(migration_locks.__file__).with_name("migration_lock_reviews.toml"))
    empty.write_text("[reviewed]\n" + "".join(f'"{name}" = "{reason}"\n' for name, reason in reviews.items())
                     + '"garments.0099_gone" = "was reviewed once"\n')  # fmt: skip
    with pytest.raises(CommandError, match=r"do not exist: garments\.0099_gone"):
        call_command("check_migration_locks", stdout=io.StringIO())


def test_a_lock_review_attribute_accepts_a_migration():
    result = migration_locks.Result("garments.9999_under_test",
                                    [migration_locks.Finding("garments_garment", "x", "ALTER TABLE ...")])  # fmt: skip
    assert result.needs_review
    result.review = "the table is small in every deployment we run"
    assert not result.needs_review
