"""Every command of docs/deployment.md runs: the ```sh blocks, in order, as one bash script against a scratch
database at the previous release's schema, with gunicorn serving it under production settings.

Only the commands of NOT_HERE are not run, each for its reason; anything else in a block runs, so the guide
cannot grow a command nobody ran. A `sudo` command that is not listed fails the test."""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.servers import Gunicorn, free_port, manage, production_env
from tests.ops.postgres import pg_bin, scratch_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deployment.md"
NO_SYSTEMD = "no systemd here; tests/ops/test_deploy_files.py checks the units (systemd-analyze verify)"
# Command prefixes that cannot run in a test, and why. Keep it short: each must still occur in the guide.
NOT_HERE = {
    "set -a; . /etc/prethrift/prethrift.env": "the test provides the service's environment itself",
    "sudo systemctl ": NO_SYSTEMD,
    "sudo cp deploy/systemd/": NO_SYSTEMD,
    "git -C /srv/prethrift checkout ": "the code under test is this checkout",
    ".venv/bin/pip install ": "no downloads in tests; `make install` installed the requirements",
}


def guide_commands() -> list[str]:
    """The commands of every ```sh block, a backslash-continued line joined, comments and blanks left out."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```$", GUIDE.read_text(), flags=re.MULTILINE | re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                commands.append(pending.strip())
                pending = ""
        assert not pending, f"a block ends in a continuation: {pending}"
    return commands


def not_here(command: str) -> str | None:
    return next((reason for prefix, reason in NOT_HERE.items() if command.startswith(prefix)), None)


def script(commands: list[str]) -> str:
    lines = ["set -euo pipefail"]
    for command in commands:
        reason = not_here(command)
        if reason:
            lines.append(f"echo {shlex.quote(f'## not run ({reason}): {command}')}")
        else:
            lines += [f"echo {shlex.quote(f'## {command}')}", command]
    return "\n".join(lines) + "\n"


def previous_garments_migration() -> str:
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes("garments")
    (previous,) = graph.node_map[leaf].parents
    return str(previous.key[1])


def test_the_guide_lists_only_what_cannot_run_here() -> None:
    commands = guide_commands()
    assert len(commands) >= 20
    for prefix in NOT_HERE:
        assert any(command.startswith(prefix) for command in commands), f"{prefix!r} is no longer in the guide"
    unlisted = [command for command in commands if command.startswith("sudo") and not not_here(command)]
    assert not unlisted, f"list these in NOT_HERE with a reason, or make them runnable: {unlisted}"
    for heading in ("Pre-deploy checklist", "Back up", "Migrate", "Backfill", "Verify", "Monitor", "Roll back",
                    "Scaling out", "Security"):  # fmt: skip
        assert re.search(rf"^#+ .*{heading}", GUIDE.read_text(), flags=re.MULTILINE), heading


@pytest.mark.django_db
def test_every_command_of_the_guide_runs(tmp_path: Path, sample_dir: Path) -> None:
    # given: a database the previous release ran on, with garments, and gunicorn serving it
    previous = previous_garments_migration()
    binaries = pg_bin()
    with scratch_database() as database_url:
        port = free_port()
        backups = tmp_path / "backups"
        backups.mkdir()
        env = production_env(
            database_url=database_url,
            port=port,
            METRICS_TOKEN=secrets.token_urlsafe(24),
            DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
            PRETHRIFT_VAR_DIR=str(tmp_path / "var"),
            BACKUP_DIR=str(backups),
            PG_BIN=binaries,
            PATH=f"{binaries}:{Path(sys.executable).parent}:/usr/bin:/bin",
            PRETHRIFT_URL=f"http://127.0.0.1:{port}",
            PREVIOUS_GARMENTS_MIGRATION=previous,
            EMBEDDINGS_ENQUEUE_ON_SAVE="false",  # the guide's backfill computes them
            ONTOLOGY_EXTRACT_ON_SAVE="false",
        )
        env.pop("DJANGO_SECURE_SSL_REDIRECT")  # production's redirect, as deployed: the probes are exempt from it
        manage("migrate", "--no-input", env=env)
        manage("import_catalog", str(sample_dir / "styles.csv"), "--images", str(sample_dir / "images"),
               "--synthesize-missing", "--limit", "5", "--no-progress", env=env)  # fmt: skip
        manage("migrate", "garments", previous, env=env)
        guide = tmp_path / "guide.sh"
        guide.write_text(script(guide_commands()))

        # when
        with Gunicorn(env, tmp_path / "gunicorn.log") as server:
            done = subprocess.run(
                ["bash", str(guide)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            log = server.log()

    # then
    output = done.stdout + done.stderr
    print(output)  # what each command of the guide printed (pytest -s, or -rP)
    assert done.returncode == 0, f"{output[-6000:]}\n--- gunicorn ---\n{log[-3000:]}"
    assert output.count("## ") == len(guide_commands())
    assert '"database"' in output and "restored" in output  # /readyz's checks; restore.sh's summary
