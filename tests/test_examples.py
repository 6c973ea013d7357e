"""The multi-agent examples run against the shipped registry with a temporary ledger: one through the
Python API, one through HTTP (stdlib urllib) against a real `modelwise serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelwise.ledger.sqlite import SqliteLedger
from tests.test_serve_cli import start_serve, stop

ROOT = Path(__file__).resolve().parent.parent


def shipped_env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    env = {"MODELWISE_LEDGER": str(tmp_path / "ledger.sqlite3"), "MODELWISE_CONFIG": str(cfg)}
    return env  # no MODELWISE_REGISTRY: the shipped registry


def agents_in(ledger_path: str) -> dict[str, int]:
    ledger = SqliteLedger(ledger_path)
    try:
        counts: dict[str, int] = {}
        for r in ledger.decisions():
            counts[r["agent"]] = counts.get(r["agent"], 0) + 1
        return counts
    finally:
        ledger.close()


def test_multi_agent_python_api(tmp_path):
    env = shipped_env(tmp_path)
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "multi_agent.py"),
            "--ledger",
            env["MODELWISE_LEDGER"],
            "--config",
            env["MODELWISE_CONFIG"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert (
        lines[0].startswith("Planner -> ")
        and lines[1].startswith("Executor -> ")
        and lines[2].startswith("Critic -> ")
    )
    assert any(line.startswith("Total cost: $") for line in lines)
    assert agents_in(env["MODELWISE_LEDGER"]) == {"Planner": 2, "Executor": 3, "Critic": 2}


def test_multi_agent_http(tmp_path):
    env = shipped_env(tmp_path)
    proc, base = start_serve(env)
    try:
        r = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "multi_agent_http.py"), "--url", base],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
    finally:
        stop(proc)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("Planner -> ")
    assert "Budget remaining: $" in r.stdout
    assert agents_in(env["MODELWISE_LEDGER"]) == {"Planner": 2, "Executor": 2, "Critic": 1}
    ledger = SqliteLedger(env["MODELWISE_LEDGER"])
    try:
        assert sum(1 for r in ledger.decisions() if r["outcome"] == "success") == 3
    finally:
        ledger.close()
