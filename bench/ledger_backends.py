"""Routed-and-recorded decisions per second through the Python API, on the SQLite ledger and on the
PostgreSQL one, from one process and from eight at once, in one run (ratios against SQLite in the same run).

Run: python bench/ledger_backends.py [--decisions N] [--url postgresql://...] [--serializable]
(--serializable also measures SERIALIZABLE-with-retry in place of the advisory write lock). Without
--url it starts a throwaway PostgreSQL server (initdb/pg_ctl, as the tests do, but with fsync and
synchronous commit on, as SQLite's synchronous=full). Prints each figure and the ratios."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TASKS = ("documentation", "debugging", "architecture", "code_generation", "refactoring")


def _serializable() -> None:
    """The alternative to the advisory write lock, for comparison only: each write transaction
    SERIALIZABLE, retried from the start (routing again) when PostgreSQL aborts it."""
    import psycopg

    from modelwise.ledger.postgres import CHANNEL, PostgresLedger

    def in_transaction(self, work):  # noqa: ANN001, ANN202
        while True:
            conn = self._conn()
            try:
                conn.raw.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                result = work(conn)
                conn.raw.execute(f"NOTIFY {CHANNEL}; COMMIT")
                return result
            except psycopg.errors.SerializationFailure:
                conn.raw.execute("ROLLBACK")
                RETRIES[0] += 1

    PostgresLedger._in_transaction = in_transaction


RETRIES = [0]


def _worker(args: tuple[str, str, float, int, int, bool]) -> tuple[int, int]:
    ledger, config, start_at, n, w, serializable = args
    if serializable:
        _serializable()
    from modelwise.service import TokenOptimizationService

    svc = TokenOptimizationService(registry=ROOT / "model_registry.json", ledger=ledger, config=config)
    svc.route_task("documentation", "warm-up", agent=f"bench-{w}")  # opens the ledger, builds the ranking
    while time.time() < start_at:
        time.sleep(0.001)
    for i in range(n):
        svc.route_task(TASKS[i % len(TASKS)], f"task {w}.{i}", agent=f"bench-{w}")
    svc.close()
    return n, RETRIES[0]


def run(pool: mp.pool.Pool, ledger: str, config: str, processes: int, n: int, serializable: bool = False
        ) -> tuple[float, int]:
    """Decisions per second (and transactions retried): `processes` writers routing `n` each, from a
    common start."""
    start_at = time.time() + 2.0
    jobs = [(ledger, config, start_at, n, w, serializable) for w in range(processes)]
    done = pool.map_async(_worker, jobs).get(timeout=600)
    return sum(d for d, _ in done) / (time.time() - start_at), sum(r for _, r in done)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--decisions", type=int, default=300, help="decisions per process")
    ap.add_argument("--url", help="an empty PostgreSQL database to use (default: a throwaway server)")
    ap.add_argument("--serializable", action="store_true",
                    help="also measure the alternative: SERIALIZABLE transactions retried, no write lock")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="modelwise-bench-"))
    config = tmp / "config.toml"
    config.write_text("daily_budget = 1000000\n")
    server = None
    if args.url is None:
        from tests.pg_support import PgServer

        server = PgServer()
        why = server.start(durable=True)
        if why:
            print(f"no PostgreSQL server: {why}", file=sys.stderr)
            return 1
    figures: dict[str, float] = {}
    try:
        ctx = mp.get_context("spawn")
        with ctx.Pool(8) as pool:
            for processes in (1, 8):
                for backend in ("sqlite", "postgresql", *(["serializable"] if args.serializable else [])):
                    if backend == "sqlite":
                        ledger = str(tmp / f"ledger-{processes}.sqlite3")
                    else:
                        ledger = args.url if args.url else server.new_database()  # type: ignore[union-attr]
                    rate, retried = run(pool, ledger, str(config), processes, args.decisions,
                                        backend == "serializable")
                    figures[f"{backend} x{processes}"] = rate
                    print(f"{backend:<12} {processes} process{'es' if processes > 1 else '  '}: "
                          f"{rate:8.0f} decisions/s" + (f" ({retried} retried)" if retried else ""),
                          file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
    ratios = {
        "postgresql/sqlite x1": figures["postgresql x1"] / figures["sqlite x1"],
        "postgresql/sqlite x8": figures["postgresql x8"] / figures["sqlite x8"],
        "sqlite x8/x1": figures["sqlite x8"] / figures["sqlite x1"],
        "postgresql x8/x1": figures["postgresql x8"] / figures["postgresql x1"],
    }
    if args.serializable:
        ratios["serializable/advisory x8"] = figures["serializable x8"] / figures["postgresql x8"]
    for k, v in ratios.items():
        print(f"{k:<22} {v:6.2f}", file=sys.stderr)
    if args.json:
        print(json.dumps({"decisionsPerSecond": figures, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
