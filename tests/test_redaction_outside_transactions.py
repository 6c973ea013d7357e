"""Redaction never runs while this thread holds the ledger's write transaction: not for one route, not for
a concurrent batch, not on the group-commit path (whose writer routes inside one batch transaction), so a
long description never keeps other processes waiting on the lock. Agents and request ids are stored
redacted, and stay usable as identifiers (grouping, filtering, replay)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

import modelwise.app.routing as service_module
from tests.conftest import run_cli

TOKEN = "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R"


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch):
    """Wrap the service's redactors: each call records whether the calling thread's ledger connection
    is inside a transaction (or a group-commit batch) at that moment."""
    calls: list[tuple[str, bool, str]] = []
    services: list = []
    real_storage, real_identifier = service_module.for_storage, service_module.redact_identifier

    def state(what: str) -> None:
        inside = False
        for svc in services:
            ledger = svc._ledger if hasattr(svc, "_ledger") else None
            if ledger is None:
                continue
            conn = getattr(ledger._local, "conn", None)
            inside = inside or (conn is not None and conn.in_transaction) or ledger.in_batch()
        calls.append((what, inside, threading.current_thread().name))

    def for_storage(text: str, mode: str):
        state("description")
        return real_storage(text, mode)

    def redact_identifier(text):
        state("identifier")
        return real_identifier(text)

    monkeypatch.setattr(service_module, "for_storage", for_storage)
    monkeypatch.setattr(service_module, "redact_identifier", redact_identifier)
    return calls, services


def _tasks(n: int, big: str) -> list[dict]:
    return [
        {"type": "debugging", "description": f"{big} task {i} with {TOKEN}",
         "agent": f"ops{i % 2}@corp.example.com", "requestId": f"req-{i}-{TOKEN}"}
        for i in range(n)
    ]


def test_redaction_runs_outside_every_write_transaction(make_service, spied) -> None:
    calls, services = spied
    svc = make_service(config="daily_budget = 1000.0\n")
    services.append(svc)
    big = "lorem ipsum dolor " * 20_000  # 360 kB
    # one route
    svc.route_task("debugging", f"{big} {TOKEN}", agent="ops@corp.example.com", request_id="r-1")
    # a concurrent batch
    answers = svc.route_tasks(_tasks(6, big), concurrency=3)
    assert all(a["status"] != "invalid" for a in answers), answers
    # the group-commit path: the writer thread routes inside one batch transaction
    svc.enable_group_commit()
    futures = [svc.submit_task(t) for t in _tasks(6, big + "g")]
    answers += [f.result(timeout=60) for f in futures]
    svc.disable_group_commit()
    described = [c for c in calls if c[0] == "description"]
    assert len(described) == 1 + 6 + 6, calls  # every routed task was redacted, and seen doing so
    assert len([c for c in calls if c[0] == "identifier"]) >= 2 * (1 + 6 + 6)
    inside = [c for c in calls if c[1]]
    assert not inside, f"redaction inside a write transaction: {inside[:3]}"
    # and what was stored is redacted
    stored = b"".join(
        p.read_bytes() for p in svc.paths.ledger.parent.glob(svc.paths.ledger.name + "*")
    )
    assert TOKEN.encode() not in stored
    assert b"corp.example.com" not in stored
    assert all(TOKEN not in json.dumps(a) for a in answers)


def test_a_stored_agent_still_groups_and_filters(cli_env, make_service) -> None:
    agent = "ci-bot-" + TOKEN
    for _ in range(3):
        r = run_cli("route", "debugging", "fix it", "--agent", agent, "--json", env=cli_env)
        assert r.returncode == 0, r.stderr
        assert TOKEN not in r.stdout
    run_cli("route", "debugging", "fix it", "--agent", "someone-else@corp.example.com", env=cli_env)
    stats = run_cli("stats", "--by", "agent", "--json", env=cli_env)
    assert stats.returncode == 0, stats.stderr
    by_agent = json.loads(stats.stdout)["byAgent"]
    redacted = [name for name in by_agent if name.startswith("ci-bot-[REDACTED:github-token:")]
    assert len(redacted) == 1, by_agent  # one stable group for the three decisions
    assert by_agent[redacted[0]]["totalTasks"] == 3
    assert not any(TOKEN in name or "corp.example.com" in name for name in by_agent)
    # filtering by the agent as the user knows it finds the stored, redacted form
    svc = make_service(ledger=Path(cli_env["MODELWISE_LEDGER"]))
    listed = svc.decisions(agent=agent)
    assert len(listed) == 3 and all(d["agent"] == redacted[0] for d in listed)
    conn = sqlite3.connect(cli_env["MODELWISE_LEDGER"])
    try:
        agents = {a for (a,) in conn.execute("SELECT agent FROM decisions")}
    finally:
        conn.close()
    assert not any(TOKEN in (a or "") for a in agents), agents


def test_request_ids_with_secrets_replay_and_stay_distinct(make_service) -> None:
    svc = make_service(config="daily_budget = 1000.0\n")
    a = svc.route_task("debugging", "x", request_id="job-alice@corp.example.com")
    again = svc.route_task("debugging", "x", request_id="job-alice@corp.example.com")
    other = svc.route_task("debugging", "x", request_id="job-bob@corp.example.com")
    assert again.get("replayed") and again["decisionId"] == a["decisionId"]
    assert other["decisionId"] != a["decisionId"] and not other.get("replayed")
    assert "corp.example.com" not in a["requestId"] and a["requestId"].startswith("[REDACTED:email:")
    assert a["requestId"] != other["requestId"]


def test_http_group_commit_redacts_before_the_batch_and_off_the_event_loop(make_service, spied) -> None:
    """Through a real uvicorn with group commit: a description of 900 kB full of secrets and a short one
    are redacted outside the writer's transaction, the long one not on the event loop's thread, and what
    is stored holds none of the secrets."""
    import httpx

    from tests.live import serving

    calls, services = spied
    svc = make_service(config="daily_budget = 1000.0\n")
    services.append(svc)
    big = (f"deploy with {TOKEN} and mail ops@corp.example.com; " * 15_000)[:900_000]
    with serving(svc) as base, httpx.Client(base_url=base, timeout=60) as client:
        loop_thread = [t.name for t in threading.enumerate() if t.name.endswith("(run)")]
        for description in (big, f"short {TOKEN}"):
            r = client.post("/route", json={"type": "debugging", "description": description,
                                            "agent": f"bot-{TOKEN}"})
            assert r.status_code == 200, r.text[:300]
            assert TOKEN not in r.text
    described = [c for c in calls if c[0] == "description"]
    assert len(described) == 2, calls
    assert not [c for c in calls if c[1]], calls
    assert described[0][2] not in loop_thread and described[0][2] != "modelwise-group-commit", described
    stored = b"".join(p.read_bytes() for p in svc.paths.ledger.parent.glob(svc.paths.ledger.name + "*"))
    assert TOKEN.encode() not in stored and b"ops@corp.example.com" not in stored
    assert stored.count(b"[REDACTED:github-token]") >= 10_000  # the long description is there, redacted
