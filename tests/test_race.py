"""The admission race: N processes behind a barrier submit tasks whose total far exceeds the budget.
What is admitted never exceeds it, for the day or for a tier, on each side of a midnight in the
configured time zone (a controlled clock)."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from tests.conftest import BRIEF_REGISTRY

N = 8


@pytest.mark.clock
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns"])  # half-hour offsets, to be sure
def test_barrier_race_across_midnight(tmp_path, zone):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    budget = 0.3
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'daily_budget = {budget}\ntimezone = "{zone}"\n')
    ledger = tmp_path / "ledger.sqlite3"
    local_before = datetime(2026, 11, 26, 23, 59, 59, 900000, tzinfo=ZoneInfo(zone))
    before_utc = local_before.astimezone(UTC).isoformat()
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(N, timeout=120)  # a worker that dies fails the test, never hangs it
        args = [(barrier, str(BRIEF_REGISTRY), str(ledger), str(cfg), before_utc, 24,
                 ["architecture", "debugging", "documentation", "design", "refactoring"])] * N
        with ctx.Pool(N) as pool:
            race = __import__("tests.workers.race_worker", fromlist=["race"]).race
            results = pool.map_async(race, args).get(timeout=240)
    acked = [r for rs in results for r in rs]
    assert len(acked) == N * 24
    conn = sqlite3.connect(ledger)
    rows = conn.execute("SELECT id, day, tier, reserved, status FROM decisions").fetchall()
    assert {r[0] for r in rows} == {a[0] for a in acked}
    days = sorted({r[1] for r in rows})
    assert days == ["2026-11-26", "2026-11-27"]
    shares = {"simple": 0.2, "medium": 0.5, "complex": 0.3}
    for day in days:
        day_rows = [r for r in rows if r[1] == day]
        assert any(r[4] == "refused" for r in day_rows), "the race did not contend for the budget"
        assert sum(r[3] for r in day_rows) <= budget + 1e-12
        for tier, share in shares.items():
            assert sum(r[3] for r in day_rows if r[2] == tier) <= budget * share + 1e-12
        # the budget was really used up on each side of midnight (close to the tiers' allocations)
        assert sum(r[3] for r in day_rows) > budget * 0.5


def _open_fresh(args) -> str:
    path, barrier = args
    barrier.wait()
    from modelwise.ledger.sqlite import SqliteLedger

    try:
        ledger = SqliteLedger(path)
        ledger.close()
        return "ok"
    except Exception as exc:  # reported, so the assertion names it
        return repr(exc)


def test_many_processes_open_a_new_ledger_at_once(tmp_path):
    """The first run of several agents at once: they all create and migrate the same new ledger.
    Switching it to WAL needs an exclusive lock that SQLite refuses at once (no busy handler on that
    path); none of them may fail with 'database is locked'."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(N) as pool:
        for round_ in range(15):
            path = str(tmp_path / f"new-{round_}.sqlite3")
            barrier = manager.Barrier(N, timeout=60)
            answers = pool.map_async(_open_fresh, [(path, barrier)] * N).get(timeout=120)
            assert answers == ["ok"] * N, f"round {round_}: {answers}"
            conn = sqlite3.connect(path)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
            conn.close()
