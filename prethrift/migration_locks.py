"""Find migrations that would hold a long lock on a big table (the garments table) while they run.

Reads the SQL each migration would run (as `sqlmigrate` prints it: the schema editor in collect
mode, nothing executed) and looks for what blocks reads or writes for as long as the table is big:

- CREATE INDEX without CONCURRENTLY (SHARE lock: writes wait for the whole build);
- a column type change (ACCESS EXCLUSIVE, and usually a rewrite of every row);
- SET NOT NULL, and a NOT NULL column added without a default (a full scan under ACCESS EXCLUSIVE);
- a FOREIGN KEY or CHECK constraint added without NOT VALID (validated by a scan under the lock),
  a UNIQUE or PRIMARY KEY constraint (an index built under ACCESS EXCLUSIVE);
- RunPython, which cannot be read as SQL at all.

What is done to a table the same migration creates is ignored (it is empty). A migration that must
do one of these anyway is accepted by a review: its name and the reason in REVIEWS_FILE, or a
`lock_review = "reason"` attribute on its Migration class.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

REVIEWS_FILE = Path(__file__).with_name("migration_lock_reviews.toml")
# The tables that are big in production: everything else is small enough to lock briefly.
WATCHED_TABLES = ("garments_garment",)

_NAME = r'(?:"(?P<{0}>[^"]+)"|(?P<{0}_bare>[\w.]+))'
_ALTER_TABLE = re.compile(r"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?" + _NAME.format("table"), re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^CREATE TABLE (?:IF NOT EXISTS )?" + _NAME.format("table"), re.IGNORECASE)
_CREATE_INDEX = re.compile(
    r"^CREATE (?:UNIQUE )?INDEX (?P<concurrently>CONCURRENTLY )?.*? ON (?:ONLY )?" + _NAME.format("table"),
    re.IGNORECASE | re.DOTALL,
)
_REFERENCES = re.compile(r"REFERENCES " + _NAME.format("table"), re.IGNORECASE)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ALTER COLUMN \S+ (?:SET DATA )?TYPE ", re.I), "a column type change (rewrites or scans the table)"),
    (re.compile(r"ALTER COLUMN \S+ SET NOT NULL", re.I), "SET NOT NULL (scans the whole table)"),
    (re.compile(r"(?:ADD CONSTRAINT \S+ FOREIGN KEY |ADD COLUMN .*\bREFERENCES )(?!.*NOT VALID)", re.I | re.S),
     "a FOREIGN KEY without NOT VALID"),
    (re.compile(r"ADD CONSTRAINT \S+ CHECK (?!.*NOT VALID)", re.I | re.S), "a CHECK constraint without NOT VALID"),
    (re.compile(r"ADD CONSTRAINT \S+ (?:UNIQUE|PRIMARY KEY) (?!USING INDEX)", re.I), "a UNIQUE or PRIMARY KEY "
     "constraint (builds its index under the lock)"),
    (re.compile(r"ADD COLUMN (?!.*\bDEFAULT\b).*\bNOT NULL\b", re.I | re.S), "a NOT NULL column without a default"),
    (re.compile(r"ADD COLUMN .*GENERATED ALWAYS AS .*STORED", re.I | re.S), "a stored generated column (rewrites)"),
)  # fmt: skip


def _table(match: re.Match[str]) -> str:
    return (match.group("table") or match.group("table_bare")).split(".")[-1]


@dataclass
class Finding:
    table: str
    problem: str
    statement: str

    def __str__(self) -> str:
        statement = " ".join(self.statement.split())
        return f"{self.problem} on {self.table}: {statement[:160]}{'...' if len(statement) > 160 else ''}"


@dataclass
class Result:
    name: str  # app_label.migration_name
    findings: list[Finding] = field(default_factory=list)
    review: str | None = None

    @property
    def needs_review(self) -> bool:
        return bool(self.findings) and not self.review


def statement_findings(statements: Iterable[str], watched: Iterable[str] = WATCHED_TABLES) -> list[Finding]:
    """What in these SQL statements (one migration's) takes a long lock on a watched table."""
    watched = set(watched)
    created: set[str] = set()
    findings = []
    for raw in statements:
        statement = raw.strip()
        if not statement or statement.startswith("--"):
            if "CANNOT BE WRITTEN AS SQL" in statement:  # RunPython: nothing to read
                findings.append(Finding("a table it may touch", "an operation that is not SQL (RunPython)", statement))
            continue
        if match := _CREATE_TABLE.match(statement):
            created.add(_table(match))
            continue
        if match := _CREATE_INDEX.match(statement):
            table = _table(match)
            if table in watched and table not in created and not match.group("concurrently"):
                findings.append(Finding(table, "CREATE INDEX without CONCURRENTLY", statement))
            continue
        match = _ALTER_TABLE.match(statement)
        if match is None:
            continue
        table = _table(match)
        if table in created:
            continue
        references = {_table(ref) for ref in _REFERENCES.finditer(statement)}
        for rule, problem in _RULES:
            if not rule.search(statement):
                continue
            if table in watched:
                findings.append(Finding(table, problem, statement))
            elif "FOREIGN KEY" in problem and references & watched:  # locks the referenced table too
                findings.append(Finding(sorted(references & watched)[0], problem, statement))
    return findings


def migration_sql(migration: Migration, state: ProjectState) -> list[str]:
    """The SQL `migration` would run from `state`, as sqlmigrate collects it (nothing is executed)."""
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        migration.apply(state.clone(), editor, collect_sql=True)
    return list(editor.collected_sql)


def load_reviews(path: Path = REVIEWS_FILE) -> dict[str, str]:
    with path.open("rb") as handle:
        reviews = tomllib.load(handle).get("reviewed", {})
    for name, reason in reviews.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{path.name}: {name} needs a reason")
    return dict(reviews)


def _own_app_labels() -> set[str]:
    root = Path(settings.BASE_DIR).resolve()
    return {
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(root) and "site-packages" not in Path(config.path).parts
    }


def check_migrations(
    *, reviews: dict[str, str] | None = None, watched: Iterable[str] = WATCHED_TABLES
) -> tuple[list[Result], list[str]]:
    """Every migration of our own apps with its findings and review; and review entries naming no migration."""
    reviews = load_reviews() if reviews is None else reviews
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    own = _own_app_labels()
    results = []
    for key in sorted(key for key in loader.disk_migrations if key[0] in own):
        migration = loader.graph.nodes[key]
        name = f"{key[0]}.{key[1]}"
        state = loader.project_state(key, at_end=False)
        findings = statement_findings(migration_sql(migration, state), watched)
        results.append(Result(name, findings, getattr(migration, "lock_review", None) or reviews.get(name)))
    known = {result.name for result in results}
    return results, sorted(set(reviews) - known)
