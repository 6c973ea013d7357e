"""The admission race: N processes behind a barrier submit tasks whose total far exceeds the budget.
What is admitted never exceeds it, for the day or for a tier, on each side of a midnight in the
configured time zone (a controlled clock)."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from tests.conftest import BRIEF_REGISTRY

N = 8


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
        barrier = manager.Barrier(N)
        args = [(barrier, str(BRIEF_REGISTRY), str(ledger), str(cfg), before_utc, 24,
                 ["architecture", "debugging", "documentation", "design", "refactoring"])] * N
        with ctx.Pool(N) as pool:
            results = pool.map(__import__("tests.workers.race_worker", fromlist=["race"]).race, args)
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
