"""Outcomes teach the router (docs/design.md, "Outcomes and learning"): settlement costs, the Beta posterior,
the switch away from a failing model, learning off, and registry versus observed values in `models` and
`explain`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwise.core.calibration import (
    Observed,
    binomial_cdf,
    calibrated_availability,
    calibrated_quality,
    clopper_pearson,
    underperforms,
)
from modelwise.core.errors import BadInput
from tests.conftest import BRIEF_REGISTRY, run_cli

DOC = "documentation"


def _route(svc, task: str = DOC, text: str = "write the README") -> dict:
    r = svc.route_task(task, text)
    assert r["status"] == "routed", r
    return r


def _perf(svc, model_id: str, task: str = DOC) -> float:
    ranking = svc.ranking(task)
    return next(e.performance for e in ranking.entries if e.model.id == model_id)


# -- the posterior, by definition ----------------------------------------------------------------------


def test_posterior_is_beta_mean_centred_on_registry_value():
    obs = Observed(successes=7, failures=3, errors=2)
    # Beta(0.85*20 + 7, 0.15*20 + 3): mean = (17 + 7) / (20 + 10)
    assert calibrated_quality(0.85, 20, obs) == pytest.approx(24 / 30)
    # availability: answered calls (10) are hits, errors (2) misses
    assert calibrated_availability(0.99, 20, obs) == pytest.approx((0.99 * 20 + 10) / 32)
    assert calibrated_quality(0.85, 20, Observed()) == 0.85
    # errors say nothing about quality
    assert calibrated_quality(0.85, 20, Observed(errors=50)) == 0.85


def test_exact_interval_by_definition():
    # 0 of 10: upper end u solves (1 - u)^10 = 0.025; 10 of 10: lower end l solves l^10 = 0.025
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025**0.1, abs=1e-9)
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025**0.1, abs=1e-9)
    lo, hi = clopper_pearson(9, 10)
    assert binomial_cdf(9, 10, hi) == pytest.approx(0.025, abs=1e-9)
    assert 1 - binomial_cdf(8, 10, lo) == pytest.approx(0.025, abs=1e-9)
    assert clopper_pearson(0, 0) is None
    assert binomial_cdf(1, 3, 0.5) == pytest.approx(0.5)
    # one failure of a 0.85 model is no evidence; ten are
    assert not underperforms(Observed(failures=1), 0.85)
    assert underperforms(Observed(failures=10), 0.85)
    assert not underperforms(Observed(successes=9, failures=1), 0.93)


# -- settlement --------------------------------------------------------------------------------------


def test_actual_cost_from_tokens_times_prices_or_given_cost(make_service):
    svc = make_service()
    a = _route(svc)
    assert a["selectedModel"] == "gpt-4o-mini"  # $0.00015 per 1k tokens, input and output alike
    r = svc.record_outcome(a["decisionId"], "success", input_tokens=3000, output_tokens=2000, latency_ms=900)
    assert r["actualCost"] == pytest.approx(5000 * 0.00015 / 1000)
    b = _route(svc)
    r = svc.record_outcome(b["decisionId"], "failure", cost=0.0123)
    assert r["actualCost"] == 0.0123
    c = _route(svc)
    r = svc.record_outcome(c["decisionId"], "error")
    assert r["actualCost"] == pytest.approx(c["estimatedCost"]) and r["actualCost"] > 0
    # only input tokens given: output tokens stay the estimate
    d = _route(svc)
    r = svc.record_outcome(d["decisionId"], "success", input_tokens=100)
    assert r["actualCost"] == pytest.approx((100 + d["estimatedTokens"]["output"]) * 0.00015 / 1000)


def test_unknown_price_is_never_zero(make_service, tmp_path):
    ledger = tmp_path / "shared.sqlite3"
    svc = make_service(ledger=ledger)
    a = _route(svc)
    b = _route(svc)
    # The registry changes and no longer lists the model that was chosen.
    doc = json.loads(BRIEF_REGISTRY.read_text())
    doc["models"] = [m for m in doc["models"] if m["id"] != "gpt-4o-mini"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    svc2 = make_service(registry=other, ledger=ledger)
    with pytest.raises(BadInput, match="price is unknown"):
        svc2.record_outcome(a["decisionId"], "success", input_tokens=1000, output_tokens=1000)
    assert svc2.decision(a["decisionId"])["outcome"] is None  # nothing written
    # with a cost it settles; without tokens or cost it settles at the (non-zero) estimate
    assert svc2.record_outcome(a["decisionId"], "success", cost=0.5)["actualCost"] == 0.5
    r = svc2.record_outcome(b["decisionId"], "success")
    assert r["actualCost"] == pytest.approx(b["estimatedCost"]) and r["actualCost"] > 0


def test_record_cli_unknown_price_exit_2_and_tokens_cost(cli_env, tmp_path):
    out = run_cli("route", DOC, "write the README", "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    dec = json.loads(out.stdout)["decisionId"]
    doc = json.loads(BRIEF_REGISTRY.read_text())
    doc["models"] = [m for m in doc["models"] if m["id"] != "gpt-4o-mini"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    bad = run_cli("record", dec, "--success", "--input-tokens", "10", "--registry", str(other), env=cli_env)
    assert (
        bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "price is unknown" in bad.stderr
    )
    ok = run_cli(
        "record", dec, "--success", "--input-tokens", "4000", "--output-tokens", "0", "--json", env=cli_env
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["actualCost"] == pytest.approx(4000 * 0.00015 / 1000)


# -- learning switches the router ----------------------------------------------------------------------


def test_failures_lower_quality_and_switch_router_but_not_with_learning_off(make_service, tmp_path):
    ledger = tmp_path / "learn.sqlite3"
    svc = make_service(ledger=ledger)
    first = _route(svc)
    assert first["selectedModel"] == "gpt-4o-mini"
    assert _perf(svc, "gpt-4o-mini") == 0.85
    ids = [first["decisionId"]] + [_route(svc)["decisionId"] for _ in range(4)]
    qualities = []
    for i, dec in enumerate(ids, start=1):
        svc.record_outcome(dec, "failure")
        qualities.append(_perf(svc, "gpt-4o-mini"))
        assert qualities[-1] == pytest.approx(0.85 * 20 / (20 + i))
    assert qualities == sorted(qualities, reverse=True)
    after = svc.route_task(DOC, "write the README", dry_run=True)
    assert after["selectedModel"] == "claude-sonnet-4"
    mini = next(c for c in after["candidates"] if c["model"] == "gpt-4o-mini")
    assert mini["performance"] == pytest.approx(17 / 25)

    off = make_service(ledger=ledger, config="[learning]\nenabled = false\n")
    r = off.route_task(DOC, "write the README", dry_run=True)
    assert r["selectedModel"] == "gpt-4o-mini"
    mini = next(c for c in r["candidates"] if c["model"] == "gpt-4o-mini")
    assert mini["performance"] == 0.85 and mini["availability"] == 0.99
    assert r["score"] == pytest.approx(0.9515, abs=5e-5)  # the brief's worked example, untouched


def test_successes_raise_quality_errors_lower_availability_latency_is_median(make_service):
    svc = make_service()
    decs = [_route(svc, "architecture", "design the system")["decisionId"] for _ in range(4)]
    assert svc.decision(decs[0])["selectedModel"] == "gpt-4o"
    svc.record_outcome(decs[0], "success", latency_ms=100)
    svc.record_outcome(decs[1], "success", latency_ms=300)
    svc.record_outcome(decs[2], "error", latency_ms=1000)
    svc.record_outcome(decs[3], "failure", latency_ms=200)
    e = next(e for e in svc.ranking("architecture").entries if e.model.id == "gpt-4o")
    assert e.performance == pytest.approx((0.95 * 20 + 2) / 23)
    assert e.availability == pytest.approx((0.99 * 20 + 3) / 24)
    assert e.latency == 250  # median of 100, 200, 300, 1000
    obs = svc.explain("architecture", "design the system")["candidates"]
    row = next(c for c in obs if c["model"] == "gpt-4o")["observed"]
    assert row == {
        "registryQuality": 0.95,
        "calibratedQuality": pytest.approx((0.95 * 20 + 2) / 23, abs=1e-6),
        "registryAvailability": 0.99,
        "calibratedAvailability": pytest.approx((0.99 * 20 + 3) / 24, abs=1e-6),
        "registryLatencyMs": 1500,
        "medianLatencyMs": 250,
        "latencies": 4,
        "outcomes": 4,
        "successes": 2,
        "failures": 1,
        "errors": 1,
        "successRate": pytest.approx(2 / 3, abs=1e-6),
        "learning": True,
    }
    # the model with no outcomes shows its registry values as calibrated ones, with zero outcomes
    sonnet = next(c for c in obs if c["model"] == "claude-sonnet-4")["observed"]
    assert sonnet["outcomes"] == 0 and sonnet["calibratedQuality"] == sonnet["registryQuality"] == 0.93


def test_prior_strength_is_configurable(make_service):
    svc = make_service(config="[learning]\nprior_strength = 5\n")
    dec = _route(svc)["decisionId"]
    svc.record_outcome(dec, "failure")
    assert _perf(svc, "gpt-4o-mini") == pytest.approx(0.85 * 5 / 6)


def test_models_cli_shows_registry_and_observed_side_by_side(cli_env):
    decs = [
        json.loads(run_cli("route", DOC, "docs", "--json", env=cli_env).stdout)["decisionId"]
        for _ in range(2)
    ]
    for dec in decs:  # both routed to GPT-4o Mini before any outcome was known
        assert run_cli("record", dec, "--failure", "--latency-ms", "800", env=cli_env).returncode == 0
    out = run_cli("models", "--task", DOC, "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    o = rows["gpt-4o-mini"]["observed"]
    assert o["registryQuality"] == 0.85 and o["outcomes"] == 2 and o["failures"] == 2
    assert o["calibratedQuality"] == pytest.approx(0.85 * 20 / 22, abs=1e-6)
    assert o["medianLatencyMs"] == 800
    assert rows["gpt-4o"]["observed"] is None  # no outcomes, nothing observed
    text = run_cli("models", "--task", DOC, env=cli_env)
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("gpt-4o-mini"))
    assert "0.850" in line and f"{0.85 * 20 / 22:.3f}" in line and "n=2" in line
    # without a task type: the counts over all task types
    every = {r["id"]: r for r in json.loads(run_cli("models", "--json", env=cli_env).stdout)}
    assert every["gpt-4o-mini"]["observed"]["failures"] == 2
    assert every["gpt-4o-mini"]["observed"]["calibratedQuality"] is None


def test_explain_json_rows_carry_observed_values(cli_env):
    out = run_cli("explain", DOC, "docs", "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["candidates"]
    assert {c["model"] for c in rows} == {"gpt-4o", "claude-sonnet-4", "gpt-4o-mini"}
    for c in rows:
        o = c["observed"]
        assert o["outcomes"] == 0 and o["registryQuality"] == o["calibratedQuality"] == c["performance"]


def test_cli_learning_commands_do_not_import_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys; from modelwise import cli; cli.build_parser(); "
        "from modelwise.cli.commands import audit, evaluate, savings; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    assert out.stdout.strip() == "False", out.stderr
