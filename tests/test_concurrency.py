"""Several processes share one ledger and one small budget: what is admitted never exceeds the budget,
in total or per tier, and every acknowledged decision is in the ledger exactly once."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BRIEF_REGISTRY, assert_within_budget, run_cli

WORKER = Path(__file__).parent / "workers" / "route_worker.py"


def _ledger_rows(backend, location: str | None = None) -> list[dict]:
    with contextlib.closing(backend.connect(location)) as conn:
        keys = ("id", "status", "reserved", "tier", "day")
        rows = conn.execute(f"SELECT {', '.join(keys)} FROM decisions").fetchall()
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _check_budget(rows: list[dict], budget: float, shares: dict[str, float]) -> None:
    assert_within_budget(rows, budget, shares)


def test_six_api_processes_never_overspend(tmp_path, backend):
    cfg = tmp_path / "config.toml"
    cfg.write_text("daily_budget = 0.5\n")
    ledger = backend.location
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(BRIEF_REGISTRY),
                str(ledger),
                str(cfg),
                str(start_at),
                "40",
                "debugging,architecture,documentation,refactoring",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        for _ in range(6)
    ]
    acked = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acked += [json.loads(line) for line in out.splitlines()]
    assert len(acked) == 240
    rows = _ledger_rows(backend)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 240
    assert {a["id"] for a in acked} == set(ids)
    statuses = {r["status"] for r in rows}
    assert "refused" in statuses and "routed" in statuses  # the budget really was contended
    _check_budget(rows, 0.5, {"simple": 0.2, "medium": 0.5, "complex": 0.3})


@pytest.mark.clock
def test_six_cli_processes_at_once(tmp_path, cli_env, backend):
    cfg = Path(cli_env["MODELWISE_CONFIG"])
    cfg.write_text("daily_budget = 0.2\n")
    cli_env["MODELWISE_LEDGER"] = backend.location
    acked, refused = [], 0
    import os

    env = {**os.environ, **cli_env}
    for _round in range(4):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "modelwise", "route", "architecture", f"design {i}", "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(6)
        ]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode in (0, 3), err
            r = json.loads(out)
            if p.returncode == 0:
                assert r["status"] in ("routed", "degraded")
                acked.append(r["decisionId"])
            else:
                assert r["status"] == "refused"
                refused += 1
    rows = _ledger_rows(backend)
    assert refused > 0
    admitted = [r["id"] for r in rows if r["status"] != "refused"]
    assert sorted(admitted) == sorted(acked)
    _check_budget(rows, 0.2, {"complex": 0.3})
    # and a stats call from yet another process sees them all
    s = json.loads(run_cli("stats", "--all", "--json", env=cli_env).stdout)
    assert s["costStatistics"]["totalTasks"] == len(acked)
