"""`savings` reproduces the brief's tables on ledgers made here; `audit` reports spend, alerts, refusals,
degradations and underperforming models with their evidence."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

# The brief's per-task costs and a call of 5,000 tokens (3,000 in, 2,000 out): on GPT-4o ($0.005 per 1k
# tokens, input and output alike) that is the brief's $0.025 per task.
TOKENS = {"input_tokens": 3000, "output_tokens": 2000}
COST = {"gpt-4o-mini": 0.0015, "claude-sonnet-4": 0.009, "gpt-4o": 0.025}


def _run(svc, task: str, n: int, expect: str) -> None:
    for i in range(n):
        r = svc.route_task(task, f"{task} task {i}")
        assert r["selectedModel"] == expect, r
        svc.record_outcome(r["decisionId"], "success", cost=COST[expect], **TOKENS)


def test_documentation_scenario(make_service):
    """Brief, scenario 1: 100 documentation tasks a day on GPT-4o Mini against GPT-4o."""
    svc = make_service()
    _run(svc, "documentation", 100, "gpt-4o-mini")
    for baseline in ("gpt-4o", None):  # the default baseline is the best-rated capable model: GPT-4o
        s = svc.savings(baseline=baseline)
        assert s["baselineCost"] == pytest.approx(2.50)
        assert s["actualCost"] == pytest.approx(0.15)
        assert s["savings"] == pytest.approx(2.35)
        assert s["savingsPercent"] == pytest.approx(94.0)
        assert s["days"] == 1 and s["decisions"] == 100 and s["settled"] == 100
        assert s["annualBaselineCost"] == pytest.approx(912.50)
        assert s["annualActualCost"] == pytest.approx(54.75)
        assert s["annualSavings"] == pytest.approx(857.75)
    assert svc.savings()["baseline"]["byTaskType"] == {"documentation": "gpt-4o"}


def test_mixed_workload_scenario(make_service):
    """Brief, scenario 2: 50 simple, 20 medium, 5 complex tasks; the router picks the brief's models."""
    svc = make_service()
    _run(svc, "documentation", 25, "gpt-4o-mini")
    _run(svc, "boilerplate", 25, "gpt-4o-mini")
    _run(svc, "debugging", 10, "claude-sonnet-4")
    _run(svc, "refactoring", 10, "claude-sonnet-4")
    _run(svc, "architecture", 3, "gpt-4o")
    _run(svc, "design", 2, "gpt-4o")
    s = svc.savings(baseline="gpt-4o")
    assert s["baselineCost"] == pytest.approx(1.875)
    assert s["actualCost"] == pytest.approx(0.075 + 0.180 + 0.125)
    assert s["savings"] == pytest.approx(1.495)
    assert round(s["savingsPercent"]) == 80
    assert s["annualBaselineCost"] == pytest.approx(684.375)  # brief: $684.38
    assert s["annualActualCost"] == pytest.approx(138.70)
    assert s["annualSavings"] == pytest.approx(545.675)  # brief: $545.68
    assert s["annualSavings"] == pytest.approx(s["savings"] / s["days"] * 365)


@pytest.mark.clock
def test_days_are_calendar_days_with_decisions_and_unsettled_use_estimates(make_service, clock):
    svc = make_service(config='timezone = "UTC"\n')  # the days asserted below are UTC days
    a = svc.route_task("documentation", "x" * 400)  # estimate: 1,100 input + 800 output tokens
    svc.record_outcome(a["decisionId"], "success", cost=0.001, input_tokens=1000, output_tokens=1000)
    clock.advance(2 * 86400)  # a day without decisions in between
    b = svc.route_task("documentation", "x" * 400)  # left unsettled: its estimate counts
    refused = make_service(config="daily_budget = 0.0\n").route_task("documentation", "y")
    assert refused["status"] == "refused"
    s = svc.savings(baseline="gpt-4o")
    assert s["days"] == 2 and s["decisions"] == 2 and s["settled"] == 1
    base_a = 2000 * 5 / 1e6
    base_b = (1100 + 800) * 5 / 1e6
    assert s["baselineCost"] == pytest.approx(base_a + base_b)
    assert s["actualCost"] == pytest.approx(0.001 + b["estimatedCost"])
    assert s["annualSavings"] == pytest.approx((s["baselineCost"] - s["actualCost"]) / 2 * 365)
    assert [d["day"] for d in s["byDay"]] == ["2026-11-26", "2026-11-28"]
    assert s["byDay"][0]["savings"] == pytest.approx(base_a - 0.001)
    only_last = svc.savings(baseline="gpt-4o", since="today")
    assert only_last["days"] == 1 and only_last["decisions"] == 1
    # a baseline cheaper than what was spent gives negative savings, not a clamp
    assert svc.savings(baseline="gpt-4o-mini")["savings"] < 0


@pytest.mark.clock
def test_savings_cli_json_and_unknown_baseline(cli_env):
    r = json.loads(run_cli("route", "documentation", "docs", "--json", env=cli_env).stdout)
    assert (
        run_cli(
            "record",
            r["decisionId"],
            "--success",
            "--cost",
            "0.0015",
            "--input-tokens",
            "3000",
            "--output-tokens",
            "2000",
            env=cli_env,
        ).returncode
        == 0
    )
    out = run_cli("savings", "--baseline", "gpt-4o", "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert {"baselineCost", "actualCost", "savings", "savingsPercent", "days", "annualSavings"} <= set(s)
    assert s["baselineCost"] == pytest.approx(0.025) and s["savings"] == pytest.approx(0.0235)
    text = run_cli("savings", env=cli_env)
    assert text.returncode == 0 and "annual" in text.stdout and "94.0%" in text.stdout
    bad = run_cli("savings", "--baseline", "no-such-model", env=cli_env)
    assert bad.returncode == 2 and "unknown baseline model 'no-such-model'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_audit_reports_spend_refusals_degradations_alerts_and_underperformers(make_service, clock):
    cfg = 'daily_budget = 0.1\ntimezone = "UTC"\n'  # the days asserted below are UTC days
    svc = make_service(config=cfg)
    # complex tier: $0.03. GPT-4o (~$0.035) does not fit, Claude Sonnet 4 (~$0.021) does: degraded.
    deg = svc.route_task("architecture", "plan it", agent="planner")
    assert deg["status"] == "degraded" and deg["selectedModel"] == "claude-sonnet-4"
    ref = svc.route_task("architecture", "plan it again", agent="planner")
    assert ref["status"] == "refused"
    svc.record_outcome(deg["decisionId"], "success", cost=0.085)
    # GPT-4o Mini fails ten times on documentation; Claude Sonnet 4 then does 9 of 10 (registry 0.93).
    mini = [svc.route_task("documentation", f"doc {i}", agent="writer") for i in range(10)]
    assert {m["selectedModel"] for m in mini} == {"gpt-4o-mini"}
    assert any("of the $0.1000 daily budget" in w for w in mini[0]["warnings"]), mini[0]["warnings"]
    for m in mini:
        svc.record_outcome(m["decisionId"], "failure")
    a = svc.audit()
    assert a["byStatus"] == {"routed": 10, "degraded": 1, "refused": 1}
    assert a["spent"] == pytest.approx(0.085 + sum(m["estimatedCost"] for m in mini))
    assert sum(g["spent"] for g in a["byTier"]) == pytest.approx(a["spent"])
    assert sum(g["spent"] for g in a["byAgent"]) == pytest.approx(a["spent"])
    assert {g["agent"]: g["refused"] for g in a["byAgent"]} == {"planner": 1, "writer": 0}
    assert [g["day"] for g in a["byDay"]] == ["2026-11-26"]
    by_model = {g["model_id"]: g for g in a["byModel"]}
    assert by_model["gpt-4o-mini"]["failures"] == 10 and by_model["claude-sonnet-4"]["degraded"] == 1
    assert [d["decisionId"] for d in a["refused"]] == [ref["decisionId"]]
    assert "tier's $0.0300 allocation is exhausted" in a["refused"][0]["reason"]
    assert [d["decisionId"] for d in a["degraded"]] == [deg["decisionId"]]
    assert [al["threshold"] for al in a["alerts"]] == [0.8, 1.0]
    (u,) = a["underperforming"]
    assert (u["model"], u["taskType"], u["successes"], u["failures"]) == (
        "gpt-4o-mini",
        "documentation",
        0,
        10,
    )
    assert u["observedRate"] == 0 and u["registryQuality"] == 0.85
    assert u["interval"][1] < 0.85 and u["calibratedQuality"] == pytest.approx(17 / 30, abs=1e-6)

    # 9 of 10 for a 0.93 model is within its uncertainty: not flagged
    svc2 = make_service(ledger=svc.paths.ledger.parent / "second.sqlite3")
    runs = [svc2.route_task("debugging", f"bug {i}") for i in range(10)]
    assert {r["selectedModel"] for r in runs} == {"claude-sonnet-4"}
    for i, r in enumerate(runs):
        svc2.record_outcome(r["decisionId"], "success" if i else "failure")
    assert svc2.audit()["underperforming"] == []

    clock.advance(30 * 86400)
    later = svc.audit(since="7d")
    assert later["decisions"] == 0 and later["refused"] == []
    assert len(later["underperforming"]) == 1  # judged on every outcome the router learns from


@pytest.mark.clock
def test_audit_cli(cli_env):
    r = json.loads(run_cli("route", "documentation", "docs", "--json", "--agent", "ci", env=cli_env).stdout)
    run_cli("record", r["decisionId"], "--failure", env=cli_env)
    out = run_cli("audit", "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert a["byAgent"][0]["agent"] == "ci" and a["byModel"][0]["failures"] == 1
    text = run_cli("audit", env=cli_env)
    assert text.returncode == 0 and "by agent:" in text.stdout and "underperforming models: 0" in text.stdout
    assert run_cli("audit", "--since", "yesterday-ish", env=cli_env).returncode == 2
