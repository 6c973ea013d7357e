"""Settlement that a typo cannot wreck: token counts the decided model cannot have used are bad input
(CLI exit 2, HTTP 422, nothing written); a settlement that raises the day's spend records the alerts it
crosses; a wrong outcome is corrected by an appended correction that keeps the original and supersedes
it for spend, learning, stats, export and audit; migrations are applied by number, gaps allowed."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import httpx
import pytest

from modelwise.core.errors import BadInput
from modelwise.service import _observed_by_key
from tests.conftest import LedgerWatch, run_cli
from tests.live import serving

# Two models with limits (the brief's registry has none): $3/$15 and $0.15/$0.60 per million tokens.
LIMITED = {
    "schemaVersion": 1,
    "models": [
        {
            "id": "big-model", "name": "Big Model", "capabilities": ["architecture", "debugging"],
            "pricing": {"inputPer1M": 3.0, "outputPer1M": 15.0}, "performance": {"quality": 0.95},
            "contextWindow": 200_000, "maxOutputTokens": 64_000,
        },
        {
            "id": "small-model", "name": "Small Model", "capabilities": ["documentation", "debugging"],
            "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6}, "performance": {"quality": 0.85},
            "contextWindow": 128_000, "maxOutputTokens": 16_384,
        },
    ],
}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "limited.json"
    path.write_text(json.dumps(LIMITED))
    return path


@pytest.fixture
def env(tmp_path: Path, registry: Path) -> dict[str, str]:
    cfg = tmp_path / "settle-config.toml"
    cfg.write_text('daily_budget = 0.5\ntimezone = "UTC"\n')
    return {
        "MODELWISE_REGISTRY": str(registry),
        "MODELWISE_LEDGER": str(tmp_path / "settle.sqlite3"),
        "MODELWISE_CONFIG": str(cfg),
        "MODELWISE_CACHE": str(tmp_path / "cache"),
    }


def _route(env: dict[str, str], task: str = "architecture") -> dict:
    r = run_cli("route", task, "design a cache", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _rows(path: str | Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _recomputed_spend(path: str | Path) -> dict[str, float]:
    """Σ(current settled actual, else reserved) per day, straight from the rows: the latest correction
    when there is one, else the outcome, else the reservation."""
    return dict(
        _rows(
            path,
            "SELECT d.day, SUM(COALESCE((SELECT c.actual_cost FROM corrections c WHERE c.decision_id = d.id "
            "ORDER BY c.seq DESC LIMIT 1), o.actual_cost, d.reserved)) FROM decisions d "
            "LEFT JOIN outcomes o ON o.decision_id = d.id GROUP BY d.day",
        )
    )


# -- 1. token counts beyond the model's limits ---------------------------------------------------------


def test_the_typo_is_refused_by_the_cli_and_nothing_is_written(env):
    dec = _route(env)
    assert dec["selectedModel"] == "big-model"
    watch = LedgerWatch(env["MODELWISE_LEDGER"])
    before = watch.version()
    r = run_cli("record", dec["decisionId"], "--success", "--input-tokens", "900000", "--output-tokens",
                "900000", env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "modelwise: output tokens 900,000 exceed the maximum output of Big Model (big-model): 64,000 tokens\n"
    )
    r = run_cli("record", dec["decisionId"], "--success", "--input-tokens", "150000", "--output-tokens",
                "60000", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "input tokens 150,000 + output tokens 60,000 = 210,000 tokens" in r.stderr
    assert "context window of Big Model (big-model): 200,000 tokens" in r.stderr
    # one given count is checked with the estimate of the other, as it would be priced
    r = run_cli("record", dec["decisionId"], "--success", "--input-tokens", "199990", env=env)
    assert r.returncode == 2 and "(estimated)" in r.stderr and "200,000 tokens" in r.stderr
    assert watch.version() == before
    assert watch.version()[2] == 0  # no outcome
    # at the limits exactly it settles (here: over the day's budget, which the alerts say below)
    r = run_cli("record", dec["decisionId"], "--success", "--input-tokens", "136000", "--output-tokens",
                "64000", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["actualCost"] == pytest.approx((136000 * 3 + 64000 * 15) / 1e6)
    watch.close()


def test_the_typo_is_refused_over_http_with_a_422(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 0.05\n")
    dec = svc.route_task("documentation", "write docs")
    assert dec["selectedModel"] == "small-model"
    watch = LedgerWatch(svc.paths.ledger)
    before = watch.version()
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/outcomes", json={"decisionId": dec["decisionId"], "outcome": "success",
                                           "inputTokens": 120_000, "outputTokens": 10_000})
        assert r.status_code == 422 and set(r.json()) == {"detail"}
        detail = r.json()["detail"]
        assert "\n" not in detail and "= 130,000 tokens" in detail and "128,000" in detail
        assert "small-model" in detail
        r = client.post("/outcomes", json={"decisionId": dec["decisionId"], "outcome": "success",
                                           "outputTokens": 20_000})
        assert r.status_code == 422 and "maximum output" in r.json()["detail"]
        assert "16,384" in r.json()["detail"]
        assert watch.version() == before
        r = client.post("/outcomes", json={"decisionId": dec["decisionId"], "outcome": "success",
                                           "inputTokens": 1000, "outputTokens": 500})
        assert r.status_code == 200, r.text
    watch.close()


def test_a_model_without_limits_or_no_longer_in_the_registry_keeps_today_s_rules(make_service):
    svc = make_service()  # the brief's registry: no context windows
    dec = svc.route_task("documentation", "x")
    out = svc.record_outcome(dec["decisionId"], "success", input_tokens=900_000, output_tokens=900_000)
    assert out["actualCost"] == pytest.approx(1_800_000 * 0.00015 / 1000)


# -- 2. alerts at settlement ---------------------------------------------------------------------------


def test_an_outcome_that_takes_the_day_over_budget_records_alerts(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 0.05\n")
    a = svc.route_task("documentation", "first")
    b = svc.route_task("documentation", "second")
    assert svc.ledger.alerts() == []  # two small reservations cross nothing
    svc.record_outcome(a["decisionId"], "success")  # at the estimate: spend unchanged, no alert
    assert svc.ledger.alerts() == []
    svc.record_outcome(b["decisionId"], "success", cost=4.05)
    alerts = svc.ledger.alerts()
    total = a["estimatedCost"] + 4.05
    assert [x["threshold"] for x in alerts[:2]] == [0.8, 1.0]
    assert all(b["decisionId"] in x["message"] for x in alerts)
    assert alerts[0]["message"].startswith("spend reached 80% of the $0.0500 daily budget")
    over = alerts[2]
    assert over["threshold"] == pytest.approx(total / 0.05)
    assert over["message"] == (
        f"outcome of {b['decisionId']} settled at $4.05 took the day to $4.05 of $0.0500"
    )
    assert over["spent"] == pytest.approx(total) and over["budget"] == 0.05
    # thresholds once per day; each settlement that pushes the day further over is on record
    c_ = svc.route_task("documentation", "third")
    assert c_["status"] == "refused"
    assert len(svc.ledger.alerts()) == 3
    assert svc.budget_status()["alerts"] == svc.ledger.alerts()


def test_settlement_alerts_once_per_threshold_and_not_below_the_estimate(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 1.0\nalert_threshold = 0.5\n")
    ids = [svc.route_task("architecture", f"t{i}")["decisionId"] for i in range(3)]
    svc.record_outcome(ids[0], "success", cost=0.0)  # below the estimate: frees room, no alert
    assert svc.ledger.alerts() == []
    svc.record_outcome(ids[1], "success", cost=0.6)  # to 60%: the 50% threshold
    assert [a["threshold"] for a in svc.ledger.alerts()] == [0.5]
    svc.record_outcome(ids[2], "failure", cost=0.3)  # to 90%: nothing new
    assert [a["threshold"] for a in svc.ledger.alerts()] == [0.5]


# -- 3. corrections ------------------------------------------------------------------------------------


def test_a_correction_keeps_the_original_and_moves_spend_by_the_difference(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 0.5\n")
    dec = svc.route_task("architecture", "design a cache")
    did = dec["decisionId"]
    svc.record_outcome(did, "success", cost=4.05, latency_ms=900.0)
    assert svc.budget_status()["spent"] == pytest.approx(4.05)
    with pytest.raises(BadInput, match="already has an outcome"):
        svc.record_outcome(did, "success", cost=0.001)
    out = svc.record_outcome(did, "failure", input_tokens=900, output_tokens=100, correct=True,
                             reason="typo: 900 tokens, not 900,000")
    actual = (900 * 3 + 100 * 15) / 1e6
    assert out["outcome"] == "failure" and out["actualCost"] == pytest.approx(actual)
    assert out["latencyMs"] is None  # a correction gives every value again
    b = svc.budget_status()
    assert b["spent"] == pytest.approx(actual)
    tier = next(t for t in b["tiers"] if t["tier"] == dec["tier"])
    assert tier["settled"] == pytest.approx(actual) and tier["reserved"] == pytest.approx(0.0)
    assert _recomputed_spend(svc.paths.ledger)[svc.today().isoformat()] == pytest.approx(actual)
    # the original is still there, unchanged, and the ledger refuses to change it
    path = svc.paths.ledger
    assert _rows(path, "SELECT outcome, actual_cost, latency_ms FROM outcomes") == [("success", 4.05, 900.0)]
    assert _rows(path, "SELECT outcome, reason FROM corrections") == [
        ("failure", "typo: 900 tokens, not 900,000")
    ]
    conn = sqlite3.connect(path)
    for sql in ("UPDATE outcomes SET actual_cost = 0", "DELETE FROM outcomes", "DELETE FROM corrections"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()
    # stats, export and the decision read the corrected outcome
    s = svc.statistics()
    assert s["costStatistics"]["totalCost"] == pytest.approx(actual)
    assert s["performanceStatistics"]["successRate"] == 0.0
    assert s["performanceStatistics"]["averageLatency"] is None and s["outcomes"] == 1
    assert svc.decision(did)["actualCost"] == pytest.approx(actual)
    assert [d["outcome"] for d in svc.decisions()] == ["failure"]
    assert svc.savings()["actualCost"] == pytest.approx(actual)
    assert svc.whatif()["recorded"]["cost"] == pytest.approx(actual)
    # audit: the original and the corrected values
    (c,) = svc.audit()["corrections"]
    assert c["decisionId"] == did and c["reason"] == "typo: 900 tokens, not 900,000"
    assert c["original"]["outcome"] == "success" and c["original"]["actualCost"] == 4.05
    assert c["previous"] == {k: v for k, v in c["original"].items() if k != "recordedAt"}
    assert c["corrected"] == {"outcome": "failure", "actualCost": pytest.approx(actual), "latencyMs": None,
                              "inputTokens": 900, "outputTokens": 100}
    # a second correction supersedes the first; its `previous` is the first correction
    svc.record_outcome(did, "success", cost=0.002, correct=True)
    assert svc.budget_status()["spent"] == pytest.approx(0.002)
    newest, older = svc.audit()["corrections"]
    assert newest["previous"]["outcome"] == "failure" and newest["corrected"]["actualCost"] == 0.002
    assert newest["original"]["actualCost"] == 4.05 and newest["reason"] is None
    assert older["corrected"]["outcome"] == "failure"


def test_corrections_are_validated_as_outcomes(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 1.0\n")
    dec = svc.route_task("architecture", "x")
    did = dec["decisionId"]
    with pytest.raises(BadInput, match="no outcome to correct"):
        svc.record_outcome(did, "success", correct=True)
    with pytest.raises(BadInput, match="a reason goes with a correction"):
        svc.record_outcome(did, "success", reason="why")
    svc.record_outcome(did, "success")
    path = svc.paths.ledger
    before = _rows(path, "SELECT * FROM rollup"), _rows(path, "SELECT count(*) FROM corrections")
    for kw, needle in (
        ({"input_tokens": 300_000}, "context window"),
        ({"output_tokens": 65_000}, "maximum output"),
        ({"cost": -1}, "cost"),
        ({"latency_ms": float("nan")}, "latency"),
        ({"reason": "a\x1b]0;pwned\a"}, "printable"),
        ({"reason": "x" * 1001}, "at most 1,000"),
    ):
        with pytest.raises(BadInput, match=needle):
            svc.record_outcome(did, "failure", correct=True, **kw)
    with pytest.raises(BadInput, match="outcome must be one of"):
        svc.record_outcome(did, "meh", correct=True)
    assert (_rows(path, "SELECT * FROM rollup"), _rows(path, "SELECT count(*) FROM corrections")) == before
    refused = make_service(registry=registry, config="daily_budget = 0\n").route_task("architecture", "y")
    assert refused["status"] == "refused"
    with pytest.raises(BadInput, match="refused"):
        svc.record_outcome(refused["decisionId"], "success", correct=True)
    # a secret pasted in the reason is redacted before it is stored
    svc.record_outcome(did, "failure", correct=True, reason="key sk-ant-api03-abcdefghijklmnopqrstuvwx")
    assert "sk-ant" not in _rows(path, "SELECT reason FROM corrections")[0][0]


def test_learning_uses_the_corrected_outcome_incrementally(make_service):
    """The incremental calibration equals a full re-read of the current outcomes after every mix of
    outcomes and corrections, and a correction changes what the router learnt."""
    svc = make_service()
    rng = random.Random(12)
    settled: list[str] = []
    types = ("documentation", "debugging", "architecture")
    for i in range(150):
        if settled and rng.random() < 0.25:
            svc.record_outcome(rng.choice(settled), rng.choice(["success", "failure", "error"]), correct=True,
                               latency_ms=rng.choice([None, 200.0, 5000.0]))
        else:
            r = svc.route_task(rng.choice(types), f"task {i}")
            if r["status"] != "refused":
                svc.record_outcome(r["decisionId"], rng.choice(["success", "failure"]),
                                   latency_ms=rng.choice([None, 300.0, 900.0]))
                settled.append(r["decisionId"])
        if rng.random() < 0.4:
            calib = svc.calibration()
            full = _observed_by_key(svc.ledger.observations())
            assert calib.by_key == full and list(calib.by_key) == list(full)
            assert calib.version == svc.ledger.outcomes_version()
    assert svc.calibration().by_key == _observed_by_key(svc.ledger.observations())
    # the full re-read itself counts each decision once, with its latest value
    current = dict(_rows(svc.paths.ledger, (
        "SELECT o.decision_id, COALESCE((SELECT c.outcome FROM corrections c WHERE c.decision_id = "
        "o.decision_id ORDER BY c.seq DESC LIMIT 1), o.outcome) FROM outcomes o")))
    obs = svc.calibration().by_key.values()
    assert sum(o.outcomes for o in obs) == len(current)
    assert sum(o.failures for o in obs) == list(current.values()).count("failure")


def test_a_correction_of_success_to_failure_lowers_the_calibrated_quality(make_service):
    svc = make_service()
    dec = svc.route_task("documentation", "x")
    svc.record_outcome(dec["decisionId"], "success")
    model = svc.registry.get(dec["selectedModel"])
    q_success = svc.observed_values(model, "documentation")["calibratedQuality"]
    version = svc.calibration().version
    svc.record_outcome(dec["decisionId"], "failure", correct=True)
    v = svc.observed_values(model, "documentation")
    assert v["calibratedQuality"] < q_success and v["successes"] == 0 and v["failures"] == 1
    assert svc.calibration().version != version
    assert svc.calibration().version_for("documentation") == svc.ledger.outcomes_version()


def test_random_outcomes_and_corrections_keep_the_rollup_equal_to_the_rows(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 2.0\n")
    rng = random.Random(5)
    live: list[str] = []
    for _ in range(120):
        roll = rng.random()
        if live and roll < 0.3:
            kw = rng.choice([{"cost": rng.uniform(0, 0.05)}, {"input_tokens": rng.randint(0, 5000)}, {}])
            svc.record_outcome(rng.choice(live), rng.choice(["success", "failure", "error"]), correct=True,
                               latency_ms=rng.choice([None, 100.0]), **kw)
        else:
            r = svc.route_task(rng.choice(["architecture", "documentation"]), "t" * rng.randint(0, 3000))
            if r["status"] != "refused" and rng.random() < 0.8:
                svc.record_outcome(r["decisionId"], "success", cost=rng.uniform(0, 0.05))
                live.append(r["decisionId"])
    path = svc.paths.ledger
    rollup = dict(_rows(path, "SELECT day, SUM(spent) FROM rollup GROUP BY day"))
    assert rollup.keys() == _recomputed_spend(path).keys()
    for day, spent in _recomputed_spend(path).items():
        assert rollup[day] == pytest.approx(spent, abs=1e-9)
    counts = _rows(path, "SELECT SUM(outcomes), SUM(successes), SUM(failures), SUM(errors) FROM rollup")[0]
    current = [o for (o,) in _rows(path, (
        "SELECT COALESCE((SELECT c.outcome FROM corrections c WHERE c.decision_id = o.decision_id "
        "ORDER BY c.seq DESC LIMIT 1), o.outcome) FROM outcomes o"))]
    assert counts == (len(current), *(current.count(k) for k in ("success", "failure", "error")))
    assert _rows(path, "SELECT count(*) FROM corrections")[0][0] > 10


def test_record_correct_on_the_cli_and_audit_shows_both_values(env):
    dec = _route(env)
    did = dec["decisionId"]
    r = run_cli("record", did, "--success", "--reason", "x", env=env)
    assert r.returncode == 2 and "reason goes with a correction" in r.stderr
    r = run_cli("record", did, "--correct", "--success", env=env)
    assert r.returncode == 2 and "no outcome to correct" in r.stderr
    assert run_cli("record", did, "--success", "--cost", "4.05", env=env).returncode == 0
    r = run_cli("record", did, "--success", "--cost", "0.004", env=env)
    assert r.returncode == 2 and "already has an outcome" in r.stderr and "--correct" in r.stderr
    r = run_cli("record", did, "--correct", "--success", "--input-tokens", "900", "--output-tokens", "100",
                "--reason", "typo", env=env)
    assert r.returncode == 0, r.stderr
    assert "corrected to success" in r.stdout
    audit = run_cli("audit", env=env)
    assert audit.returncode == 0
    text = audit.stdout
    assert "corrections: 1" in text
    assert f"{did}: success $4.05 -> success $0.004200 (900 in, 100 out); reason: typo" in text
    assert "took the day to $4.05 of $0.5000" in text  # the alert of the typo stays on record
    a = json.loads(run_cli("audit", "--json", env=env).stdout)
    assert a["corrections"][0]["original"]["actualCost"] == 4.05
    assert a["spent"] == pytest.approx(0.0042)
    s = json.loads(run_cli("stats", "--json", env=env).stdout)
    assert s["costStatistics"]["totalCost"] == pytest.approx(0.0042)
    exported = json.loads(run_cli("export", "json", env=env).stdout)
    assert exported[0]["actualCost"] == pytest.approx(0.0042)


def test_correct_over_http_with_group_commit(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 0.5\n")
    dec = svc.route_task("architecture", "x")
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as client:
        did = dec["decisionId"]
        r = client.post("/outcomes", json={"decisionId": did, "outcome": "success", "cost": 4.05})
        assert r.status_code == 200, r.text
        r = client.post("/outcomes", json={"decisionId": did, "outcome": "success", "cost": 0.001})
        assert r.status_code == 422 and "already has an outcome" in r.json()["detail"]
        r = client.post("/outcomes", json={"decisionId": did, "outcome": "failure", "cost": 0.001,
                                           "correct": True, "reason": "typo"})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "failure" and r.json()["actualCost"] == 0.001
        assert client.get(f"/decisions/{did}").json()["actualCost"] == 0.001
        assert client.get("/stats").json()["costStatistics"]["totalCost"] == pytest.approx(0.001)
        r = client.post("/outcomes", json={"decisionId": "dec_nope", "outcome": "failure", "correct": True})
        assert r.status_code == 404
        r = client.post("/outcomes", json={"decisionId": did, "outcome": "failure", "correct": "yes"})
        assert r.status_code == 422


# -- migrations ------------------------------------------------------------------------------------------


def test_migrations_need_not_be_contiguous(tmp_path, monkeypatch):
    """A ledger that has migrations 1, 2 and a later-numbered 5 (as when the branch that adds 5 is
    merged before the one that adds 3) still gets 3 once the code knows it, and keeps version 5."""
    from modelwise.ledger import migrations, sqlite

    five = (5, "a migration numbered above one merged later", ["CREATE TABLE meta_test (k TEXT PRIMARY KEY)"])
    old = tmp_path / "old.sqlite3"
    monkeypatch.setattr(sqlite, "MIGRATIONS", [*migrations.MIGRATIONS[:2], five])
    monkeypatch.setattr(sqlite, "VERSIONS", frozenset({1, 2, 5}))
    monkeypatch.setattr(sqlite, "LATEST", 5)
    sqlite.SqliteLedger(str(old)).close()
    assert _rows(old, "SELECT version FROM schema_migrations ORDER BY 1") == [(1,), (2,), (5,)]
    assert _rows(old, "SELECT name FROM sqlite_master WHERE name = 'corrections'") == []
    monkeypatch.setattr(sqlite, "MIGRATIONS", sorted([*migrations.MIGRATIONS, five]))
    monkeypatch.setattr(sqlite, "VERSIONS", frozenset({1, 2, 3, 5}))
    monkeypatch.setattr(sqlite, "LATEST", 5)
    ledger = sqlite.SqliteLedger(str(old))
    assert ledger.schema_version() == 5
    ledger.close()
    assert _rows(old, "SELECT version FROM schema_migrations ORDER BY 1") == [(1,), (2,), (3,), (5,)]
    assert _rows(old, "SELECT name FROM sqlite_master WHERE name = 'corrections'") == [("corrections",)]
    assert _rows(old, "SELECT name FROM sqlite_master WHERE name = 'meta_test'") == [("meta_test",)]
