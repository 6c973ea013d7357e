"""The budget day is the ledger's, not the process's: one zone recorded when the ledger is created, used
by every process whatever its `TZ`; a config that names another zone is refused."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import assert_within_budget, in_zone, run_cli

pytestmark = pytest.mark.clock

# UTC-12 and UTC+14: 26 hours apart, so at every instant their calendar dates differ. A process that took
# the day from its own TZ would always start a second day here.
FAR_WEST = "Etc/GMT+12"
FAR_EAST = "Pacific/Kiritimati"


def _decisions(ledger: Path) -> list[dict]:
    conn = sqlite3.connect(ledger)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT day, ts_unix, tier, status, reserved FROM decisions")]
    finally:
        conn.close()


def test_processes_in_far_apart_zones_share_one_day_and_its_budget(tmp_path, cli_env):
    """Twelve CLI processes, six with TZ=UTC-12 and six with TZ=UTC+14, route at once against one new
    ledger with no configured zone: every decision lands on one budget day, and together they reserve no
    more than the day's budget or the medium tier's share (checked to fail with the day taken from TZ)."""
    budget = 0.1
    cfg = tmp_path / "no-zone.toml"
    cfg.write_text(f"daily_budget = {budget}\n")
    ledger = tmp_path / "shared.sqlite3"
    env = {**os.environ, **cli_env, "MODELWISE_CONFIG": str(cfg), "MODELWISE_LEDGER": str(ledger)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modelwise", "route", "code_generation", f"task {i}", "--json"],
            env=in_zone(env, FAR_WEST if i % 2 else FAR_EAST),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(12)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode in (0, 3) for p in procs), outs
    rows = _decisions(ledger)
    assert len(rows) == 12
    # The zone recorded is one of the two, and every decision's day is its instant's date there, whatever
    # the TZ of the process that made it (a run that crosses the zone's midnight has two days, each its own).
    zone = json.loads(
        run_cli(
            "locate", "--json", env={**cli_env, "MODELWISE_CONFIG": str(cfg), "MODELWISE_LEDGER": str(ledger)}
        ).stdout
    )["timezone"]
    assert zone in (FAR_WEST, FAR_EAST)
    for r in rows:
        assert r["day"] == datetime.fromtimestamp(r["ts_unix"], ZoneInfo(zone)).date().isoformat(), r
    days = {r["day"] for r in rows}
    assert len(days) <= 2
    assert_within_budget(rows, budget, {"medium": 0.5})  # code_generation is medium: half the day
    assert sum(r["reserved"] for r in rows) > budget * 0.25  # it did spend
    assert any(r["status"] == "degraded" or r["status"] == "refused" for r in rows)
    for tz in (FAR_WEST, FAR_EAST, "UTC"):
        stats = run_cli(
            "stats",
            "--all",
            "--json",
            env=in_zone({**cli_env, "MODELWISE_CONFIG": str(cfg), "MODELWISE_LEDGER": str(ledger)}, tz),
        )
        assert stats.returncode == 0, stats.stderr
        s = json.loads(stats.stdout)
        assert s["period"]["timezone"] == zone
        assert s["costStatistics"]["totalTasks"] == sum(r["status"] != "refused" for r in rows)


def test_a_new_ledger_records_the_config_zone_else_the_machine_zone(tmp_path, cli_env):
    env = in_zone(cli_env, FAR_EAST)
    assert run_cli("route", "math", "one", env=env).returncode == 0
    assert json.loads(run_cli("locate", "--json", env=env).stdout)["timezone"] == FAR_EAST
    # A later process in another zone keeps the recorded one.
    env_west = in_zone(cli_env, FAR_WEST)
    loc = run_cli("locate", env=env_west)
    assert f"timezone: {FAR_EAST}  (recorded in the ledger)" in loc.stdout
    # With a zone in the config, a new ledger records that one.
    cfg = tmp_path / "paris.toml"
    cfg.write_text('timezone = "Europe/Paris"\n')
    env2 = in_zone(
        dict(cli_env, MODELWISE_CONFIG=str(cfg), MODELWISE_LEDGER=str(tmp_path / "p.sqlite3")), "UTC"
    )
    assert run_cli("route", "math", "one", env=env2).returncode == 0
    assert json.loads(run_cli("locate", "--json", env=env2).stdout)["timezone"] == "Europe/Paris"


def test_a_config_zone_that_differs_from_the_ledgers_is_refused_naming_both(tmp_path, cli_env):
    env = in_zone(cli_env, "UTC")
    assert run_cli("route", "math", "one", env=env).returncode == 0
    before = _decisions(Path(cli_env["MODELWISE_LEDGER"]))
    cfg = tmp_path / "tokyo.toml"
    cfg.write_text('timezone = "Asia/Tokyo"\n')
    r = run_cli("route", "math", "two", env=dict(env, MODELWISE_CONFIG=str(cfg)))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "'Asia/Tokyo'" in r.stderr and "'UTC'" in r.stderr and cli_env["MODELWISE_LEDGER"] in r.stderr
    assert _decisions(Path(cli_env["MODELWISE_LEDGER"])) == before
    # The same zone spelled in the config is fine.
    cfg.write_text('timezone = "UTC"\n')
    assert run_cli("route", "math", "three", env=dict(env, MODELWISE_CONFIG=str(cfg))).returncode == 0


def test_a_ledger_from_before_the_zone_was_recorded_gets_one_on_first_open(tmp_path, make_service):
    """A version-1 ledger (no meta table) is migrated in place; it records the opening process's zone."""
    from modelwise.ledger.migrations import MIGRATIONS

    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    for sql in MIGRATIONS[0][2]:
        conn.execute(sql)
    conn.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?, '2026-11-01T00:00:00Z')", (MIGRATIONS[0][1],))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    svc = make_service(ledger=path, config='timezone = "America/New_York"\n')
    assert svc.zone_name == "America/New_York"
    svc.route_task("math", "x")
    assert svc.ledger.zone == "America/New_York"


def test_the_service_day_follows_the_ledger_zone_not_tz(tmp_path, make_service, monkeypatch, clock):
    """In-process too: a service whose process TZ differs from the ledger's takes the ledger's day."""
    from datetime import UTC, datetime

    clock.now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # 2026-11-27 in Kiritimati, -26 in UTC
    monkeypatch.setenv("TZ", FAR_EAST)
    first = make_service(ledger=tmp_path / "l.sqlite3")
    assert first.route_task("math", "x")["status"] == "routed"
    assert first.today().isoformat() == "2026-11-27"
    monkeypatch.setenv("TZ", "UTC")
    second = make_service(ledger=tmp_path / "l.sqlite3")
    assert second.zone_name == FAR_EAST
    assert second.today().isoformat() == "2026-11-27"
