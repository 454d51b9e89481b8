"""deploy/scripts/backup.sh and restore.sh on the test's own database: a backup, a destructive change,
a restore, and every garment, vector and staff lock is back as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from garments.models import IMAGE_DIMENSIONS, TEXT_DIMENSIONS, Garment
from tests.factories import GarmentFactory
from tests.ops.postgres import run_script, script_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FINGERPRINT_SQL = """
SELECT id, sku, title, price::text, status, ontology_locked, updated_at,
       text_embedding_vec::text, image_embedding_vec::text, openai_text_embedding_vec::text
FROM garments_garment ORDER BY id
"""


def fingerprint() -> list[tuple[Any, ...]]:
    """Every garment's identity, listing, staff locks, update time and vectors (as PostgreSQL prints them)."""
    connection.close()  # a fresh session: a restore recreated the tables and the vector type
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL)
        return list(cursor.fetchall())


def vector(seed: int, dimensions: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32).tolist()


def catalogue() -> list[Garment]:
    garments: list[Garment] = [
        GarmentFactory.create(title=f"Backup jacket {index}", price=f"{10 + index}.50") for index in range(6)
    ]
    for index, garment in enumerate(garments):
        with_image = index % 2 == 1
        Garment.objects.filter(pk=garment.pk).update(
            text_embedding_vec=vector(index, TEXT_DIMENSIONS),
            text_embedding_model="test-text",
            text_embedding_computed_at=timezone.now(),
            image_embedding_vec=vector(100 + index, IMAGE_DIMENSIONS) if with_image else None,
            image_embedding_model="test-image" if with_image else "",
            image_embedding_computed_at=timezone.now() if with_image else None,
            ontology_locked=["primary_color", "category"] if index % 3 == 0 else [],
        )
    return garments


def test_restore_brings_back_every_garment_vector_and_lock(tmp_path: Path) -> None:
    # given: a catalogue with vectors and staff locks, backed up
    garments = catalogue()
    before = fingerprint()
    assert len(before) == 6 and all(row[7] for row in before)
    backup = run_script("backup.sh", str(tmp_path / "backups"), env=script_env())
    assert backup.returncode == 0, backup.stderr
    path = Path(backup.stdout.strip())
    assert path.parent == tmp_path / "backups" and path.name.startswith("prethrift-") and path.suffix == ".dump"
    assert path.stat().st_mode & 0o077 == 0  # users and API tokens: the owner's eyes only

    # when: garments are deleted, vectors and locks changed, and then the backup is restored
    Garment.objects.filter(pk__in=[garments[0].pk, garments[1].pk]).delete()
    Garment.objects.filter(pk=garments[2].pk).update(text_embedding_vec=vector(999, TEXT_DIMENSIONS))
    Garment.objects.filter(pk=garments[3].pk).update(ontology_locked=["brand"])
    assert fingerprint() != before
    restore = run_script("restore.sh", "--yes", str(path), env=script_env())

    # then
    assert restore.returncode == 0, restore.stderr
    assert "6 garments" in restore.stdout
    assert fingerprint() == before


def test_restore_refuses_without_confirmation(tmp_path: Path) -> None:
    catalogue()
    backup = run_script("backup.sh", env=script_env(BACKUP_DIR=str(tmp_path)))
    assert backup.returncode == 0, backup.stderr
    Garment.objects.all().delete()

    refused = run_script("restore.sh", backup.stdout.strip(), env=script_env())
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert fingerprint() == []

    confirmed = run_script("restore.sh", backup.stdout.strip(), env=script_env(CONFIRM="yes"))
    assert confirmed.returncode == 0, confirmed.stderr
    assert len(fingerprint()) == 6


def test_backup_fails_loudly_and_leaves_no_file(tmp_path: Path) -> None:
    catalogue()
    env = script_env()
    folder = tmp_path / "backups"
    unreachable = run_script("backup.sh", str(folder), env={**env, "DATABASE_URL": env["DATABASE_URL"] + "_missing"})
    assert unreachable.returncode != 0 and "pg_dump failed" in unreachable.stderr
    assert list(folder.iterdir()) == []
    nowhere = run_script("backup.sh", env=env)
    assert nowhere.returncode != 0 and "BACKUP_DIR" in nowhere.stderr


def test_restore_of_a_damaged_file_changes_nothing(tmp_path: Path) -> None:
    catalogue()
    backup = run_script("backup.sh", str(tmp_path), env=script_env())
    assert backup.returncode == 0, backup.stderr
    path = Path(backup.stdout.strip())
    before = fingerprint()
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    result = run_script("restore.sh", "--yes", str(damaged), env=script_env())

    assert result.returncode != 0
    assert fingerprint() == before


def test_pg_dump_matches_the_server() -> None:
    """The binaries the scripts are given are the server's major (the embedded 16 or the system's 15)."""
    env = script_env()
    version = subprocess.run([f"{env['PG_BIN']}/pg_dump", "--version"], capture_output=True, text=True, check=True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    assert f" {major}." in version.stdout


def test_a_password_in_the_url_never_reaches_a_command_line(tmp_path: Path) -> None:
    """Command lines are readable by every local user (ps): the scripts hand libpq the password in PGPASSWORD.
    The real binaries run behind a wrapper that records their arguments (trust authentication ignores it)."""
    catalogue()
    env = script_env()
    password = "pw-" + "%2F".join(["s3cret", "x"])  # percent-encoded, as URLs carry it
    scheme, rest = env["DATABASE_URL"].split("://", 1)
    user, host = rest.split("@", 1)
    watched = tmp_path / "bin"
    watched.mkdir()
    calls = tmp_path / "calls.txt"
    for tool in ("pg_dump", "pg_restore", "psql"):
        wrapper = watched / tool
        wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {env["PG_BIN"]}/{tool} "$@"\n')
        wrapper.chmod(0o755)
    env.update(DATABASE_URL=f"{scheme}://{user}:{password}@{host}", PG_BIN=str(watched))

    backup = run_script("backup.sh", str(tmp_path / "backups"), env=env)
    assert backup.returncode == 0, backup.stderr
    restore = run_script("restore.sh", "--yes", backup.stdout.strip(), env=env)
    assert restore.returncode == 0, restore.stderr

    recorded = calls.read_text()
    assert recorded.count("\n") >= 5  # pg_dump, pg_restore --list twice, psql, pg_restore: all watched
    assert "s3cret" not in recorded
