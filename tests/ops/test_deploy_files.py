"""deploy/Procfile, deploy/systemd/*.service and deploy/celery/*.sh: every process names an entry point that
exists, runs production settings unless told otherwise, and keeps processes x torch threads within the cores."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.servers import free_port, production_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL_ROOT = "/srv/prethrift"  # where the units expect the checkout (docs/deployment.md#processes)
VENV_BIN = Path(sys.executable).parent
PROCESSES = ("web", "worker", "beat")
HARDENING = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "PrivateTmp": "true", "ProtectHome": "true"}


def procfile() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            assert name not in entries, f"{name} twice in the Procfile"
            entries[name.strip()] = shlex.split(command)
    return entries


def unit(kind: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> every value (systemd allows a key many times, configparser does not)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / "systemd" / f"prethrift-{kind}.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{raw!r} before any section"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def environment(service: dict[str, list[str]]) -> dict[str, str]:
    pairs = [pair for line in service.get("Environment", []) for pair in shlex.split(line)]
    return dict(pair.split("=", 1) for pair in pairs)


def deploy_env(**extra: str) -> dict[str, str]:
    """Production settings' required variables (nothing is connected to), the venv first on PATH."""
    env = production_env(database_url="postgres://postgres@127.0.0.1:1/unused", port=free_port(), **extra)
    env.pop("DJANGO_SETTINGS_MODULE")  # the scripts must choose production themselves
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", PRELOAD_QUERY_ENCODERS="false")
    shutil.rmtree(env.pop("DJANGO_STATIC_ROOT"), ignore_errors=True)
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_procfile_names_web_worker_and_beat() -> None:
    entries = procfile()
    assert set(entries) == set(PROCESSES)
    assert entries["web"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "prethrift.wsgi"]
    assert (ROOT / "deploy" / "gunicorn.conf.py").is_file() and importlib.util.find_spec("prethrift.wsgi")
    for name in ("worker", "beat"):
        script = ROOT / entries[name][0]
        assert script.is_file() and os.access(script, os.X_OK), script


@pytest.mark.slow
def test_gunicorn_accepts_the_web_command_with_production_settings() -> None:
    gunicorn = str(VENV_BIN / "gunicorn")
    done = run([gunicorn, "--check-config", *procfile()["web"][1:]], deploy_env())
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_celery_scripts_run_production_settings_and_celery_accepts_them(name: str) -> None:
    script = str(ROOT / procfile()[name][0])
    printed = run([script], deploy_env(PRETHRIFT_PRINT_ONLY="1"))
    assert printed.returncode == 0, printed.stderr
    assert "DJANGO_SETTINGS_MODULE=prethrift.settings.production" in printed.stdout
    assert f"celery -A prethrift {name} " in printed.stdout
    helped = run([script, "--help"], deploy_env())  # celery loads the app and parses the options, then exits
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "Usage:" in helped.stdout


@pytest.mark.parametrize(("cores", "concurrency", "threads"), [(2, 4, 1), (8, 4, 2), (8, 3, 2), (16, 4, 4), (4, 1, 4)])
def test_worker_threads_times_processes_fit_the_cores(cores: int, concurrency: int, threads: int) -> None:
    env = deploy_env(PRETHRIFT_PRINT_ONLY="1", WORKER_CORES=str(cores), MAX_CONCURRENT_EMBEDDINGS=str(concurrency))
    env.pop("EMBEDDINGS_TORCH_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    printed = run([str(DEPLOY / "celery" / "worker.sh")], env)
    assert printed.returncode == 0, printed.stderr
    assert f"EMBEDDINGS_TORCH_THREADS={threads} OMP_NUM_THREADS={threads}" in printed.stdout
    assert f"--concurrency={concurrency}" in printed.stdout
    assert concurrency * threads <= cores or threads == 1  # more processes than cores: one thread each, said so
    assert ("one torch thread each" in printed.stderr) == (concurrency > cores)


def test_worker_refuses_a_concurrency_that_is_not_a_number() -> None:
    printed = run([str(DEPLOY / "celery" / "worker.sh")], deploy_env(MAX_CONCURRENT_EMBEDDINGS="four"))
    assert printed.returncode == 2 and "whole numbers" in printed.stderr


@pytest.mark.parametrize("kind", PROCESSES)
def test_units_run_the_procfile_command_hardened_with_production_settings(kind: str) -> None:
    sections = unit(kind)
    service = sections["Service"]
    (exec_start,) = service["ExecStart"]
    command = shlex.split(exec_start)
    assert command[0].startswith(f"{INSTALL_ROOT}/")
    relative = command[0].removeprefix(f"{INSTALL_ROOT}/")
    if relative.startswith(".venv/bin/"):
        assert (VENV_BIN / Path(relative).name).is_file()
        assert [Path(relative).name, *command[1:]] == procfile()[kind]
    else:
        assert (ROOT / relative).is_file() and [relative, *command[1:]] == procfile()[kind]
    assert service["WorkingDirectory"] == [INSTALL_ROOT]
    assert environment(service)["DJANGO_SETTINGS_MODULE"] == "prethrift.settings.production"
    assert service["EnvironmentFile"] and service["Restart"] == ["on-failure"]
    assert {key: service.get(key, [""])[-1] for key in HARDENING} == HARDENING
    assert service["User"] != ["root"] and sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """systemd-analyze verify on copies pointed at this checkout: any warning (an unknown key, a bad value) fails."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package has it)")
    gunicorn = VENV_BIN / "gunicorn"
    for kind in PROCESSES:
        text = (DEPLOY / "systemd" / f"prethrift-{kind}.service").read_text()
        text = text.replace(f"{INSTALL_ROOT}/.venv/bin/gunicorn", str(gunicorn)).replace(INSTALL_ROOT, str(ROOT))
        (tmp_path / f"prethrift-{kind}.service").write_text(text)
    done = subprocess.run(
        [analyze, "verify", *sorted(str(path) for path in tmp_path.glob("*.service"))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "Failed to" in done.stderr and "manager" in done.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr
