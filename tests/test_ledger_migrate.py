"""`modelwise ledger migrate --to`: a SQLite ledger copied into PostgreSQL and back, row for row; every
surface reads the copy as the original; a non-empty target is refused with nothing written."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import run_cli
from tests.pg_support import PASSWORD

TABLES = ["decisions", "outcomes", "corrections", "rollup", "alerts"]


def _fill(cli_env: dict[str, str]) -> None:
    ids = []
    for i, t in enumerate(["documentation", "architecture", "debugging", "refactoring", "design"] * 3):
        r = run_cli("route", t, f"task {i}", "--json", "--agent", f"a{i % 2}", env=cli_env)
        assert r.returncode in (0, 3), r.stderr
        if r.returncode == 0:
            ids.append(json.loads(r.stdout)["decisionId"])
    for did in ids[:6]:
        assert run_cli("record", did, "--success", "--latency-ms", "900", env=cli_env).returncode == 0
    for did in ids[:2]:
        r = run_cli("record", did, "--failure", "--correct", "--cost", "0.001", "--reason", "re", env=cli_env)
        assert r.returncode == 0, r.stderr


def _surfaces(env: dict[str, str], ledger: str) -> list:
    out = []
    commands = (("stats", "--all", "--json"), ("export", "json"), ("audit", "--json"), ("savings", "--json"))
    for args in commands:
        r = run_cli(*args, "--ledger", ledger, env=env)
        assert r.returncode == 0, (args, r.stderr)
        out.append(json.loads(r.stdout))
    return out


def test_sqlite_to_postgresql_and_back(cli_env, pg_server, tmp_path):
    with open(cli_env["MODELWISE_CONFIG"], "w") as fh:
        fh.write("daily_budget = 0.3\n")
    _fill(cli_env)
    original = cli_env["MODELWISE_LEDGER"]
    url = pg_server.new_database()
    r = run_cli("ledger", "migrate", "--to", url, "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert PASSWORD not in r.stdout + r.stderr and report["checked"] is True
    with sqlite3.connect(original) as conn:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert report["copied"] == counts and counts["corrections"] == 2 and counts["outcomes"] == 6
    assert _surfaces(cli_env, url) == _surfaces(cli_env, original)
    # the copy keeps working: new decisions go on after the copied ones
    r = run_cli("route", "documentation", "after", "--json", "--ledger", url, env=cli_env)
    assert r.returncode in (0, 3), r.stderr
    # and back into a new SQLite file, from the PostgreSQL ledger
    back = str(tmp_path / "back.sqlite3")
    r = run_cli("ledger", "migrate", "--ledger", url, "--to", back, env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "checked row for row" in r.stderr and PASSWORD not in r.stderr
    assert _surfaces(cli_env, back) == _surfaces(cli_env, url)
    with sqlite3.connect(back) as conn:
        assert conn.execute("SELECT MAX(rowid) FROM outcomes").fetchone()[0] == counts["outcomes"]


def test_a_target_that_holds_decisions_is_refused(cli_env, pg_server):
    _fill(cli_env)
    url = pg_server.new_database()
    assert run_cli("route", "documentation", "there", "--ledger", url, env=cli_env).returncode == 0
    r = run_cli("ledger", "migrate", "--to", url, env=cli_env)
    assert r.returncode == 2 and "already holds decisions" in r.stderr and len(r.stderr.splitlines()) == 1
    stats = json.loads(run_cli("stats", "--all", "--json", "--ledger", url, env=cli_env).stdout)
    assert stats["costStatistics"]["totalTasks"] == 1  # nothing was written
    r = run_cli("ledger", "migrate", "--to", cli_env["MODELWISE_LEDGER"], env=cli_env)
    assert r.returncode == 2 and "the ledger itself" in r.stderr
