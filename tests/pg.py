"""A real PostgreSQL server for the tests (and the load benchmark), started from Debian's binaries on a
free loopback port in a temp dir, and stopped at the end.

    with PostgresServer.start() as server:        # or the `postgres` fixture (session scope)
        url = server.create_database()            # a fresh, empty database: postgresql://…

initdb refuses to run as root: as root the cluster belongs to the `postgres` system user (made by the
Debian package) and its commands run as that user. Fixtures (registered in tests/conftest.py):
`postgres` (the server; skipped only when no PostgreSQL binaries are installed —
scripts/install_postgres.sh installs them) and `pg_url` (a new database per test).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def find_bindir() -> Path | None:
    """Debian's newest /usr/lib/postgresql/<v>/bin, else the directory of pg_ctl on PATH."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path, root: Path, port: int, user: str | None):
        self.bindir, self.root, self.port, self.user = bindir, root, port, user

    @classmethod
    def start(cls, bindir: Path | None = None, *, durable: bool = False) -> "PostgresServer":
        """initdb + pg_ctl start. `durable=False` (tests) turns fsync off: nothing here outlives the run."""
        bindir = bindir or find_bindir()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl)")
        root = Path(tempfile.mkdtemp(prefix="pz-pg-"))
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            pw = pwd.getpwnam(user)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        server = cls(bindir, root, free_port(), user)
        try:
            server._run("initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")
            opts = f"-p {server.port} -h 127.0.0.1 -k {root} -c max_connections=200"
            if not durable:
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            server._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(root / "data"),
                        "-l", str(root / "server.log"), "-o", opts)
        except BaseException:
            server._cleanup()
            raise
        return server

    def _run(self, program: str, *args: str) -> str:
        cmd = [str(self.bindir / program), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, timeout=120)
        if done.returncode:
            log = (self.root / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")
        return done.stdout

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        import psycopg
        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.root / "data"))
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres():
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/install_postgres.sh installs it; make test runs it)")
    server = PostgresServer.start(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """A new empty database on the test server."""
    return postgres.create_database()
