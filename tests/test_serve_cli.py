"""`modelwise serve` as a subprocess: binding rules, the token from the environment, logs that never show
it, and the ledger shared with CLI processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import assert_within_budget, load_json, run_cli

TOKEN = "tok-7f3a9c1e5b-never-logged"


def start_serve(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """Start `modelwise serve --port 0`; returns the process (its first stderr line kept as `.first`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", "serve", "--port", "0", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stderr.readline()
    m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"serve did not start: {line}{proc.stderr.read()}")
    base = m.group(1)
    proc.first = line  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("serve never answered /health")
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    return out, err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_non_loopback_without_token_exits_2(cli_env, host):
    r = run_cli("serve", "--host", host, "--port", "0", env=cli_env)
    assert r.returncode == 2
    assert "without a token" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not os.path.exists(cli_env["MODELWISE_LEDGER"])


def test_bad_port_exits_2(cli_env):
    r = run_cli("serve", "--port", "70000", env=cli_env)
    assert r.returncode == 2 and "port" in r.stderr


def test_token_from_environment_and_never_logged(cli_env):
    env = dict(cli_env, MODELWISE_TOKEN=TOKEN)
    proc, base = start_serve(env, "--access-log")
    try:
        assert httpx.get(base + "/health").status_code == 200
        assert httpx.get(base + "/stats").status_code == 401
        bad = httpx.post(
            base + "/route", json={"type": "documentation"}, headers={"Authorization": "Bearer nope"}
        )
        assert bad.status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(base + "/route", json={"type": "documentation", "agent": "ide"}, headers=good)
        assert r.status_code == 200
        # a query parameter the route does not take is a bad input (and the log line shows no token)
        assert httpx.get(base + f"/stats?token={TOKEN[:3]}", headers=good).status_code == 422
    finally:
        out, err = stop(proc)
    logs = proc.first + out + err  # type: ignore[attr-defined]
    assert "POST /route" in logs  # the access log was on...
    assert TOKEN not in logs  # ...and never shows the token
    assert "bearer token required" in logs


@pytest.mark.clock
def test_serve_shares_the_ledger_with_the_cli(cli_env):
    proc, base = start_serve(cli_env)
    try:
        r = httpx.post(
            base + "/route", json={"type": "code_generation", "description": "via http", "agent": "http"}
        )
        assert r.status_code == 200
        cli = run_cli("route", "code_generation", "via cli", "--agent", "cli", "--json", env=cli_env)
        assert cli.returncode == 0, cli.stderr
        dec = load_json(cli.stdout)["decisionId"]
        # the server sees the CLI's decision, and the CLI records the outcome of the server's
        seen = httpx.get(base + "/decisions").json()
        assert {d["decisionId"] for d in seen} == {dec, r.json()["decisionId"]}
        rec = run_cli("record", r.json()["decisionId"], "--success", "--cost", "0.002", "--json", env=cli_env)
        assert rec.returncode == 0, rec.stderr
        stats = httpx.get(base + "/stats", params={"by": "agent", "all": "true"}).json()
        assert stats["byAgent"]["http"]["totalCost"] == pytest.approx(0.002)
        assert stats["costStatistics"]["totalTasks"] == 2
    finally:
        stop(proc)
    cli_stats = load_json(run_cli("stats", "--all", "--by", "agent", "--json", env=cli_env).stdout)
    assert cli_stats["byAgent"] == stats["byAgent"]


def test_serve_without_group_commit(cli_env):
    proc, base = start_serve(cli_env, "--no-group-commit")
    try:
        r = httpx.post(base + "/route", json={"type": "documentation"})
        assert r.status_code == 200
        assert httpx.get(base + f"/decisions/{r.json()['decisionId']}").status_code == 200
    finally:
        stop(proc)


@pytest.mark.parametrize(
    "argv",
    [("stats", "--json"), ("route", "documentation", "x", "--json")],
    ids=["parser", "route-fast-path"],
)
def test_the_cli_path_never_imports_the_server(cli_env, argv):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "modelwise", *argv],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    # `stats` goes through argparse and loads its command module (a plain `route` is read without argparse)...
    assert ("modelwise.cli.commands.stats" in imported) == (argv[0] != "route")
    for heavy in ("modelwise.server", "fastapi", "uvicorn", "textual"):
        assert heavy not in imported, heavy  # ...but never the server


def test_several_worker_processes_share_the_port_and_the_budget(cli_env, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from modelwise.ledger.sqlite import SqliteLedger

    Path(cli_env["MODELWISE_CONFIG"]).write_text("daily_budget = 0.1\n")
    proc, base = start_serve(cli_env, "--workers", "2")
    try:

        def one(i: int) -> httpx.Response:
            return httpx.post(
                base + "/route", json={"type": "code_generation", "description": f"w{i}"}, timeout=30
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(one, range(60)))
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert {a.status_code for a in answers} == {200, 402}
    ledger = SqliteLedger(cli_env["MODELWISE_LEDGER"])
    try:
        rows = list(ledger.decisions())
    finally:
        ledger.close()
    assert len(rows) == 60
    assert sorted(r["id"] for r in rows if r["status"] != "refused") == sorted(
        a.json()["decisionId"] for a in answers if a.status_code == 200
    )
    assert_within_budget(rows, 0.1, {"medium": 0.5})  # the medium tier's share of the day
