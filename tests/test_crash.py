"""Crash tests in the style of SQLite's: writer processes (the Python API, the CLI and a real
`modelwise serve` fed by an HTTP client) route and record in a loop and are killed with SIGKILL at random
moments; the server is started again each round. After every round the ledger passes
`PRAGMA integrity_check`, every acknowledged decision and outcome is there exactly once, no row is
half-written (the roll-up agrees with the rows it summarises) and spend never exceeds the budget.

Rounds and seeds: MODELWISE_CRASH_ROUNDS (default 4) and MODELWISE_CRASH_SEED (default: random, printed)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BRIEF_REGISTRY

WORKER = Path(__file__).parent / "workers" / "crash_worker.py"
HTTP_CLIENT = Path(__file__).parent / "workers" / "http_client_worker.py"
ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("MODELWISE_CRASH_ROUNDS", "4"))
BUDGET = 8.0
SHARES = {"simple": 0.2, "medium": 0.5, "complex": 0.3}


def _reader(proc: subprocess.Popen, sink: list[str]) -> threading.Thread:
    def run() -> None:
        for line in proc.stdout:  # until EOF: everything written before the kill
            if line.endswith("\n"):  # a torn last line is not an acknowledgement
                sink.append(line)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`modelwise serve` on a free loopback port (group commit, as shipped); returns it and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", "serve", "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    found: list[int] = []

    def read() -> None:
        for line in proc.stderr:  # "modelwise: serving on http://127.0.0.1:PORT (...)"
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if m and not found:
                found.append(int(m.group(1)))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 30
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"modelwise serve did not start (exit {proc.poll()})")
        time.sleep(0.01)
    return proc, found[0]


def read_acks(path: Path) -> list[str]:
    """Whole lines only: a line torn by the kill acknowledges nothing."""
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def check_ledger(path: Path, acked: set[str], settled: set[str]) -> dict[str, int]:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute(
        "SELECT id, status, reserved, estimated_cost, detail, day, tier, agent, model_id FROM decisions"
    ).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids))
    present = set(ids)
    assert acked <= present, f"lost acknowledged decisions: {sorted(acked - present)[:5]}"
    for r in rows:  # no half-written decision: its stored answer is whole and is about it
        detail = json.loads(r[4])
        assert detail["decisionId"] == r[0] and detail["status"] == r[1]
        assert (r[2] == 0) == (r[1] == "refused")
    outcomes = {d for (d,) in conn.execute("SELECT decision_id FROM outcomes")}
    assert settled <= outcomes, f"lost acknowledged outcomes: {sorted(settled - outcomes)[:5]}"
    # The roll-up (what the budget check reads) agrees exactly with the rows it summarises.
    recomputed = {
        (day, tier, agent, model, status): (n, spent)
        for day, tier, agent, model, status, n, spent in conn.execute(
            "SELECT d.day, d.tier, COALESCE(d.agent, ''), COALESCE(d.model_id, ''), d.status, COUNT(*), "
            "SUM(COALESCE(o.actual_cost, d.reserved)) FROM decisions d "
            "LEFT JOIN outcomes o ON o.decision_id = d.id "
            "GROUP BY 1, 2, 3, 4, 5"
        )
    }
    rollup = {
        tuple(k): (n, spent)
        for *k, n, spent in conn.execute(
            "SELECT day, tier, agent, model_id, status, decisions, spent FROM rollup"
        )
    }
    assert rollup.keys() == recomputed.keys()
    for key, (n, spent) in recomputed.items():
        assert rollup[key][0] == n and rollup[key][1] == pytest.approx(spent, abs=1e-9), key
    # Reserved plus settled never exceeds the budget, for the day and for each tier.
    for day, total in conn.execute(
        "SELECT d.day, SUM(COALESCE(o.actual_cost, d.reserved)) FROM decisions d "
        "LEFT JOIN outcomes o ON o.decision_id = d.id GROUP BY d.day"
    ):
        assert total <= BUDGET + 1e-9, (day, total)
    for tier, total in conn.execute(
        "SELECT d.tier, SUM(COALESCE(o.actual_cost, d.reserved)) FROM decisions d "
        "LEFT JOIN outcomes o ON o.decision_id = d.id GROUP BY d.tier"
    ):
        assert total <= BUDGET * SHARES[tier] + 1e-9, (tier, total)
    stats = {"decisions": len(rows), "outcomes": len(outcomes)}
    conn.close()
    return stats


def test_sigkill_rounds_lose_nothing_acknowledged(tmp_path):
    seed = int(os.environ.get("MODELWISE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed {seed}, {ROUNDS} rounds")
    rng = random.Random(seed)
    ledger = tmp_path / "ledger.sqlite3"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"daily_budget = {BUDGET}\n")
    env = {**os.environ, "MODELWISE_LEDGER": str(ledger), "MODELWISE_CONFIG": str(cfg),
           "MODELWISE_REGISTRY": str(BRIEF_REGISTRY), "MODELWISE_CACHE": str(tmp_path / "cache")}
    acked: set[str] = set()
    settled: set[str] = set()
    totals = {}
    http_total = 0
    for round_no in range(ROUNDS):
        round_seed = rng.randrange(1 << 30)
        print(f"round {round_no}: seed {round_seed}")
        r_rng = random.Random(round_seed)
        workers, sinks, readers = [], [], []
        for w in range(3):
            p = subprocess.Popen(
                [sys.executable, str(WORKER), str(BRIEF_REGISTRY), str(ledger), str(cfg),
                 str(round_seed + w)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env,
            )
            sink: list[str] = []
            workers.append(p)
            sinks.append(sink)
            readers.append(_reader(p, sink))
        server, port = start_server(env)
        # two clients, so that requests are in flight together and the server commits them as a group
        http_logs = [tmp_path / f"http-acks-{round_no}-{c}.log" for c in range(2)]
        clients = [
            subprocess.Popen(
                [sys.executable, str(HTTP_CLIENT), str(port), str(log), str(round_seed + 10 + c)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
            )
            for c, log in enumerate(http_logs)
        ]
        ready_by = time.monotonic() + 30
        while time.monotonic() < ready_by and not (all(sinks) and all(map(read_acks, http_logs))):
            time.sleep(0.01)  # every writer has started writing
        clis = []
        deadline = time.monotonic() + r_rng.uniform(0.3, 1.2)
        while time.monotonic() < deadline:
            clis.append(
                subprocess.Popen(
                    [sys.executable, "-m", "modelwise", "route",
                     r_rng.choice(["debugging", "documentation", "design"]),
                     "cli task", "--json", "--agent", "cli"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                )
            )
            time.sleep(r_rng.uniform(0.02, 0.15))
        # SIGKILL everything still running, at a random moment for each
        victims = [p for p in [*workers, *clis, server, *clients] if p.poll() is None]
        r_rng.shuffle(victims)
        for p in victims:
            time.sleep(r_rng.uniform(0, 0.02))
            p.send_signal(signal.SIGKILL)
        for p in [*workers, server]:
            p.wait()
        # a client stops on its own once the server is gone (or was killed itself); nothing else ends it
        for client in clients:
            _, client_err = client.communicate(timeout=60)
            assert client.returncode in (0, -signal.SIGKILL), client_err
        for t in readers:
            t.join(timeout=10)
        for p in clis:
            out, _ = p.communicate()
            if p.returncode in (0, 3) and out.strip():
                acked.add(json.loads(out)["decisionId"])
        http_acked = [line for log in http_logs for line in read_acks(log)]
        for sink in [*sinks, http_acked]:
            for line in sink:
                kind, did, *_ = line.split()
                (acked if kind == "R" else settled).add(did)
        http_ids = {line.split()[1] for line in http_acked if line.startswith("R ")}
        http_total += len(http_ids)
        totals = check_ledger(ledger, acked, settled)
        print(f"round {round_no}: {totals['decisions']} decisions, {totals['outcomes']} outcomes, "
              f"{len(acked)} acknowledged ({len(http_ids)} over HTTP this round)")
    assert totals["decisions"] >= len(acked) > 0 and totals["outcomes"] > 0
    assert http_total > 0, "the HTTP writer never got a decision acknowledged"
