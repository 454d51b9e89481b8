"""A throwaway PostgreSQL primary with streaming replicas, from the machine's own PostgreSQL binaries.

For tests and benchmarks of read replicas: every server listens on a free loopback port, keeps its
data in one temporary folder, and is stopped and deleted by `stop()` (or leaving the `with` block),
whatever happened before. Postgres refuses to run as root, so as root the servers run as the OS user
`postgres`, which owns the folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60  # pg_ctl -w: a standby waits for its first consistent state
# What replication needs, and nothing a caller might want to measure: callers add their own settings.
REPLICATION_SETTINGS = {"wal_level": "replica", "max_wal_senders": "4", "hot_standby": "on"}
HBA = """\
local all all trust
host replication all 127.0.0.1/32 trust
host all all 127.0.0.1/32 trust
"""


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (the major of pg_lsclusters first), or None."""
    majors: list[str] = []
    lsclusters = shutil.which("pg_lsclusters")  # Debian's cluster tool: the major the machine runs
    if lsclusters:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            listing = subprocess.run([lsclusters, "-h"], capture_output=True, text=True, timeout=10, check=True)  # noqa: S603
            majors = [line.split()[0] for line in listing.stdout.splitlines() if line.split()]
    if POSTGRES_ROOT.is_dir():
        majors += [folder.name for folder in POSTGRES_ROOT.iterdir()]
    for major in sorted(set(majors), key=lambda name: int(name) if name.isdigit() else -1, reverse=True):
        bindir = POSTGRES_ROOT / major / "bin"
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_basebackup", "pg_config")):
            return bindir
    return None


def extension_dir(bindir: Path) -> Path:
    """Where that PostgreSQL looks for extensions (`pg_config --sharedir`/extension)."""
    command = [str(bindir / "pg_config"), "--sharedir"]
    sharedir = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # noqa: S603
    return Path(sharedir) / "extension"


def unavailable_reason(bindir: Path | None = None, *, extensions: Sequence[str] = ("vector",)) -> str | None:
    """Why a cluster with `extensions` cannot run here, or None when it can."""
    bindir = bindir or find_bindir()
    if bindir is None:
        return f"no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) under {POSTGRES_ROOT}/<major>/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no OS user {SERVER_USER!r} to run the servers as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    folder = extension_dir(bindir)
    for name in extensions:
        if not (folder / f"{name}.control").is_file():
            return f"the {name} extension is not installed in {folder} (deploy/scripts/install-pgvector.sh installs it)"
    return None


def free_port() -> int:
    """A loopback port nobody listens on now (another process could take it before us: rare, and loud)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def set_replay_paused(url: str, *, paused: bool) -> None:
    """Pause or resume WAL replay on the standby at `url`: it keeps receiving WAL, and falls behind."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


class PgCluster:
    """A primary and any number of streaming hot standbys on loopback ports, in one temporary folder."""

    def __init__(self, *, bindir: Path | None = None, settings: Mapping[str, str] | None = None,
                 dbname: str = "postgres") -> None:  # fmt: skip
        """`settings` go into every server's postgresql.conf (e.g. fsync=off for a quick test)."""
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL binaries")
        self.bindir = found
        self.settings = dict(settings or {})
        self.dbname = dbname
        self.root = Path(tempfile.mkdtemp(prefix="prethrift-pgcluster-"))
        self._as_server_user = os.geteuid() == 0
        if self._as_server_user:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.primary_port: int | None = None
        self.replica_ports: list[int] = []
        self._running: list[Path] = []  # data folders of started servers, in start order

    # --- life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start_primary(self) -> str:
        """initdb and start the primary; its URL."""
        if self.primary_port is not None:
            raise RuntimeError("the primary already runs")
        data = self.root / "primary"
        self._run("initdb", "-D", str(data), "-U", SERVER_USER, "--auth=trust", "--encoding=UTF8", "--locale=C",
                  "--no-sync")  # fmt: skip
        (data / "pg_hba.conf").write_text(HBA)
        port = free_port()
        self._configure(data, {**REPLICATION_SETTINGS, **self.settings}, port)
        self._start(data)
        self.primary_port = port
        return self.primary_url

    def create_database(self, name: str) -> str:
        """Create `name` on the primary (replicas receive it) and make it the database of every URL."""
        with psycopg.connect(self._url(self._primary(), "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.dbname = name
        return self.primary_url

    def add_replica(self) -> str:
        """A hot standby streaming from the primary (pg_basebackup -R -X stream); its URL."""
        index = len(self.replica_ports)
        data = self.root / f"replica_{index}"
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self._primary()), "-U", SERVER_USER, "-D", str(data),
                  "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")  # fmt: skip
        port = free_port()
        self._configure(data, {}, port)  # the backup brought the primary's postgresql.conf; only the port differs
        self._start(data)
        self.replica_ports.append(port)
        return self.replica_urls[index]

    def stop(self) -> None:
        """Stop every server (replicas first) and delete the folder; safe to call twice or after a failure."""
        for data in reversed(self._running):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        self._running.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- addresses and replication control ---------------------------------------------------------

    @property
    def primary_url(self) -> str:
        return self._url(self._primary(), self.dbname)

    @property
    def replica_urls(self) -> list[str]:
        return [self._url(port, self.dbname) for port in self.replica_ports]

    def pause_replay(self, index: int = 0) -> None:
        set_replay_paused(self.replica_urls[index], paused=True)

    def resume_replay(self, index: int = 0) -> None:
        set_replay_paused(self.replica_urls[index], paused=False)

    def log(self, name: str = "primary") -> str:
        """The server log of `name` (primary, replica_0, ...), for a failure message."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- internals ---------------------------------------------------------------------------------

    def _primary(self) -> int:
        if self.primary_port is None:
            raise RuntimeError("start_primary() first")
        return self.primary_port

    @staticmethod
    def _url(port: int, dbname: str) -> str:
        return f"postgres://{SERVER_USER}@127.0.0.1:{port}/{dbname}"

    def _configure(self, data: Path, settings: Mapping[str, str], port: int) -> None:
        lines = {**settings, "listen_addresses": "127.0.0.1", "port": str(port)}
        lines["unix_socket_directories"] = str(self.root)  # not /var/run/postgresql: the machine's own server's
        quoted = "".join(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in lines.items())
        with (data / "postgresql.conf").open("a") as conf:  # later lines win over the copied ones
            conf.write("\n# bench/pgcluster.py\n" + quoted)

    def _start(self, data: Path) -> None:
        log = self.root / f"{data.name}.log"
        self._running.append(data)  # before starting: stop() must also try a server whose start failed half-way
        try:
            self._run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_SECONDS), "start")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{data.name}.log:\n{self.log(data.name)[-4000:]}") from exc

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_server_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        # cwd: the server user may not be allowed into the caller's working folder.
        timeout = START_TIMEOUT_SECONDS + 30
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout)  # noqa: S603
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} exited with {done.returncode}: {(done.stderr or done.stdout).strip()}")
        return done
