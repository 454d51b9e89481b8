"""The embedded PostgreSQL: started on demand, shared by concurrent processes, stoppable, restartable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from prethrift import embedded_db

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def pgdata(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("embedded") / "pgdata"
    yield folder
    embedded_db.stop(folder)


def test_start_on_an_empty_folder_gives_postgres_with_pgvector(pgdata):
    # when
    server = embedded_db.ensure_running(pgdata)
    # then
    assert (pgdata / "PG_VERSION").read_text().strip() == "16"
    embedded_db.ensure_database(server, "shop")
    with psycopg.connect(server.conninfo("shop"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        distance = conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone()
        maintenance = conn.execute("SHOW maintenance_work_mem").fetchone()
    assert version == ("0.6.2",)
    assert distance == (1.0,)
    assert maintenance == ("256MB",)
    # a second call finds the running server instead of starting another
    assert embedded_db.ensure_running(pgdata).pid == server.pid


def test_stop_then_the_next_use_starts_it_again(pgdata):
    first = embedded_db.ensure_running(pgdata)
    assert embedded_db.stop(pgdata) is True
    assert embedded_db.status(pgdata) is None
    assert embedded_db.stop(pgdata) is False
    second = embedded_db.ensure_running(pgdata)
    assert second.pid != first.pid
    with psycopg.connect(second.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_concurrent_processes_share_one_server(pgdata):
    code = (
        "import json, sys; from pathlib import Path; from prethrift import embedded_db; "
        "s = embedded_db.ensure_running(Path(sys.argv[1])); embedded_db.ensure_database(s, 'shared'); "
        "print(json.dumps({'pid': s.pid}))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(pgdata)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    pids = set()
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        pids.add(json.loads(out.strip().splitlines()[-1])["pid"])
    assert len(pids) == 1
    running = embedded_db.status(pgdata)
    assert running is not None
    assert running.pid == pids.pop()


def test_django_processes_start_it_on_first_connection_and_commands_manage_it(pgdata):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PRETHRIFT_PGDATA=str(pgdata), DJANGO_SETTINGS_MODULE="prethrift.settings.local")

    def manage(*args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "not running" in manage("embedded_db", "status")
    manage("migrate", "--no-input", "garments")  # the first connection starts the server
    status = manage("embedded_db", "status")
    assert "running: pid" in status
    assert "pgvector 0.6.2" in status
    assert "iterative scans no" in status
    assert "stopped" in manage("embedded_db", "stop")
    assert "not running" in manage("embedded_db", "status")
