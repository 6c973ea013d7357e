"""The ledger and the budget (docs/design.md, "Budget" and "Ledger guarantees"): reservation and settlement,
idempotency, alerts, the budget day in the configured zone, redaction before storage, migrations and WAL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from modelwise.core.errors import BadInput, UnknownDecision
from modelwise.ledger.migrations import LATEST, VERSIONS


def spent_today(svc) -> float:
    return sum(svc.ledger.spent_by_tier(svc.today().isoformat()).values())


def test_route_reserves_estimate_and_outcome_settles_actual(make_service):
    svc = make_service()
    r = svc.route_task("debugging", "fix the parser")
    assert r["status"] == "routed" and r["decisionId"].startswith("dec_")
    assert spent_today(svc) == pytest.approx(r["estimatedCost"])
    model = svc.registry.get(r["selectedModel"])
    done = svc.record_outcome(
        r["decisionId"], "success", latency_ms=900, input_tokens=2000, output_tokens=500
    )
    expected = (2000 * model.input_per_1m + 500 * model.output_per_1m) / 1e6
    assert done["actualCost"] == pytest.approx(expected)
    assert spent_today(svc) == pytest.approx(expected)
    status = svc.budget_status()
    medium = next(t for t in status["tiers"] if t["tier"] == "medium")
    assert medium["reserved"] == pytest.approx(0.0, abs=1e-12)
    assert medium["settled"] == pytest.approx(expected)


def test_outcome_with_cost_and_without_either(make_service):
    svc = make_service()
    a = svc.route_task("documentation", "a")
    b = svc.route_task("documentation", "b")
    assert svc.record_outcome(a["decisionId"], "failure", cost=0.5)["actualCost"] == 0.5
    assert svc.record_outcome(b["decisionId"], "error")["actualCost"] == pytest.approx(b["estimatedCost"])


def test_settlement_errors_write_nothing(make_service):
    svc = make_service()
    r = svc.route_task("documentation", "a")
    with pytest.raises(UnknownDecision):
        svc.record_outcome("dec_nope", "success")
    with pytest.raises(BadInput, match="outcome must be one of"):
        svc.record_outcome(r["decisionId"], "great")
    with pytest.raises(BadInput, match="latency"):
        svc.record_outcome(r["decisionId"], "success", latency_ms=float("nan"))
    svc.record_outcome(r["decisionId"], "success")
    with pytest.raises(BadInput, match="already has an outcome"):
        svc.record_outcome(r["decisionId"], "failure")


def test_unknown_price_is_never_zero(make_service, tmp_path):
    """A decision whose model left the registry cannot be settled from tokens: its price is unknown."""
    svc = make_service()
    r = svc.route_task("documentation", "a")
    import json

    other = tmp_path / "other.json"
    other.write_text(
        json.dumps([{"id": "someone-else", "costPer1kTokens": 0.001, "capabilities": ["documentation"]}])
    )
    svc2 = make_service(registry=other)
    with pytest.raises(BadInput, match="price is unknown"):
        svc2.record_outcome(r["decisionId"], "success", input_tokens=100, output_tokens=100)
    assert next(svc.ledger.decisions())["outcome"] is None


def test_request_id_is_idempotent(make_service):
    svc = make_service()
    first = svc.route_task("debugging", "x", request_id="job-42")
    again = svc.route_task("debugging", "something else", request_id="job-42")
    assert again["decisionId"] == first["decisionId"] and again["replayed"] is True
    assert svc.ledger.count_decisions() == 1
    assert spent_today(svc) == pytest.approx(first["estimatedCost"])


def test_refusal_is_recorded_and_budget_never_overspent(make_service):
    svc = make_service(config="daily_budget = 0.05\n")
    statuses = []
    for _ in range(20):
        statuses.append(svc.route_task("architecture", "design it")["status"])
    assert "refused" in statuses
    rows = list(svc.ledger.decisions())
    assert len(rows) == 20
    reserved = sum(r["reserved"] for r in rows)
    assert reserved <= 0.05 * 0.3 + 1e-12  # the complex tier's share
    refused = [r for r in rows if r["status"] == "refused"]
    assert all(r["reserved"] == 0 and r["model_id"] is None for r in refused)


@pytest.mark.clock
def test_alerts_once_per_threshold_per_day(make_service, clock):
    svc = make_service(
        config=(
            "daily_budget = 0.04\n[tiers.complex]\nshare = 1.0\n"
            "[tiers.simple]\nshare = 0.0\n[tiers.medium]\nshare = 0.0\n"
        )
    )
    warned = []
    for _ in range(6):
        r = svc.route_task("architecture", "design it")
        warned.append(bool([w for w in r["warnings"] if "daily budget" in w]))
    alerts = svc.ledger.alerts()
    thresholds = sorted(a["threshold"] for a in alerts)
    assert thresholds == [0.8, 1.0]
    assert warned[-1] is True
    # Next day: budget resets, no alert yet.
    clock.advance(24 * 3600)
    r = svc.route_task("architecture", "design it")
    assert r["status"] == "routed"
    assert r["budget"]["dailyRemaining"] == pytest.approx(0.04 - r["estimatedCost"])


@pytest.mark.clock
def test_budget_day_follows_configured_zone_at_midnight(make_service, clock):
    # 22:59 UTC on the 26th is 23:59 in Paris; one minute later it is the 27th there (not yet in UTC).
    clock.now = datetime(2026, 11, 26, 22, 59, tzinfo=UTC)
    svc = make_service(config='daily_budget = 0.2\ntimezone = "Europe/Paris"\n')
    while svc.route_task("architecture", "x")["status"] != "refused":
        pass
    assert svc.today().isoformat() == "2026-11-26"
    clock.advance(60)
    assert svc.today().isoformat() == "2026-11-27"
    r = svc.route_task("architecture", "x")
    assert r["status"] == "routed"
    days = {row["day"] for row in svc.ledger.decisions()}
    assert days == {"2026-11-26", "2026-11-27"}


def test_descriptions_are_redacted_before_storage(make_service, tmp_path):
    svc = make_service()
    secret = "use sk-proj-" + "a" * 40 + " and mail ops@example.com, postgres://admin:hunter2@db:5432/x"
    svc.route_task("debugging", secret)
    svc.close()
    raw = (tmp_path / "ledger.sqlite3").read_bytes()
    for f in ("ledger.sqlite3-wal",):
        p = tmp_path / f
        if p.exists():
            raw += p.read_bytes()
    for needle in (b"sk-proj-aaaa", b"ops@example.com", b"hunter2"):
        assert needle not in raw


@pytest.mark.parametrize(
    ("mode", "check"), [("hash", lambda d: d.startswith("sha256:")), ("none", lambda d: d is None)]
)
def test_store_descriptions_modes(make_service, mode, check):
    svc = make_service(config=f'store_descriptions = "{mode}"\n')
    svc.route_task("debugging", "secret plans")
    assert check(next(svc.ledger.decisions())["description"])


def test_migrations_and_wal(make_service, tmp_path):
    svc = make_service()
    svc.route_task("documentation", "x")
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == sorted(VERSIONS)


def test_dry_run_records_nothing(make_service, tmp_path):
    svc = make_service()
    r = svc.route_task("documentation", "x", dry_run=True)
    assert r["status"] == "dry-run" and r["wouldBe"] == "routed" and r["decisionId"] is None
    assert not (tmp_path / "ledger.sqlite3").exists()


def test_statistics_shape(make_service):
    svc = make_service()
    a = svc.route_task("documentation", "a", agent="planner")
    svc.route_task("debugging", "b", agent="executor")
    svc.record_outcome(a["decisionId"], "success", latency_ms=1000)
    s = svc.statistics()
    assert set(s["costStatistics"]) == {"totalTasks", "totalCost", "averageCost", "budgetRemaining"}
    assert set(s["performanceStatistics"]) == {"totalTasks", "averageLatency", "successRate", "modelUsage"}
    assert s["costStatistics"]["totalTasks"] == 2
    assert s["performanceStatistics"]["modelUsage"] == {"Claude Sonnet 4": 1, "GPT-4o Mini": 1}
    assert s["performanceStatistics"]["successRate"] == 1.0
    assert s["performanceStatistics"]["averageLatency"] == 1000
    by = svc.statistics(by="agent")["byAgent"]
    assert sum(a["totalTasks"] for a in by.values()) == 2
    assert sum(a["totalCost"] for a in by.values()) == pytest.approx(s["costStatistics"]["totalCost"])
