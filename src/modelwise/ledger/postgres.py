"""The PostgreSQL ledger: one database shared by every machine of a team, with the SQLite ledger's
guarantees. Every write takes one transaction-scoped advisory lock, so admissions serialise across machines.

It runs the SQLite ledger's statements (sqlite.py, reader.py) through a thin dialect shim; only what differs
is here."""

from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from modelwise.core.errors import BadInput, BadLedger, LedgerError, ModelwiseError
from modelwise.ledger.migrations_pg import LATEST, MIGRATIONS, VERSIONS
from modelwise.ledger.reader import _now
from modelwise.ledger.sqlite import SqliteLedger
from modelwise.ledger_url import LedgerUrl

WRITE_LOCK = 0x4D574C47  # 'MWLG': every write transaction holds it (pg_advisory_xact_lock), in order
MIGRATE_LOCK = 0x4D574D49  # 'MWMI': held while migrating
CHANNEL = "modelwise_ledger"  # NOTIFYed by every write; the console's watcher LISTENs


class _Numeric(Loader):
    """numeric (what SUM of a bigint gives) as an int, or a float: never a Decimal in an answer."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


class _Row(tuple):
    """A row that, like sqlite3.Row, indexes by position and by name and turns into a dict."""

    __slots__ = ()
    _names: tuple[str, ...] = ()

    def keys(self) -> tuple[str, ...]:
        return self._names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    return type("Row", (_Row,), {"__slots__": (), "_names": names})


def _named_rows(cursor: Any) -> Callable[[Any], _Row]:
    desc = cursor.description
    cls = _row_class(tuple(c.name for c in desc)) if desc else _Row
    return cls


_REWRITES = [
    (re.compile(r"INSERT OR IGNORE INTO (\w+) (\([^)]*\)) VALUES (\([^)]*\))"),
     r"INSERT INTO \1 \2 VALUES \3 ON CONFLICT DO NOTHING"),
    (re.compile(r"\bIFNULL\("), "COALESCE("),
    (re.compile(r"SUM\(o\.decision_id IS NOT NULL\)"), "COUNT(o.decision_id)"),
    (re.compile(r"json_extract\(d\.detail, '\$\.dailyBudget'\)"),
     "(d.detail::json ->> 'dailyBudget')::double precision"),
    (re.compile(r"json_extract\(d\.detail, '\$\.(\w+)'\)"), r"(d.detail::json -> '\1')::text"),
    (re.compile(r"\browid\b"), "seq"),
    (re.compile(r"CAST\(\(d\.ts_unix - \?\) / \? AS INTEGER\)"), "TRUNC((d.ts_unix - ?) / ?)::bigint"),
    (re.compile(r"WHERE ms IS NOT NULL"), f"WHERE {_now('latency_ms')} IS NOT NULL"),
    # ON CONFLICT DO UPDATE: a bare column on the right would be ambiguous with `excluded`
    (re.compile(r"(\w+) = \1 \+ (1|excluded\.)"), r"\1 = rollup.\1 + \2"),
]


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """The SQLite ledger's statement in PostgreSQL's dialect, with psycopg's placeholders."""
    if sql == "BEGIN":
        return "BEGIN ISOLATION LEVEL REPEATABLE READ"  # a read snapshot, as SQLite's deferred BEGIN
    for pattern, repl in _REWRITES:
        sql = pattern.sub(repl, sql)
    return sql.replace("%", "%%").replace("?", "%s")


class _Cursor:
    """What `conn.cursor()` gives the shared queries: `row_factory = None` asks for plain tuples."""

    def __init__(self, conn: _PgConn):
        self._conn = conn
        self.row_factory: Any = _named_rows

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._conn.execute(sql, params, plain=self.row_factory is None)


def _close_when_idle(raw: psycopg.Connection, wait: float = 5.0) -> None:
    """Close `raw` once no thread is executing on it (psycopg's connection lock is free), polling with
    plain sleeps (a timed lock wait never returns under libfaketime); left open if still busy after
    `wait` seconds (closing it then could crash the thread using it)."""
    lock = raw.lock
    for _ in range(int(wait / 0.01)):
        if lock.acquire(blocking=False):
            try:
                raw.close()  # finish() without taking the lock
            finally:
                lock.release()
            return
        time.sleep(0.01)


class _PgConn:
    """A psycopg connection (autocommit: transactions are explicit, as in the SQLite ledger) speaking
    the sqlite3 calls the shared queries make."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    def execute(self, sql: str, params: Any = (), plain: bool = False) -> Any:
        cur = self.raw.cursor() if plain else self.raw.cursor(row_factory=_named_rows)
        return cur.execute(translate(sql), params or None)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(translate(sql), rows)

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def _reason(exc: BaseException, url: LedgerUrl) -> str:
    """One line from what libpq or the server said, with any password taken out."""
    text = " ".join(str(exc).split())
    text = re.sub(r"(?i)(password=)\S+", r"\1***", text)
    pw = url.password()
    if pw:
        text = text.replace(pw, "***")
    if "://" in url.url and "@" in url.url.split("://", 1)[1]:
        auth = url.url.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in auth:
            secret = auth.split(":", 1)[1]
            if secret:
                text = text.replace(secret, "***")
    return text


def connection_error(url: LedgerUrl, exc: BaseException) -> ModelwiseError:
    """The one-line typed error for a connection that failed: unreachable, refused login, no database."""
    text = _reason(exc, url)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return BadLedger(f"ledger {url}: the server refused the login (wrong user or password)")
    if re.search(r"database \S+ does not exist", low):
        return BadLedger(f"ledger {url}: database {url.database()!r} does not exist on that server; create "
                         "it (createdb) or fix the URL")
    if "role" in low and "does not exist" in low:
        return BadLedger(f"ledger {url}: the server has no such user")
    if isinstance(exc, psycopg.ProgrammingError) or "invalid" in low and "option" in low:
        return BadInput(f"ledger {url}: not a valid PostgreSQL URL ({text})")
    if "refused" in low or "timeout" in low or "timed out" in low or "could not translate" in low \
            or "no route" in low or "unreachable" in low or "failed" in low:
        tail = text.split("failed:")[-1].strip() or text
        return LedgerError(f"ledger {url}: cannot reach the PostgreSQL server ({tail})")
    return LedgerError(f"ledger {url}: {text}")


# The connection options. No `connect_timeout` of our own (a URL may give one, `?connect_timeout=5`):
# psycopg's default applies, and with an explicit one a connection fails at once under libfaketime,
# which the clock tests run under.
_OPTIONS: dict[str, Any] = {"autocommit": True, "application_name": "modelwise"}


def _connect(url: LedgerUrl) -> psycopg.Connection:
    kw = dict(_OPTIONS)
    pw = url.password()
    if pw is not None:
        kw["password"] = pw
    try:
        raw = psycopg.connect(url.url, **kw)
    except psycopg.Error as exc:
        raise connection_error(url, exc) from None
    except Exception as exc:  # a malformed URL: psycopg raises before connecting
        raise BadInput(f"ledger {url}: not a valid PostgreSQL URL ({_reason(exc, url)})") from None
    raw.adapters.register_loader("numeric", _Numeric)
    return raw


def _value(raw: psycopg.Connection, sql: str) -> Any:
    """The one value of a statement that always gives exactly one row (a SELECT with no FROM)."""
    row = raw.execute(sql).fetchone()
    assert row is not None, sql  # a SELECT without FROM has one row
    return row[0]


def peek_zone(location: Any) -> str | None:
    """The zone recorded in the database, read without creating anything; None when it cannot be read."""
    url = location if isinstance(location, LedgerUrl) else LedgerUrl(str(location))
    try:
        raw = _connect(url)  # `locate` says what it can; an unreachable server is not an error
    except ModelwiseError:
        return None
    try:
        if _value(raw, "SELECT to_regclass('meta')") is None:
            return None
        row = raw.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
        return None if row is None else str(row[0])
    except psycopg.Error:
        return None
    finally:
        raw.close()


class PostgresLedger(SqliteLedger):
    """The PostgreSQL backend. One connection per thread (taken from a pool; `release` gives it back)."""

    # a failed statement aborts a PostgreSQL transaction: a settlement always reads its decision
    _keeps_committed = False
    _lazy_savepoints = False
    # a batch's statements are round trips to the server: never run on the event loop (ledger.group)
    starts_batches = False

    def __init__(self, url: LedgerUrl, zone: str = "UTC", pool_size: int = 64):
        self.url = url
        self.path = str(url)  # the redacted URL: what every message names
        self._memory = False
        self._local = threading.local()
        self._committed: dict[str, dict[str, Any]] = {}
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._new_zone = zone
        self._pool_size = pool_size
        self._pool: Any = None
        self._migrated = False
        self._listener: psycopg.Connection | None = None
        self._listen_lock = threading.Lock()
        self._notified = 0
        self.zone: str = self._read_zone(self._conn())

    # -- connections -------------------------------------------------------------------------------

    def _get_pool(self) -> Any:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from psycopg_pool import ConnectionPool

                    first = _connect(self.url)  # reports a bad URL, password or database in one line
                    self._migrate_raw(first)
                    first.close()
                    kw = dict(_OPTIONS)
                    if self.url.password() is not None:
                        kw["password"] = self.url.password()
                    self._pool = ConnectionPool(
                        self.url.url, kwargs=kw, min_size=1, max_size=self._pool_size, open=True,
                        configure=lambda c: c.adapters.register_loader("numeric", _Numeric),
                        name="modelwise-ledger", timeout=60,
                    )
        return self._pool

    def _conn(self) -> _PgConn:  # type: ignore[override]
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if not conn.raw.broken and not conn.raw.closed:
                return conn
            self.release()
        try:
            raw = self._get_pool().getconn()
        except ModelwiseError:
            raise
        except Exception as exc:  # noqa: BLE001 - the pool could not connect in time
            raise connection_error(self.url, exc) from None
        conn = _PgConn(raw)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def release(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            if self._pool is not None:
                self._pool.putconn(conn.raw)
            else:
                conn.close()
        except Exception:  # noqa: BLE001 - a broken connection is simply dropped
            pass

    def close(self) -> None:
        """Close every connection. One another thread is using right now (a console worker still reading
        as the app exits) is closed once its statement is done, under the lock psycopg holds while it
        executes: freeing a connection in the middle of another thread's call crashes libpq. That thread's
        next statement gets a clean "connection is closed" error instead."""
        own: _PgConn | None = self._local.__dict__.get("conn")
        with self._lock:
            conns, self._all = list(self._all), []
            pool, self._pool = self._pool, None
        for conn in conns:
            try:
                if own is not None and conn is own and pool is not None:
                    pool.putconn(own.raw)
                else:
                    _close_when_idle(conn.raw)
            except Exception:  # noqa: BLE001
                pass
        if pool is not None:
            pool.close()
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------------------

    @staticmethod
    def _applied_raw(raw: psycopg.Connection) -> set[int]:
        if _value(raw, "SELECT to_regclass('schema_migrations')") is None:
            return set()
        return {v for (v,) in raw.execute("SELECT version FROM schema_migrations")}

    def _refuse(self, raw: psycopg.Connection, applied: set[int]) -> None:
        if not applied and _value(raw, "SELECT to_regclass('decisions')") is not None:
            raise BadLedger(
                f"{self.path} has a decisions table that modelwise did not make; it was left untouched "
                "(give modelwise its own database)"
            )
        if applied and max(applied) > LATEST:
            raise BadLedger(
                f"ledger {self.path} has schema {max(applied)}, this modelwise knows up to {LATEST}; "
                "upgrade modelwise"
            )

    def _migrate_raw(self, raw: psycopg.Connection) -> None:
        """Apply every migration the database lacks, in number order, in one transaction under an advisory
        lock: several processes starting on a fresh database at once apply each exactly once."""
        try:
            applied = self._applied_raw(raw)
            if VERSIONS <= applied:
                self._refuse(raw, applied)
                return
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                raw.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                applied = self._applied_raw(raw)
                self._refuse(raw, applied)
                for version, description, statements in MIGRATIONS:
                    if version in applied:
                        continue
                    for statement in statements:
                        raw.execute(statement)
                    raw.execute(
                        "INSERT INTO schema_migrations VALUES "
                        "(%s, %s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
                        (version, description),
                    )
                    applied.add(version)
                # the zone is fixed by whichever process migrates first; the others read it
                raw.execute(
                    "INSERT INTO meta (key, value) VALUES ('timezone', %s) ON CONFLICT DO NOTHING",
                    (self._new_zone,),
                )
        except psycopg.OperationalError as exc:
            raise connection_error(self.url, exc) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            why = _reason(exc, self.url)
            raise BadLedger(f"ledger {self.path}: cannot create its tables ({why})") from None

    def schema_version(self) -> int:
        return self._conn().execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]

    # -- transactions ------------------------------------------------------------------------------

    def _in_transaction(self, work: Callable[[Any], Any], durable: bool = True) -> Any:
        """Run `work` in one transaction that first takes the ledger's write lock, so the budget check
        and the reservation of any two writers, on any machine, never interleave; NOTIFY watchers.
        Not `durable`: committed with synchronous_commit off (the server does not wait for its WAL
        flush; what a crash of the server could lose is only that transaction)."""
        for attempt in range(2):
            conn = self._conn()
            try:
                # one round trip each (a simple query may hold several statements): the lock is held
                # for as few round trips as the work needs
                relaxed = "" if durable else "SET LOCAL synchronous_commit TO off; "
                conn.raw.execute(f"BEGIN; {relaxed}SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                break
            except psycopg.OperationalError:
                if attempt or not conn.raw.broken:
                    raise
                self.release()  # a connection the server dropped (a restart): nothing was sent, reconnect
        try:
            result = work(conn)
            conn.raw.execute(f"NOTIFY {CHANNEL}; COMMIT")
            return result
        except BaseException:
            if not conn.raw.closed and conn.in_transaction:
                try:
                    conn.raw.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            raise

    # -- reads that differ -------------------------------------------------------------------------

    def data_version(self) -> int:
        """Moves whenever any process commits a write: counted from LISTEN/NOTIFY on a connection of its
        own; when that cannot listen, polled from the tables' newest row numbers."""
        with self._listen_lock:
            listener = self._listener
            if listener is None or listener.broken or listener.closed:
                try:
                    listener = _connect(self.url)
                    listener.execute(f"LISTEN {CHANNEL}")
                    self._listener = listener
                    self._notified += 1  # a new listener may have missed some: count a change
                except (ModelwiseError, psycopg.Error):
                    self._listener = listener = None
            if listener is not None:
                try:
                    for _ in listener.notifies(timeout=0):
                        self._notified += 1
                    return self._notified
                except psycopg.Error:
                    self._listener = None
        row = self._conn().execute(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM decisions), (SELECT COALESCE(MAX(seq), 0) FROM "
            "outcomes), (SELECT COALESCE(MAX(seq), 0) FROM corrections), (SELECT COUNT(*) FROM alerts)"
        ).fetchone()
        return hash(tuple(row)) & 0x7FFFFFFF

    def check(self, whole_up_to: int = 0) -> None:
        """The server keeps the data whole; check that the database answers and is a ledger we know."""
        applied = {v for (v,) in self._conn().execute("SELECT version FROM schema_migrations")}
        if not VERSIONS <= applied or max(applied) > LATEST:
            raise BadLedger(
                f"ledger {self.path} has migrations {sorted(applied)}, expected {sorted(VERSIONS)}"
            )

    def integrity_check(self) -> str:
        self.check()
        return "ok"


# what is never run again after a lost connection (its transaction may have committed); `_in_transaction`
# reconnects only when the connection was found dead at BEGIN, before anything was sent
_WRITES = frozenset({"admit", "settle", "run_batch", "admit_many", "admit_in_batch", "settle_in_batch"})


def _pg_errors(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A connection lost or refused mid-call becomes one line naming the (redacted) ledger; constraint
    errors pass through, as with SQLite."""

    def convert(self: PostgresLedger, exc: psycopg.Error) -> BaseException:
        if isinstance(exc, psycopg.OperationalError) or self._local.__dict__.get("conn") is not None and \
                self._local.conn.raw.broken:
            return connection_error(self.url, exc)
        return exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(self: PostgresLedger, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(self, *args, **kwargs)
            except psycopg.Error as exc:
                out = convert(self, exc)
                if out is exc:
                    raise
                raise out from None

        return gen

    def dropped(self: PostgresLedger) -> bool:
        """This thread's connection was dropped by the server outside any transaction: a read may run
        again on a new one."""
        conn = self._local.__dict__.get("conn")
        return conn is not None and conn.raw.broken and not self.in_batch()

    @functools.wraps(fn)
    def call(self: PostgresLedger, *args: Any, **kwargs: Any) -> Any:
        try:
            try:
                return fn(self, *args, **kwargs)
            except psycopg.OperationalError:
                if name in _WRITES or not dropped(self):
                    raise
                self.release()
                return fn(self, *args, **kwargs)
        except psycopg.Error as exc:
            out = convert(self, exc)
            if out is exc:
                raise
            raise out from None

    return call


for _name in dir(PostgresLedger):
    _fn = getattr(PostgresLedger, _name)
    if not _name.startswith("_") and inspect.isfunction(_fn) and _name not in {"close", "release"}:
        setattr(PostgresLedger, _name, _pg_errors(inspect.unwrap(_fn), _name))
del _name, _fn
