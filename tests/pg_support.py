"""A throwaway PostgreSQL server for the tests: initdb in a temporary folder owned by `postgres`, pg_ctl on
a free loopback port, one fresh database per test, stopped at the end of the session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PASSWORD = "s3cret-pw-for-tests"  # the tests check it never shows
USER = "modelwise"


def _binaries() -> str | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return str(Path(found).resolve().parent)
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


def _runuser() -> str | None:
    """runuser, on PATH or in the sbin folders a PATH without them leaves out."""
    return shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """`start()` returns None on success, else the reason it could not be had (one line)."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port = 0
        self.bin: str | None = None
        self.running = False

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as the `postgres` user
            prefix = [_runuser() or "runuser", "-u", "postgres", "--"]
        # The server stands for another machine: it runs on the real clock even when the tests run
        # under libfaketime (every timestamp in the ledger comes from its clients anyway).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKETIME", "LD_PRELOAD", "DYLD_"))}
        return subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, timeout=timeout, cwd=self.folder, env=env
        )

    def start(self, durable: bool = False) -> str | None:
        """`durable`: fsync and synchronous commit on, as a real server runs (the benchmark); the tests
        run without them (a crash test kills clients, never the server)."""
        self.bin = _binaries()
        if self.bin is None:
            return "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
        if os.geteuid() == 0 and _runuser() is None:
            return "runuser is not installed, so PostgreSQL cannot run as the postgres user (util-linux)"
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            return "psycopg is not installed"
        self.folder = Path(tempfile.mkdtemp(prefix="modelwise-pg-"))
        if os.geteuid() == 0:
            try:
                shutil.chown(self.folder, "postgres", "postgres")
            except (LookupError, OSError) as exc:
                return f"cannot hand a folder to the postgres user ({exc})"
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        r = self._run(
            os.path.join(self.bin, "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
            "-A", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C",
        )
        if r.returncode != 0:
            return f"initdb failed: {' '.join(r.stderr.split())[:200]}"
        self.port = _free_port()
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
            "-c max_connections=400 -c shared_buffers=32MB"
            + ("" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        )
        r = self._run(
            os.path.join(self.bin, "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"), "-w",
            "-t", "60", "-o", opts, "start",
        )
        if r.returncode != 0:
            return f"pg_ctl start failed: {' '.join((r.stderr or r.stdout).split())[:200]}"
        self.running = True
        return None

    def url(self, database: str = "postgres", password: bool = True) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url(), autocommit=True)

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL (with the password)."""
        name = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.running and self.bin and self.folder:
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                      "-w", "stop")
            self.running = False
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class _QmarkConn:
    """A psycopg connection that takes the tests' SQLite-style SQL (`?` placeholders, IFNULL)."""

    def __init__(self, url: str):
        import psycopg

        self.raw = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params: tuple = ()):
        sql = sql.replace("IFNULL(", "COALESCE(").replace("%", "%%").replace("?", "%s")
        return self.raw.execute(sql, params or None)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Backend:
    """A ledger backend a test runs against: `location` is its fresh ledger (a file path or a URL),
    `new(name)` another fresh one, `connect(location)` a connection for checking rows with plain SQL."""

    def __init__(self, kind: str, folder: Path, server: PgServer | None = None):
        self.kind = kind
        self.folder = folder
        self.server = server
        self.location = self.new("ledger")

    def new(self, name: str) -> str:
        if self.kind == "sqlite":
            return str(self.folder / f"{name}.sqlite3")
        assert self.server is not None
        return self.server.new_database()

    def connect(self, location: str | None = None):
        location = location or self.location
        if self.kind == "sqlite":
            import sqlite3

            return sqlite3.connect(location)
        return _QmarkConn(location)

    def integrity_ok(self, conn) -> bool:
        if self.kind == "sqlite":
            return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return True  # the server keeps its pages whole; nothing comparable to check from a client

    def __str__(self) -> str:
        return self.kind
