"""The SQLite ledger: WAL mode, admission inside BEGIN IMMEDIATE, settlement, roll-ups (reports: reader.py).

One connection per thread. Every write is one short IMMEDIATE transaction, so any number of processes
can share the file and the budget check and the reservation can never interleave."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelwise.core.errors import BadInput, BadLedger, LedgerError, ModelwiseError, UnknownDecision
from modelwise.ledger import MakeSettlement, NewDecision
from modelwise.ledger.connection import Connection
from modelwise.ledger.migrations import LATEST, MIGRATIONS, VERSIONS
from modelwise.ledger.reader import _DECISION_COLUMNS, _OUTCOME_JOIN, LedgerReader

_SYNC = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}

APPLICATION_ID = 0x4D574C47  # 'MWLG' in the file header (PRAGMA application_id): a modelwise ledger
_OWN_TABLES = frozenset({"schema_migrations", "decisions", "outcomes", "rollup", "alerts"})
_SIDE_FILES = ("-wal", "-shm", "-journal")
# how many committed decisions a ledger keeps for their settlement (about 3 MB at ~2 KB of detail each)
_COMMITTED_KEPT = 1536


class _Batch:
    """What one `run_batch` transaction knows of its own writes: each day's spend by tier once read
    (kept up to date by its admissions and settlements), the outcomes version once read (dropped when
    it records an outcome), and the decisions it admitted, as read back. `conn`: the connection the
    batch runs on when it is not the thread's own (`SqliteLedger.start_batch`)."""

    __slots__ = ("spent", "version", "admitted", "conn")

    def __init__(self, conn: sqlite3.Connection | None = None) -> None:
        self.conn = conn
        self.reset()

    def reset(self) -> None:
        self.spent: dict[str, dict[str, float]] = {}
        self.version: int | None = None
        self.admitted: list[dict[str, Any]] = []

    def forget(self, admitted: int) -> None:
        """A job was rolled back: what it wrote is gone, and the spend is read again."""
        self.spent.clear()
        self.version = None
        del self.admitted[admitted:]


def _changes(conn: Any) -> int:
    """How many rows the connection's statements have changed since it opened (SQLite's count)."""
    return conn.total_changes


class _Unguarded(Exception):
    """A job of a batch run without savepoints failed after writing: the batch is rolled back and run
    again with a savepoint per job, so that only that job's writes are undone."""


def _as_read(rec: NewDecision, detail: str) -> dict[str, Any]:
    """The decision `rec` as `SELECT _DECISION_COLUMNS ... LEFT JOIN outcomes` reads it back before it
    has an outcome (the column types as SQLite returns them)."""
    return {
        "id": rec.id, "request_id": rec.request_id, "ts": rec.ts, "ts_unix": float(rec.ts_unix),
        "day": rec.day, "task_type": rec.task_type, "tier": rec.tier, "agent": rec.agent,
        "model_id": rec.model_id, "model_name": rec.model_name, "status": rec.status,
        "reserved": float(rec.reserved), "estimated_cost": float(rec.estimated_cost),
        "input_tokens": int(rec.input_tokens), "output_tokens": int(rec.output_tokens),
        "desc_chars": int(rec.desc_chars), "budget": float(rec.budget),
        "score": None if rec.score is None else float(rec.score), "description": rec.description,
        "detail": detail, "outcome": None, "actual_cost": None, "latency_ms": None,
        "actual_input_tokens": None, "actual_output_tokens": None, "outcome_ts": None, "corrected_ts": None,
    }


def _identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path` now, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _remove_sides(path: str, sides: Mapping[str, tuple[int, int] | None]) -> None:
    """Remove the -wal and -shm a connection saw at `path` when it opened, if they are still those."""
    for suffix, ident in sides.items():
        if ident is not None and _identity(path + suffix) == ident:
            with contextlib.suppress(OSError):
                os.remove(path + suffix)


def _make_private_folder(folder: Path) -> None:
    """Create `folder` and any missing parent as 0700 (whatever the umask); existing folders are left
    as they are."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


def _tighten(path: str) -> None:
    """Make an existing regular file private to its owner (drop group and other bits)."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError:
        pass  # gone, or not ours to change


# -- a SQLite file on a network share: its locks and WAL's shared memory do not work there -------------
NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ncpfs",
    "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "fuse.rclone", "davfs",
    "fuse.davfs2", "fuse.s3fs", "fuse.gcsfuse", "virtiofs",
})
_warned: set[str] = set()


def _unescape(field: str) -> str:
    """/proc/mounts writes a space, tab, newline and backslash in a path as octal escapes."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def filesystem_type(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The type of the filesystem that holds `path` (the longest mount point containing its folder), or
    None when it cannot be told."""
    folder = os.path.dirname(os.path.realpath(path)) or "/"
    try:
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best, kind = -1, None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = _unescape(parts[1])
        inside = folder == point or folder.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def network_filesystem(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The network filesystem type `path` is on, or None when it is on a local one."""
    kind = filesystem_type(path, mounts)
    return kind if kind is not None and kind.lower() in NETWORK_TYPES else None


def warn_if_network(path: str, mounts: str = "/proc/mounts") -> bool:
    """One line on stderr (once per path and process) when the SQLite ledger sits on a network share."""
    if path in ("", ":memory:") or path in _warned:
        return False
    kind = network_filesystem(path, mounts)
    if kind is None:
        return False
    _warned.add(path)
    print(
        f"modelwise: warning: ledger {path} is on a network filesystem ({kind}); SQLite's locking does not "
        "work there and machines sharing it can overspend or corrupt it: use a PostgreSQL ledger "
        "(ledger = \"postgresql://...\")",
        file=sys.stderr,
    )
    return True


def ledger_error(path: str, exc: sqlite3.Error) -> ModelwiseError:
    """The one-line typed error, naming the file, for what SQLite said about the ledger at `path`."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = " ".join(str(exc).split())
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return LedgerError(f"ledger {path}: the disk is full ({text}); nothing more can be recorded")
    if name.startswith("SQLITE_NOTADB") or "not a database" in text:
        return BadLedger(f"ledger {path} is not a modelwise ledger ({text})")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return BadLedger(f"ledger {path} is damaged ({text}); move it aside and restore a backup")
    return LedgerError(f"ledger {path}: {text}")


def _file_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn SQLite's errors about the file (not a database, damaged, disk full, I/O) raised by a public
    ledger method into `ledger_error`; constraint and programming errors pass through."""
    kinds = (sqlite3.DatabaseError, sqlite3.OperationalError)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(self: SqliteLedger, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(self, *args, **kwargs)
            except kinds as exc:
                if type(exc) not in kinds:
                    raise
                raise ledger_error(self.path, exc) from None

        return gen

    @functools.wraps(fn)
    def call(self: SqliteLedger, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except kinds as exc:
            if type(exc) not in kinds:
                raise
            raise ledger_error(self.path, exc) from None

    return call


def _dumps(obj: Any) -> str:
    """Compact JSON. orjson when the process has loaded it (the HTTP service and the console do: a route
    answer encodes in ~4 us instead of ~50 us); a one-shot CLI process uses the stdlib's encoder rather
    than pay ~3 ms to import orjson for one answer. Both write the same values; whatever the stdlib
    would refuse or write differently (NaN, Infinity, a lone surrogate) goes to orjson as before."""
    loaded = sys.modules.get("orjson")
    if loaded is not None:
        return loaded.dumps(obj).decode()
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        if not text.isascii():
            text.encode("utf-8")  # raises on a lone surrogate, which orjson refuses
        return text
    except (ValueError, TypeError):
        import orjson

        return orjson.dumps(obj).decode()


def _enable_wal(conn: sqlite3.Connection, deadline_s: float = 60.0) -> None:
    """Switch a connection's database to WAL. Several processes opening a new ledger at once race for
    the exclusive lock this needs, and SQLite answers SQLITE_BUSY at once (the busy handler is not
    called on that path), so retry with a short backoff until one of them has switched it."""
    import time

    deadline = time.monotonic() + deadline_s
    pause = 0.002
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def peek_zone(path: str) -> str | None:
    """The ledger's recorded zone, opened read-only (no WAL switch, no migration)."""
    if not Path(path).is_file():
        return None
    try:
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


class SqliteLedger(LedgerReader):
    """The default ledger backend: the file, its connections and schema, and the writes (the reports
    are `LedgerReader`'s)."""

    # whether a settlement may skip reading back a decision a batch committed (`_settle_here`): it
    # relies on a failed INSERT leaving the transaction usable, as SQLite's does
    _keeps_committed = True
    # whether a batch runs its jobs without savepoints until one fails after writing (`run_batch`):
    # it relies on the connection's count of changed rows
    _lazy_savepoints = True

    def __init__(self, path: str, synchronous: str = "full", zone: str = "UTC"):
        """`zone`: the time zone a new ledger records as its budget day's (an existing ledger keeps
        its own; read it from `self.zone`)."""
        self.path = path
        self._memory = path in (":memory:", "")
        self._sync = _SYNC.get(synchronous, "FULL")
        self._local = threading.local()
        # decisions a batch committed, as `_settle_here` would read them back (no outcome yet): their
        # settlement skips the read. A decision row never changes once written, and the outcome's
        # primary key refuses a second outcome, so a stale entry cannot settle anything twice.
        self._committed: dict[str, dict[str, Any]] = {}
        self._all: list[sqlite3.Connection] = []
        self._batch_conn: _BatchConnection | None = None  # start_batch's (see `_batch_connection`)
        self._lock = threading.Lock()
        self._new_zone = zone
        try:
            self.zone: str = self._read_zone(self._conn())
        except sqlite3.Error as exc:
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise
            raise ledger_error(path, exc) from None

    # -- connections -------------------------------------------------------------------------------
    #
    # Each connection remembers the identity (st_dev, st_ino) of the file it opened. When the file at
    # the path is another one (deleted and recreated, replaced by a rename, gone), this thread's
    # connection is dropped before its next use and a new one opens (and migrates) whatever is at the
    # path now; a write checks again inside its transaction, so it never commits to a file that is no
    # longer the ledger.

    def _conn(self) -> sqlite3.Connection:
        state = getattr(self._local, "batch", None)
        if state is not None and state.conn is not None:  # inside `start_batch`'s jobs
            return state.conn
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if self._memory or conn.in_transaction or _identity(self.path) == self._local.identity:
                return conn
            self._drop_moved()
        return self._open()

    def _drop_moved(self) -> None:
        """Close this thread's connection to a file that is no longer at the path, after removing the
        -wal and -shm it left there: they belong to that file, and SQLite would read them as the new
        file's. (SQLite itself neither checkpoints nor deletes anything when closing a moved file.)"""
        self._forget_file(getattr(self._local, "sides", {}))
        self.release()

    def _forget_file(self, sides: Mapping[str, tuple[int, int] | None]) -> None:
        """A connection's file is no longer at the path: remove the -wal and -shm it saw there when it
        opened (if they are still those), and forget the decisions kept, which were written to it."""
        _remove_sides(self.path, sides)
        with self._lock:
            self._committed.clear()

    def _moved(self) -> bool:
        """Whether the file at the path is no longer the one this thread's connection opened."""
        return not self._memory and _identity(self.path) != getattr(self._local, "identity", None)

    def _open(self) -> sqlite3.Connection:
        conn, before = self._connect()
        self._local.conn = conn
        self._local.identity = before
        self._local.sides = self._sides()
        with self._lock:
            self._all.append(conn)
        return conn

    def _sides(self) -> dict[str, tuple[int, int] | None]:
        return {} if self._memory else {s: _identity(self.path + s) for s in ("-wal", "-shm")}

    def _batch_connection(self) -> sqlite3.Connection | None:
        """The connection `start_batch` runs on: its own, opened on first use (again after the file was
        replaced), which waits for no lock; None for a ledger in memory (another connection would be
        another database)."""
        if self._memory:
            return None
        opened = self._batch_conn
        if opened is None or opened.identity != _identity(self.path):
            if opened is not None:
                self._batch_conn = None
                self._forget_file(opened.sides)
                opened.close()
            conn, before = self._connect()
            conn.execute("PRAGMA busy_timeout = 0")
            # its COMMIT does not wait for the disk: `finish_batch` syncs the WAL itself once the write
            # lock is let go (synchronous NORMAL: the frames are written, not synced, at COMMIT)
            conn.execute("PRAGMA synchronous = NORMAL")
            opened = self._batch_conn = _BatchConnection(conn, before, self._sides(), self.path + "-wal")
        return opened.conn

    def _batch_moved(self) -> bool:
        opened = self._batch_conn
        return opened is None or _identity(self.path) != opened.identity

    def _connect(self) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
        """A new connection to the file at the path, checked, in WAL mode and migrated, and its identity."""
        for _ in range(5):
            before = None if self._memory else self._prepare_file()
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout = 60000")
                app_id = 0 if self._memory else self._check(conn)
                if not self._memory:
                    for p in (self.path, *(self.path + s for s in _SIDE_FILES)):
                        _tighten(p)
                _enable_wal(conn)
                conn.execute(f"PRAGMA synchronous = {self._sync}")
                conn.execute("PRAGMA foreign_keys = ON")
                self._migrate(conn)
                self._mark(conn, app_id)
            except BaseException:
                conn.close()
                raise
            if self._memory or _identity(self.path) == before:
                break
            conn.close()  # replaced while it was being opened: open what is there now
        else:
            raise LedgerError(f"ledger {self.path} keeps being replaced; cannot open it")
        return conn, before

    def _prepare_file(self) -> tuple[int, int] | None:
        """Create the ledger's folder (0700) and an empty ledger file (0600) if missing; refuse a folder.
        Returns the file's identity."""
        path = Path(self.path)
        if path.is_dir():
            raise BadLedger(f"ledger {self.path} is a folder; give a file name")
        try:
            _make_private_folder(path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:  # a parent that is a file, no permission, a read-only file system
            raise BadLedger(f"ledger {self.path}: cannot create it ({exc.strerror or exc})") from None
        else:
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        return _identity(self.path)

    def _check(self, conn: sqlite3.Connection) -> int:
        """Refuse, without writing anything, a file that is not an empty database or a modelwise ledger
        of a schema this version knows. Returns its application_id."""
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                r[0]
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("sqlite_")
            }
        except sqlite3.DatabaseError as exc:
            raise ledger_error(self.path, exc) from None
        ours = app_id == APPLICATION_ID or (app_id == 0 and _OWN_TABLES <= tables)
        empty = app_id == 0 and version == 0 and not tables
        if not (ours or empty):
            what = (
                f"application_id {app_id:#x}" if app_id
                else f"tables {', '.join(sorted(tables)[:5])}" if tables
                else f"user_version {version}"
            )
            raise BadLedger(
                f"{self.path} is another program's SQLite file ({what}), not a modelwise ledger; "
                "it was left untouched"
            )
        if version > LATEST:
            raise BadLedger(
                f"ledger {self.path} has schema {version}, this modelwise knows up to {LATEST}; "
                "upgrade modelwise"
            )
        return app_id

    @staticmethod
    def _mark(conn: sqlite3.Connection, app_id: int) -> None:
        """Write modelwise's application_id into the header of a ledger that does not have it yet (a
        new one, or one made by an older version)."""
        if app_id == APPLICATION_ID or conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection and let go of the others: each closes when its last reference
        goes, at once for an idle one, after its statement for one another thread is running. (Closing
        a connection another thread is using frees its statements under it: SQLite then crashes the
        process; a console's worker reading the ledger as the console quits did.)"""
        own = self._local.__dict__.get("conn")
        with self._lock:
            self._all.clear()
        opened, self._batch_conn = self._batch_conn, None
        if opened is not None:
            opened.close_wal()  # (the connection closes when its last reference goes, as the others)
        self._local = threading.local()
        if own is not None:
            try:
                own.close()
            except sqlite3.Error:
                pass

    @staticmethod
    def _read_zone(conn: Connection) -> str:
        row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
        if row is None:  # pragma: no cover - written by migration 2 in the same transaction
            raise RuntimeError("ledger has no time zone recorded")
        return str(row[0])

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> set[int]:
        """The migrations this ledger has applied (none for a new file)."""
        try:
            return {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return set()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Apply every migration the ledger lacks, in number order. Which ones it has is read from
        schema_migrations, not from user_version, so numbers need not be contiguous: a ledger that has
        1 and 3 still gets 2 once this code knows it. user_version is the highest number applied."""
        if VERSIONS <= self._applied(conn):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = self._applied(conn)
            for version, description, statements in MIGRATIONS:
                if version in applied:
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    (version, description),
                )
                applied.add(version)
            conn.execute(f"PRAGMA user_version = {int(max(applied))}")
            # The zone is fixed when the ledger gets its meta table, by whichever process migrates
            # first; the others read it (docs/design.md, "The budget day").
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('timezone', ?)", (self._new_zone,)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    # -- writes ------------------------------------------------------------------------------------

    def admit(
        self,
        day: str,
        request_id: str | None,
        make: Callable[[Mapping[str, float]], NewDecision],
    ) -> tuple[dict[str, Any], bool]:
        """Check the budget and reserve in one IMMEDIATE transaction. `make(spent_by_tier)` routes with
        today's spend and returns the decision to write. Returns (response, replayed): a known
        `request_id` returns the first decision's response and writes nothing."""
        return self._in_transaction(lambda conn: self._admit_here(conn, day, request_id, make))

    def settle(
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]:
        """Record the outcome of a decision: the actual cost replaces the reservation. With `correct`,
        append a correction of the outcome it has instead: the correction's cost replaces the current
        one. `make(decision, spent_by_tier)` computes the settlement from the stored decision and its
        day's spend, in the same transaction. Returns the decision with its (current) outcome."""
        return self._in_transaction(
            lambda conn: self._settle_here(conn, decision_id, ts, ts_unix, make, correct)
        )

    def _in_transaction(self, work: Callable[[Connection], Any], durable: bool = True) -> Any:
        """Run `work` in one IMMEDIATE transaction on this thread's connection; commit, or roll back.

        The transaction is on the file that is at the ledger's path: its identity is checked after
        BEGIN and again just before COMMIT. If the file was deleted or replaced, the transaction is
        rolled back, the connection dropped, and `work` runs once more on a connection to the file
        there now (created and migrated if missing).

        Not `durable` (a write nobody is told of, docs/design.md "Ledger guarantees"): committed with
        synchronous=NORMAL, without waiting for the disk. It is as atomic and as visible to every other
        connection; what a power cut could lose is only that write, until the next durable commit's
        fsync of the WAL (or a checkpoint) carries it to the disk with its own."""
        relax = not durable and self._sync != "NORMAL" and not self._memory
        for _ in range(2):
            conn = self._conn()
            if relax:  # on this connection, for this commit only (a new connection opens at the config's)
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._moved():
                    result = work(conn)
                    if not self._moved():
                        conn.execute("COMMIT")
                        if self._moved():
                            raise LedgerError(
                                f"ledger {self.path} was deleted or replaced while this write was "
                                "committed; it may be missing from the file there now"
                            )
                        return result
                conn.execute("ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                if relax:
                    conn.execute(f"PRAGMA synchronous = {self._sync}")
            self._drop_moved()
        raise LedgerError(f"ledger {self.path} was replaced twice during one write; nothing was recorded")

    # -- reads of the backend's own: change counter and health ---------------------------------------

    def data_version(self) -> int:
        """SQLite's PRAGMA data_version for this thread's connection: changes when another connection
        commits."""
        return self._conn().execute("PRAGMA data_version").fetchone()[0]

    def check(self, whole_up_to: int = 32 << 20) -> None:
        """Raise BadLedger when SQLite's quick_check finds the file damaged: the whole file when it is at
        most `whole_up_to` bytes (some 50 ms at 32 MiB), else the tables the totals are read from, so
        the check stays cheap on a ledger of millions of decisions."""
        conn = self._conn()
        size = 0 if self._memory else os.path.getsize(self.path)
        for sql in (
            ["PRAGMA quick_check(1)"] if size <= whole_up_to
            else ["PRAGMA quick_check(rollup)", "PRAGMA quick_check(alerts)"]
        ):
            problem = conn.execute(sql).fetchone()[0]
            if problem != "ok":
                problem = " ".join(problem.split())
                raise BadLedger(
                    f"ledger {self.path} is damaged ({problem}); move it aside and restore a backup"
                )

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]

    # -- connections, again: a worker thread's --------------------------------------------------------

    def release(self) -> None:
        """Close this thread's connection (a short-lived worker thread calls it when done, so finished
        threads leave no connection open). The next use on this thread opens a new one."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    # -- group commit (added for the HTTP service; `admit` above is unchanged) ----------------------

    @staticmethod
    def _insert_decision(conn: Connection, rec: NewDecision) -> str:
        """The writes of one admission (the same statements as `admit`). Returns the detail written."""
        detail = _dumps(rec.response)
        conn.execute(
            "INSERT INTO decisions (id, request_id, ts, ts_unix, day, task_type, tier, agent, model_id, "
            "model_name, status, reserved, estimated_cost, input_tokens, output_tokens, desc_chars, budget, "
            "score, description, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.id, rec.request_id, rec.ts, rec.ts_unix, rec.day, rec.task_type, rec.tier, rec.agent,
                rec.model_id, rec.model_name, rec.status, rec.reserved, rec.estimated_cost, rec.input_tokens,
                rec.output_tokens, rec.desc_chars, rec.budget, rec.score, rec.description, detail,
            ),
        )
        conn.execute(
            "INSERT INTO rollup (day, tier, agent, model_id, status, decisions, spent, reserved, estimated) "
            "VALUES (?,?,?,?,?,1,?,?,?) ON CONFLICT (day, tier, agent, model_id, status) DO UPDATE SET "
            "decisions = decisions + 1, spent = spent + excluded.spent, "
            "reserved = reserved + excluded.reserved, estimated = estimated + excluded.estimated",
            (rec.day, rec.tier, rec.agent or "", rec.model_id or "", rec.status, rec.reserved, rec.reserved,
             rec.estimated_cost),
        )
        for threshold, spent_after, budget, message in rec.alerts:
            conn.execute(
                "INSERT OR IGNORE INTO alerts (day, threshold, ts, spent, budget, message) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (rec.day, threshold, rec.ts, spent_after, budget, message),
            )
        return detail

    def run_batch(self, jobs: Sequence[Callable[[], Any]], durable: bool = True) -> list[Any]:
        """Group commit: run `jobs` in order inside one BEGIN IMMEDIATE transaction on this thread's
        connection, then COMMIT once. A job that raises is rolled back alone and its exception is
        returned in its place: a job that fails before writing (a refusal, a bad input: the usual
        failures) has nothing to undo, and one that fails after writing rolls the batch back to run it
        again with a savepoint per job (which costs every job two statements otherwise). Jobs admit
        with `admit_in_batch`; nothing is returned before the COMMIT, so no caller can answer before
        its decision is durable. If the ledger file is replaced meanwhile, the whole batch runs again
        on the new file (`_in_transaction`). A job may therefore run more than once: it writes only to
        the ledger, through the batch's connection.
        `durable=False`: a batch of writes nobody is told of, committed without waiting for the disk."""

        state = _Batch()
        try:
            lazy = self._lazy_savepoints
            results = self._in_transaction(lambda conn: _run_jobs(self, conn, jobs, state, lazy), durable)
        except _Unguarded:
            results = self._in_transaction(lambda conn: _run_jobs(self, conn, jobs, state, False), durable)
        self._remember(state.admitted)
        return results

    @property
    def starts_batches(self) -> bool:
        """Whether `start_batch` can run a batch (ledger.group binds to an event loop only then): not in
        memory, where each connection is a database of its own."""
        return not self._memory

    def start_batch(self, jobs: Sequence[Callable[[], Any]], durable: bool = True) -> _Started | None:
        """The first half of `run_batch`, for a caller that must wait neither on another connection's
        write lock nor on the disk (the server's event loop): BEGIN IMMEDIATE on the ledger's batch
        connection without waiting, then `jobs`, on this thread. `finish_batch` (on any thread; nothing
        else may use the batch connection until it calls `released` or returns) commits and gives the
        results. None, with nothing written, when another connection holds the write lock, a job failed
        after writing, the file was replaced, or the ledger is in memory: run the batch with `run_batch`
        instead."""
        return _start_batch(self, jobs, durable)

    def finish_batch(self, started: _Started, released: Callable[[], None] | None = None,
                     rerun: bool = True) -> list[Any] | None:
        """Commit what `start_batch` ran and give its results (as `run_batch` does) once they are on the
        disk as the ledger's `synchronous` says. `released()` is called as soon as the COMMIT has let go
        of the write lock, before the disk has the batch (the WAL is synced after it): the next batch
        may start meanwhile, and its callers are answered after their own sync, which covers this
        batch's too. If the file was replaced meanwhile, the batch is rolled back and runs again, on
        this thread, with `run_batch` (`released` is not called); without `rerun` (a caller that must
        not wait on another connection's lock), rolled back only, and None returned."""
        return _finish_batch(self, started, released, rerun)

    def commit_batch(self, started: _Started) -> tuple[list[Any], int | None] | None:
        """`finish_batch` for a caller that waits for the disk itself (the server's loop, through
        ledger.aio): the COMMIT, then the results and the file descriptor of the WAL whose fdatasync
        makes them durable as the ledger's `synchronous` says (None: nothing to wait for). Nobody may
        hear of the results before that sync has ended. None, rolled back, when the file was replaced
        since the batch started (run it with `run_batch`)."""
        if self._batch_moved():
            _end(started)
            return None
        _commit(self, started)
        wal = _wal_to_sync(self, started)
        return started.results, None if wal is None else wal.wal_fd()

    def _remember(self, admitted: list[dict[str, Any]]) -> None:
        """Keep the decisions a batch committed for their settlement (the oldest go past a bound)."""
        if not self._keeps_committed:
            return
        committed = self._committed
        with self._lock:  # (a settlement on another thread may pop from it meanwhile)
            for dec in admitted:
                committed[dec["id"]] = dec
            while len(committed) > _COMMITTED_KEPT:
                committed.pop(next(iter(committed)), None)

    def in_batch(self) -> bool:
        """True on a thread that is inside `run_batch`."""
        return getattr(self._local, "batch", None) is not None

    def _spent_now(self, conn: Connection, day: str) -> dict[str, float]:
        """The day's spend by tier, in the open transaction. Inside a batch it is read once and then
        kept up to date by the batch's own writes (the batch holds the write lock: nobody else can
        change it meanwhile)."""
        state: _Batch | None = getattr(self._local, "batch", None)
        if state is None:
            return self._spent(conn, day)
        spent = state.spent.get(day)
        if spent is None:
            spent = state.spent[day] = self._spent(conn, day)
        return dict(spent)

    def outcomes_version(self) -> int:
        state: _Batch | None = getattr(self._local, "batch", None)
        if state is None:
            return super().outcomes_version()
        if state.version is None:  # read once per batch, again after the batch records an outcome
            state.version = super().outcomes_version()
        return state.version

    def admit_in_batch(
        self, day: str, request_id: str | None, make: Callable[[Mapping[str, float]], NewDecision]
    ) -> tuple[dict[str, Any], bool]:
        """`admit` inside the open transaction of `run_batch` (same thread): the same replay check,
        budget check against the spend so far (including the batch's earlier admissions) and writes."""
        if not self.in_batch():
            raise RuntimeError("admit_in_batch outside run_batch")
        return self._admit_here(self._conn(), day, request_id, make)

    def admit_many(
        self, items: Sequence[tuple[str, str | None, Callable[[Mapping[str, float]], NewDecision]]]
    ) -> list[tuple[dict[str, Any], bool] | Exception]:
        """Many admissions in one transaction (`run_batch` of `admit_in_batch`), each exactly `admit`:
        its budget check reads the spend including the admissions before it, and a known `request_id`
        (also one earlier in the batch) replays. Results (or exceptions) in order."""
        return self.run_batch([functools.partial(self.admit_in_batch, d, r, m) for d, r, m in items])

    def settle_in_batch(
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]:
        """`settle` inside the open transaction of `run_batch` (same thread): the same checks and writes,
        committed with the batch."""
        if not self.in_batch():
            raise RuntimeError("settle_in_batch outside run_batch")
        return self._settle_here(self._conn(), decision_id, ts, ts_unix, make, correct)

    def _settle_here(
        self,
        conn: Connection,
        decision_id: str,
        ts: str,
        ts_unix: float,
        make: MakeSettlement,
        correct: bool = False,
    ) -> dict[str, Any]:
        """The checks and writes of a settlement (or a correction), inside whatever transaction `conn`
        has open. The outcome and the corrections are only ever appended; the roll-up moves by the
        difference between what the decision counted for before and what it counts for now.

        The first outcome of a decision a batch of this ledger committed skips reading it back: the
        outcome's INSERT, whose primary key refuses a second outcome and whose foreign key a decision
        missing from the file, says whether what was kept still holds; when it does not, the decision
        is read and the failure named as usual."""
        state: _Batch | None = getattr(self._local, "batch", None)
        kept = None
        if not correct and self._committed:
            with self._lock:  # (the writer thread adds and evicts under it)
                kept = self._committed.pop(decision_id, None)
        if kept is not None:
            try:
                return _settle_row(self._spent_now, conn, dict(kept), ts, ts_unix, make, correct, state)
            except sqlite3.IntegrityError:
                pass  # settled by another process meanwhile, or not in this file: read it and say so
        row = conn.execute(
            f"SELECT {_DECISION_COLUMNS} FROM decisions d {_OUTCOME_JOIN} WHERE d.id = ?", (decision_id,)
        ).fetchone()
        if row is None:
            raise UnknownDecision(f"unknown decision id {decision_id!r}")
        return _settle_row(self._spent_now, conn, dict(row), ts, ts_unix, make, correct, state)

    def _admit_here(
        self, conn: Connection, day: str, request_id: str | None,
        make: Callable[[Mapping[str, float]], NewDecision],
    ) -> tuple[dict[str, Any], bool]:
        """Replay check, budget check and writes of an admission, inside the transaction `conn` has open."""
        if request_id is not None:
            row = conn.execute("SELECT detail FROM decisions WHERE request_id = ?", (request_id,)).fetchone()
            if row is not None:
                return json.loads(row[0]), True
        rec = make(self._spent_now(conn, day))
        detail = self._insert_decision(conn, rec)
        state: _Batch | None = getattr(self._local, "batch", None)
        if state is not None:
            spent = state.spent.get(rec.day)
            if spent is not None:
                spent[rec.tier] = spent.get(rec.tier, 0.0) + rec.reserved
            state.admitted.append(_as_read(rec, detail))
        return rec.response, False


def _run_jobs(led: SqliteLedger, conn: Connection, jobs: Sequence[Callable[[], Any]], state: _Batch,
              lazy: bool) -> list[Any]:
    """The jobs of a batch, in order, inside the transaction `conn` has open (`SqliteLedger.run_batch`):
    `lazy`, without a savepoint each (raises _Unguarded when one fails after writing), else each under
    a savepoint of its own, so that a failure undoes only its own writes."""
    guarded = not lazy
    results: list[Any] = []
    state.reset()  # a new attempt (file replaced, or savepoints needed): nothing of the last holds
    led._local.batch = state
    try:
        for job in jobs:
            if guarded:
                conn.execute("SAVEPOINT job")
                admitted = len(state.admitted)
            else:
                changes = _changes(conn)
            try:
                result = job()
            except Exception as exc:  # noqa: BLE001 - handed back to that job's caller
                if guarded:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    state.forget(admitted)
                elif _changes(conn) != changes:
                    raise _Unguarded from None  # it wrote before failing: again, with savepoints
                # (else it wrote nothing, and what the batch knows of its writes still holds)
                results.append(exc)
                continue
            if guarded:
                conn.execute("RELEASE job")
            results.append(result)
    finally:
        led._local.batch = None
    return results


class _Started:
    """A batch `start_batch` ran and `finish_batch` commits."""

    __slots__ = ("conn", "jobs", "durable", "state", "results")

    def __init__(self, conn: sqlite3.Connection, jobs: Sequence[Callable[[], Any]], durable: bool):
        self.conn, self.jobs, self.durable = conn, jobs, durable
        self.state = _Batch(conn)
        self.results: list[Any] = []


def _start_batch(led: SqliteLedger, jobs: Sequence[Callable[[], Any]], durable: bool) -> _Started | None:
    conn = led._batch_connection()
    if conn is None:
        return None
    started = _Started(conn, jobs, durable)
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")  # the batch connection waits for no lock (busy_timeout 0)
        except sqlite3.OperationalError as exc:
            if conn.in_transaction or "locked" not in str(exc) and "busy" not in str(exc):
                raise
            _end(started)
            return None
        if led._batch_moved():
            _end(started)
            return None
        started.results = _run_jobs(led, conn, jobs, started.state, led._lazy_savepoints)
    except _Unguarded:
        _end(started)
        return None
    except BaseException:
        _end(started)
        raise
    return started


def _finish_batch(led: SqliteLedger, started: _Started, released: Callable[[], None] | None,
                  rerun: bool = True) -> list[Any] | None:
    if led._batch_moved():
        _end(started)
        return led.run_batch(started.jobs, started.durable) if rerun else None
    _commit(led, started)
    if released is not None:
        released()
    wal = _wal_to_sync(led, started)
    if wal is not None:
        wal.sync_wal()
    return started.results


def _commit(led: SqliteLedger, started: _Started) -> None:
    """The COMMIT of a started batch (the WAL's frames written, not synced), on a file not replaced."""
    try:
        started.conn.execute("COMMIT")
        if led._batch_moved():
            raise LedgerError(
                f"ledger {led.path} was deleted or replaced while this write was committed; it may be "
                "missing from the file there now"
            )
    finally:
        _end(started)
    led._remember(started.state.admitted)


def _wal_to_sync(led: SqliteLedger, started: _Started) -> _BatchConnection | None:
    """The batch connection whose WAL must be synced before the batch's callers hear of it: none for a
    batch nobody is told of, or a ledger whose `synchronous` is NORMAL."""
    if started.durable and led._sync != "NORMAL":
        return led._batch_conn
    return None


class _BatchConnection:
    """`start_batch`'s connection, the identity of its file and of the side files it saw there when it
    opened, and the WAL it syncs (opened on the first sync, kept while the connection is: SQLite does
    not remove a WAL while a connection to it is open)."""

    __slots__ = ("conn", "identity", "sides", "wal", "_fd")

    def __init__(self, conn: sqlite3.Connection, identity: tuple[int, int] | None,
                 sides: dict[str, tuple[int, int] | None], wal: str):
        self.conn, self.identity, self.sides, self.wal = conn, identity, sides, wal
        self._fd: int | None = None

    def sync_wal(self) -> None:
        """What synchronous FULL does at each COMMIT, after it: sync the WAL, whose frames up to the last
        COMMIT are then on the disk (a later checkpoint syncs the database file before the WAL is
        reused)."""
        getattr(os, "fdatasync", os.fsync)(self.wal_fd())

    def wal_fd(self) -> int:
        """A descriptor of the WAL, to sync it with (opened on first use)."""
        if self._fd is None:
            self._fd = os.open(self.wal, os.O_RDONLY | os.O_CLOEXEC)
        return self._fd

    def close_wal(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        self.close_wal()
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


def _end(started: _Started) -> None:
    """Roll back whatever the batch connection still has open."""
    if started.conn.in_transaction:
        started.conn.execute("ROLLBACK")


def _settle_row(
    spent_now: Callable[[Connection, str], dict[str, float]],
    conn: Connection,
    dec: dict[str, Any],
    ts: str,
    ts_unix: float,
    make: MakeSettlement,
    correct: bool,
    state: _Batch | None,
) -> dict[str, Any]:
    """The checks and writes of `SqliteLedger._settle_here` for the decision `dec`, as read or as kept
    (its outcome's INSERT is the first write, so a failed constraint leaves nothing to undo before the
    decision is read after all). `spent_now(conn, day)`: the day's spend by tier; `state`: the open
    batch's, moved by this settlement."""
    decision_id = dec["id"]
    if dec["status"] == "refused":
        raise BadInput(f"decision {decision_id} was refused; there is nothing to settle")
    if correct and dec["outcome"] is None:
        raise BadInput(f"decision {decision_id} has no outcome to correct; record its outcome first")
    if not correct and dec["outcome"] is not None:
        raise BadInput(
            f"decision {decision_id} already has an outcome ({dec['outcome']}); "
            "correct it instead (record --correct; over HTTP \"correct\": true)"
        )
    s = make(dec, spent_now(conn, dec["day"]))
    values = (s.outcome, s.latency_ms, s.input_tokens, s.output_tokens, s.actual_cost)
    if correct:
        conn.execute(
            "INSERT INTO corrections (decision_id, ts, ts_unix, outcome, latency_ms, input_tokens, "
            "output_tokens, actual_cost, reason) VALUES (?,?,?,?,?,?,?,?,?)",
            (decision_id, ts, ts_unix, *values, s.reason),
        )
        before = (dec["outcome"], dec["latency_ms"], dec["actual_cost"], 0.0, 0)
    else:
        conn.execute(
            "INSERT INTO outcomes (decision_id, ts, ts_unix, outcome, latency_ms, input_tokens, "
            "output_tokens, actual_cost, model_id, task_type, day) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (decision_id, ts, ts_unix, *values, dec["model_id"], dec["task_type"], dec["day"]),
        )
        before = (None, None, dec["reserved"], dec["reserved"], 1)
    old_outcome, old_latency, counted, released, new_outcomes = before
    settled_before = 0.0 if old_outcome is None else counted
    conn.execute(
        "UPDATE rollup SET spent = spent + ? - ?, reserved = reserved - ?, settled = settled + ? - ?, "
        "outcomes = outcomes + ?, successes = successes + ?, failures = failures + ?, "
        "errors = errors + ?, latency_sum = latency_sum + ?, latency_n = latency_n + ? "
        "WHERE day = ? AND tier = ? AND agent = ? AND model_id = ? AND status = ?",
        (
            s.actual_cost,
            counted,
            released,
            s.actual_cost,
            settled_before,
            new_outcomes,
            int(s.outcome == "success") - int(old_outcome == "success"),
            int(s.outcome == "failure") - int(old_outcome == "failure"),
            int(s.outcome == "error") - int(old_outcome == "error"),
            (s.latency_ms or 0.0) - (old_latency or 0.0),
            int(s.latency_ms is not None) - int(old_latency is not None),
            dec["day"],
            dec["tier"],
            dec["agent"] or "",
            dec["model_id"] or "",
            dec["status"],
        ),
    )
    for threshold, spent_after, budget, message in s.alerts:
        conn.execute(
            "INSERT OR IGNORE INTO alerts (day, threshold, ts, spent, budget, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (dec["day"], threshold, ts, spent_after, budget, message),
        )
    if state is not None:
        state.version = None  # an outcome or a correction more
        spent = state.spent.get(dec["day"])
        if spent is not None:
            spent[dec["tier"]] = spent.get(dec["tier"], 0.0) + s.actual_cost - counted
    if correct:
        dec["corrected_ts"] = ts
    else:
        dec["outcome_ts"] = ts
    dec.update(
        outcome=s.outcome,
        actual_cost=s.actual_cost,
        latency_ms=s.latency_ms,
        actual_input_tokens=s.input_tokens,
        actual_output_tokens=s.output_tokens,
    )
    return dec


# every public method, the reports it inherits included, says what is wrong with the file in one line
for _name, _fn in list({**vars(LedgerReader), **vars(SqliteLedger)}.items()):
    if not _name.startswith("_") and inspect.isfunction(_fn) and _name not in {"close", "release"}:
        setattr(SqliteLedger, _name, _file_errors(_fn))
del _name, _fn
