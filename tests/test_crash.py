"""Crash tests in the style of SQLite's: writer processes (the Python API, the CLI and a real
`modelwise serve` fed by an HTTP client) route, record and correct in a loop and are killed with SIGKILL at
random moments; the server is started again each round. Each round writes a fresh ledger, so every
round admits (and contends for) its budget, and settles above and below the estimates: at the estimate,
at a given cost and by tokens. After every round the ledger passes `PRAGMA integrity_check`, every
acknowledged decision, outcome and correction is there exactly once, every settlement costs what the
writer asked for (by the test's own arithmetic), no row is half-written (the roll-up agrees with the rows
it summarises, recomputed here) and no admission saw the day or a tier over its budget.

Rounds and seeds: MODELWISE_CRASH_ROUNDS (default 4) and MODELWISE_CRASH_SEED (default: random, printed)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import BRIEF_REGISTRY
from tests.ledger_checks import admissions_over_budget
from tests.workers.settling import pick, prices

WORKER = Path(__file__).parent / "workers" / "crash_worker.py"
HTTP_CLIENT = Path(__file__).parent / "workers" / "http_client_worker.py"
ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("MODELWISE_CRASH_ROUNDS", "4"))
BUDGET = 2.0  # per round (each round has its own ledger): contended within a round
SHARES = {"simple": 0.2, "medium": 0.5, "complex": 0.3}
CLI_TYPES = ["debugging", "documentation", "design"]


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


class Log:
    """What the writers said: acknowledged decisions (`R`), settlements and corrections attempted (`s`,
    `c`: printed before the call, with the cost it must settle at) and acknowledged (`S`, `C`)."""

    def __init__(self) -> None:
        self.decisions: set[str] = set()
        self.attempts: dict[str, dict[str, list[float]]] = {"s": defaultdict(list), "c": defaultdict(list)}
        self.acks: dict[str, dict[str, int]] = {"S": defaultdict(int), "C": defaultdict(int)}

    def add(self, line: str) -> None:
        kind, did, *rest = line.split()
        if kind == "R":
            self.decisions.add(did)
        elif kind in self.attempts:
            self.attempts[kind][did].append(float(rest[0]))
        else:
            self.acks[kind][did] += 1


def _same_cost(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-9, abs=1e-15)


def check_ledger(backend, path: str, log: Log) -> dict[str, int]:
    conn = backend.connect(path)
    assert backend.integrity_ok(conn)
    rows = conn.execute(
        "SELECT id, status, reserved, estimated_cost, detail, day, tier, agent, model_id, seq FROM decisions "
        "ORDER BY seq"
    ).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids))
    present = set(ids)
    assert log.decisions <= present, f"lost acknowledged decisions: {sorted(log.decisions - present)[:5]}"
    for r in rows:  # no half-written decision: its stored answer is whole and is about it
        detail = json.loads(r[4])
        assert detail["decisionId"] == r[0] and detail["status"] == r[1]
        assert (r[2] == 0) == (r[1] == "refused")
    # Every outcome is the one its writer asked for, at the cost it asked for; every acknowledged one is
    # there. The corrections of a decision are its writer's attempts in order (the last one may have
    # been killed before its commit), and every acknowledged one is there.
    outcomes = {d: (o, cost, lat) for d, o, cost, lat in conn.execute(
        "SELECT decision_id, outcome, actual_cost, latency_ms FROM outcomes")}
    for did, (_o, cost, _lat) in outcomes.items():
        assert [c for c in log.attempts["s"][did] if _same_cost(c, cost)], (did, cost, log.attempts["s"][did])
    lost = [d for d in log.acks["S"] if d not in outcomes]
    assert not lost, f"lost acknowledged outcomes: {lost[:5]}"
    corrections: dict[str, list[tuple[str, float, float | None]]] = defaultdict(list)
    for did, o, cost, lat in conn.execute(
        "SELECT decision_id, outcome, actual_cost, latency_ms FROM corrections ORDER BY seq"
    ):
        corrections[did].append((o, cost, lat))
    for did in set(corrections) | set(log.attempts["c"]):
        made, asked = [c for _, c, _ in corrections[did]], log.attempts["c"][did]
        assert len(asked) - 1 <= len(made) <= len(asked), (did, made, asked)
        assert all(_same_cost(a, b) for a, b in zip(made, asked, strict=False)), (did, made, asked)
        assert len(made) >= log.acks["C"][did], f"lost an acknowledged correction of {did}"
    current = {d: (corrections[d][-1] if corrections[d] else v) for d, v in outcomes.items()}
    # The roll-up (what the budget check reads) agrees exactly with the rows it summarises: each decision
    # counts for its current outcome (the latest correction, else the outcome), else its reservation.
    recomputed: dict[tuple, list[float]] = {}
    for did, status, reserved, _est, _d, day, tier, agent, model, _seq in rows:
        o = current.get(did)
        cost = reserved if o is None else o[1]
        add = [1, cost, reserved if o is None else 0.0, 0.0 if o is None else cost, o is not None,
               o is not None and o[0] == "success", o is not None and o[0] == "failure",
               o is not None and o[0] == "error", (o[2] or 0.0) if o is not None else 0.0,
               o is not None and o[2] is not None]
        acc = recomputed.setdefault((day, tier, agent or "", model or "", status), [0] * len(add))
        for i, x in enumerate(add):
            acc[i] += x
    rollup = {
        tuple(k): v
        for *k, v in (
            (*r[:5], list(r[5:]))
            for r in conn.execute(
                "SELECT day, tier, agent, model_id, status, decisions, spent, reserved, settled, outcomes, "
                "successes, failures, errors, latency_sum, latency_n FROM rollup"
            )
        )
    }
    assert rollup.keys() == recomputed.keys()
    for key, want in recomputed.items():
        got = rollup[key]
        assert got[0] == want[0] and got[4:8] == want[4:8] and got[9] == want[9], (key, got, want)
        for g, w in zip(got[1:4] + [got[8]], want[1:4] + [want[8]], strict=True):
            assert g == pytest.approx(w, abs=1e-9), (key, got, want)
    # No admission saw the day or its tier over budget.
    over = admissions_over_budget(conn, BUDGET, SHARES)
    assert not over, f"admitted over budget: {over[:3]}"
    est = {r[0]: r[3] for r in rows}
    stats = {
        "decisions": len(rows),
        "admitted": sum(r[1] != "refused" for r in rows),
        "refused": sum(r[1] == "refused" for r in rows),
        "outcomes": len(outcomes),
        "corrections": sum(map(len, corrections.values())),
        "above": sum(o[1] > est[d] * (1 + 1e-9) for d, o in current.items()),
        "below": sum(o[1] < est[d] * (1 - 1e-9) for d, o in current.items()),
    }
    conn.close()
    return stats


def _cli_record(answer: dict, rng: random.Random, price: dict, env: dict[str, str]
                ) -> tuple[subprocess.Popen, str, float]:
    """`modelwise record` of a CLI-routed decision, at the estimate, a given cost or by tokens."""
    kw, cost = pick(rng, answer, price)
    flags = {"cost": "--cost", "input_tokens": "--input-tokens", "output_tokens": "--output-tokens"}
    args = [a for k, v in kw.items() for a in (flags[k], repr(v) if isinstance(v, float) else str(v))]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", "record", answer["decisionId"], "--success", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    return proc, answer["decisionId"], cost


def test_sigkill_rounds_lose_nothing_acknowledged(tmp_path, backend):
    seed = int(os.environ.get("MODELWISE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed {seed}, {ROUNDS} rounds")
    rng = random.Random(seed)
    price = prices(str(BRIEF_REGISTRY))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"daily_budget = {BUDGET}\n")
    seen = {"admitted": 0, "refused": 0, "outcomes": 0, "corrections": 0, "above": 0, "below": 0, "http": 0}
    for round_no in range(ROUNDS):
        round_seed = rng.randrange(1 << 30)
        print(f"round {round_no}: seed {round_seed}")
        r_rng = random.Random(round_seed)
        ledger = backend.new(f"ledger-{round_no}")  # a fresh budget: every round admits
        env = {**os.environ, "MODELWISE_LEDGER": str(ledger), "MODELWISE_CONFIG": str(cfg),
               "MODELWISE_REGISTRY": str(BRIEF_REGISTRY), "MODELWISE_CACHE": str(tmp_path / "cache")}
        log = Log()
        # decisions for the CLI to record while the others write (a CLI route seldom ends in time)
        from modelwise.service import TokenOptimizationService

        with TokenOptimizationService(registry=BRIEF_REGISTRY, ledger=ledger, config=cfg) as svc:
            for_cli = [svc.route_task(r_rng.choice(CLI_TYPES), "c" * r_rng.randint(0, 2000), agent="cli")
                       for _ in range(12)]
        for_cli = [a for a in for_cli if a["status"] != "refused"]
        log.decisions.update(a["decisionId"] for a in for_cli)
        workers, sinks, readers = [], [], []
        worker_errs = [tmp_path / f"worker-{round_no}-{w}.err" for w in range(3)]
        for w, err_path in enumerate(worker_errs):
            with open(err_path, "w") as err:
                p = subprocess.Popen(
                    [sys.executable, str(WORKER), str(BRIEF_REGISTRY), str(ledger), str(cfg),
                     str(round_seed + w)],
                    stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env,
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
                [sys.executable, str(HTTP_CLIENT), str(port), str(path), str(round_seed + 10 + c),
                 str(BRIEF_REGISTRY)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
            )
            for c, path in enumerate(http_logs)
        ]
        ready_by = time.monotonic() + 30
        while time.monotonic() < ready_by and not (all(sinks) and all(map(read_acks, http_logs))):
            time.sleep(0.01)  # every writer has started writing
        clis: list[subprocess.Popen] = []
        records: list[tuple[subprocess.Popen, str, float]] = []
        routes: list[subprocess.Popen] = []
        deadline = time.monotonic() + r_rng.uniform(0.3, 1.2)
        while time.monotonic() < deadline:
            if for_cli:
                rec = _cli_record(for_cli.pop(), r_rng, price, env)
                log.attempts["s"][rec[1]].append(rec[2])
                records.append(rec)
                clis.append(rec[0])
            p = subprocess.Popen(
                [sys.executable, "-m", "modelwise", "route", r_rng.choice(CLI_TYPES),
                 "cli task", "--json", "--agent", "cli"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            )
            clis.append(p)
            routes.append(p)
            time.sleep(r_rng.uniform(0.02, 0.15))
        for p, err_path in zip(workers, worker_errs, strict=True):  # no writer stopped by itself
            assert p.poll() is None, f"a writer failed: {err_path.read_text()[-2000:]}"
        # SIGKILL everything still running, at a random moment for each
        victims = [p for p in [*workers, *clis, server, *clients] if p.poll() is None]
        r_rng.shuffle(victims)
        for p in victims:
            time.sleep(r_rng.uniform(0, 0.02))
            p.send_signal(signal.SIGKILL)
        for p in [*workers, server]:
            p.wait(timeout=30)
        # a client stops on its own once the server is gone (or was killed itself); nothing else ends it
        for client in clients:
            _, client_err = client.communicate(timeout=60)
            assert client.returncode in (0, -signal.SIGKILL), client_err
        for t in readers:
            t.join(timeout=10)
        for p in routes:
            out, _ = p.communicate(timeout=30)
            if p.returncode in (0, 3) and out.strip():
                log.add(f"R {json.loads(out)['decisionId']} -")
        for p, did, cost in records:
            _, err = p.communicate(timeout=30)
            assert p.returncode in (0, -signal.SIGKILL), err
            if p.returncode == 0:
                log.add(f"S {did} {cost!r}")
        http_acked = [line for path in http_logs for line in read_acks(path)]
        for sink in [*sinks, http_acked]:
            for line in sink:
                log.add(line)
        http_ids = {line.split()[1] for line in http_acked if line.startswith("R ")}
        totals = check_ledger(backend, ledger, log)
        print(f"round {round_no}: {totals}, {len(log.decisions)} acknowledged "
              f"({len(http_ids)} over HTTP), {len(records)} CLI records")
        assert totals["decisions"] >= len(log.decisions) > 0
        assert totals["admitted"] > 0, f"round {round_no} admitted nothing"
        seen["http"] += len(http_ids)
        for k in ("admitted", "refused", "outcomes", "corrections", "above", "below"):
            seen[k] += totals[k]
    print(f"all rounds: {seen}")
    assert seen["http"] > 0, "the HTTP writer never got a decision acknowledged"
    # the rounds settled above and below the estimates, corrected, and contended for the budget
    assert seen["above"] > 0 and seen["below"] > 0 and seen["corrections"] > 0 and seen["refused"] > 0
