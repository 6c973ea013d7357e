"""`explain` (issue 7): every number checked by its definition, by routing through the real service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwise.core.settings import WEIGHT_NAMES, Weights
from tests.conftest import BRIEF_REGISTRY, run_cli

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry.json"
STEP = 1e-7


def winner_with(svc, task: str, desc: str, weights: Weights, budget=None) -> str | None:
    return svc.route_task(task, desc, budget, weights=weights, dry_run=True)["selectedModel"]


CASES = [
    (BRIEF_REGISTRY, "documentation", "write the README", None),
    (BRIEF_REGISTRY, "code_generation", "a parser", None),
    (SHIPPED, "documentation", "write the docs", None),
    (SHIPPED, "code_generation", "a small parser for TOML", None),
    (SHIPPED, "architecture", "design the storage layer", None),
    (SHIPPED, "math", "prove it", 0.002),
]


@pytest.mark.parametrize("registry,task,desc,budget", CASES)
def test_each_flip_changes_the_winner_exactly_there(make_service, registry, task, desc, budget):
    svc = make_service(registry=registry)
    r = svc.explain(task, desc, budget)
    base = Weights(**r["weights"])
    winner = r["selectedModel"]
    assert winner is not None
    assert r["flips"], "every case here has at least one flip"
    for f in r["flips"]:
        v = f["value"]
        beyond = v + STEP if f["direction"] == "up" else v - STEP
        before = v - STEP if f["direction"] == "up" else v + STEP
        assert beyond >= 0
        assert winner_with(svc, task, desc, base.replace(f["weight"], beyond), budget) == f["model"], f
        got_before = winner_with(svc, task, desc, base.replace(f["weight"], before), budget)
        assert got_before != f["model"], f
        # Between the current value and the flip nothing changes: the winner is still the winner.
        between = (v + f["current"]) / 2
        if abs(between - f["current"]) > STEP:
            assert winner_with(svc, task, desc, base.replace(f["weight"], between), budget) == winner, f


@pytest.mark.parametrize("registry,task,desc,budget", CASES)
def test_no_flip_means_no_change_along_that_weight(make_service, registry, task, desc, budget):
    """Where no flip is reported in a direction, sweeping the weight that way never changes the winner."""
    svc = make_service(registry=registry)
    r = svc.explain(task, desc, budget)
    base = Weights(**r["weights"])
    reported = {(f["weight"], f["direction"]) for f in r["flips"]}
    for name in WEIGHT_NAMES:
        cur = getattr(base, name)
        if (name, "up") not in reported:
            for v in (cur * 1.5 + 0.05, cur + 1, cur + 10, cur + 1000):
                assert winner_with(svc, task, desc, base.replace(name, v), budget) == r["selectedModel"]
        if (name, "down") not in reported and cur > 0:
            for v in (cur * 0.75, cur * 0.5, cur * 0.1, 1e-9):
                assert winner_with(svc, task, desc, base.replace(name, v), budget) == r["selectedModel"]


def test_flips_on_the_briefs_example(make_service):
    """The brief's documentation example by hand: GPT-4o Mini wins; Claude Sonnet 4 takes over when cost
    weighs less than 0.0772 (0.4+0.3·0.85+0.2·0.99+k·0.985 = 0.4+0.3·0.93+0.2·0.98+k·0.7)."""
    svc = make_service()
    r = svc.explain("documentation", "docs")
    assert r["selectedModel"] == "gpt-4o-mini"
    cost_down = [f for f in r["flips"] if f["weight"] == "cost" and f["direction"] == "down"]
    assert len(cost_down) == 1
    k = (0.3 * (0.93 - 0.85) + 0.2 * (0.98 - 0.99)) / (0.985 - 0.7)
    assert cost_down[0]["value"] == pytest.approx(k, abs=1e-12)
    assert cost_down[0]["model"] == "claude-sonnet-4"


@pytest.mark.parametrize("registry,task,desc,budget", CASES)
def test_leads_add_up_to_the_margin_by_component(make_service, registry, task, desc, budget):
    svc = make_service(registry=registry)
    r = svc.explain(task, desc, budget)
    rows = {c["model"]: c for c in r["candidates"]}
    w = rows[r["selectedModel"]]
    norm = Weights(**r["weights"]).normalised()
    assert r["leads"]
    prev = 0.0
    for lead in r["leads"]:
        o = rows[lead["model"]]
        assert o["eligible"]
        assert lead["lead"] == pytest.approx(w["total"] - o["total"], abs=2e-6)
        assert lead["lead"] >= prev - 1e-12  # the next models, in order
        prev = lead["lead"]
        parts_sum = sum(p["weighted"] for p in lead["components"].values())
        assert parts_sum == pytest.approx(lead["lead"], abs=1e-12)
        for i, name in enumerate(WEIGHT_NAMES):
            p = lead["components"][name]
            assert p["weight"] == pytest.approx(norm[i])
            assert p["weighted"] == pytest.approx(norm[i] * (w[name] - o[name]), abs=2e-6)
        best = max(WEIGHT_NAMES, key=lambda n: lead["components"][n]["weighted"])
        assert lead["decidedBy"] == (best if lead["components"][best]["weighted"] > 0 else None)
    # The first lead is the margin over the runner-up.
    assert r["leads"][0]["lead"] == pytest.approx(r["margin"], abs=2e-6)


@pytest.mark.parametrize("registry,task,desc,budget", CASES)
def test_exclusions_cover_every_ineligible_model(make_service, registry, task, desc, budget):
    svc = make_service(registry=registry)
    r = svc.explain(task, desc, budget)
    out = [c for c in r["candidates"] if not c["eligible"]]
    groups = r["exclusions"]
    assert sum(g["count"] for g in groups if g["kind"] != "remaining-budget") == len(out)
    reasons = {c["model"]: c["reason"] for c in out}
    for g in groups:
        assert 1 <= len(g["examples"]) <= 3
        for ex in g["examples"]:
            if g["kind"] != "remaining-budget":
                assert reasons[ex["model"]] == ex["reason"]


def test_exclusions_group_a_constraint(make_service):
    svc = make_service(registry=SHIPPED)
    r = svc.explain("code_generation", "x", constraints={"minQuality": 0.68})
    kinds = {g["kind"]: g for g in r["exclusions"]}
    assert "min-quality" in kinds
    capable_low = [
        c for c in r["candidates"] if c["capability"] == 1 and c["performance"] < 0.68
    ]
    assert kinds["min-quality"]["count"] == len(capable_low)
    assert "minQuality" in r["summary"] or "minQuality" in kinds["min-quality"]["label"]


@pytest.mark.parametrize("registry,task,desc,budget", CASES[:4])
def test_grid_cells_are_what_the_router_picks(make_service, registry, task, desc, budget):
    svc = make_service(registry=registry)
    r = svc.explain(task, desc, budget)
    g = r["grid"]
    base = Weights(**r["weights"])
    assert len(g["winners"]) == 6 and all(len(line) == 6 for line in g["winners"])
    marks = set()
    for i, rv in enumerate(g["rows"]["values"]):
        for j, cv in enumerate(g["cols"]["values"]):
            w = base.replace(g["rows"]["weight"], rv).replace(g["cols"]["weight"], cv)
            assert g["winners"][i][j] == winner_with(svc, task, desc, w, budget)
            marks.add(g["legend"][g["winners"][i][j]]["mark"])
    assert len(marks) == len(g["legend"])


def test_summary_names_the_winner_and_the_reason(make_service):
    svc = make_service()
    r = svc.explain("documentation", "docs")
    s = r["summary"]
    assert "GPT-4o Mini" in s and "Claude Sonnet 4" in s and "cost" in s
    assert "0.07719" in s  # the nearest flip


def test_explain_records_nothing(make_service):
    svc = make_service()
    svc.explain("documentation", "docs")
    assert svc.decisions(since="7d") == []


def test_cli_explain_json_and_grid(cli_env):
    p = run_cli("explain", "documentation", "write the README", "--json", env=cli_env)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for key in ("flips", "leads", "summary", "grid", "exclusions", "candidates", "margin", "flip"):
        assert key in r
    assert all({"weight", "value", "model"} <= set(f) for f in r["flips"])
    p = run_cli("explain", "documentation", "write the README", "--grid", env=cli_env)
    assert p.returncode == 0, p.stderr
    assert "winner by weight" in p.stdout and "= GPT-4o Mini (gpt-4o-mini)" in p.stdout
    assert "flip points" in p.stdout and "the winner's lead" in p.stdout
    assert "GPT-4o Mini wins documentation" in p.stdout


def test_cli_explain_prints_observed_values_after_outcomes(cli_env):
    """Registry against calibrated values, with the outcomes behind them, once outcomes exist."""
    from tests.conftest import run_cli

    before = run_cli("explain", "documentation", "Write the README", env=cli_env).stdout
    assert "observed over" not in before  # no outcomes yet: nothing to compare
    ids = [json.loads(run_cli("route", "documentation", "Write the README", "--json",
                              env=cli_env).stdout)["decisionId"]
           for _ in range(3)]
    for did in ids:  # all three went to GPT-4o Mini before any outcome was known
        assert run_cli("record", did, "--failure", "--latency-ms", "700", env=cli_env).returncode == 0
    out = run_cli("explain", "documentation", "Write the README", env=cli_env).stdout
    line = next(x for x in out.splitlines() if "observed over" in x)
    assert "GPT-4o Mini: observed over 3 outcomes: quality 0.850 -> 0.739" in line  # 0.85*20/23
    assert "median latency 700 ms" in line


def test_flips_and_grid_when_degraded_by_the_budget(make_service, clock):
    """Under a nearly spent budget the field is what still fits; flips and the grid are over that field."""
    svc = make_service(registry=SHIPPED, config="daily_budget = 0.02\n")
    while svc.route_task("code_generation", "x" * 8000, dry_run=True)["wouldBe"] == "routed":
        svc.route_task("code_generation", "x" * 8000)
        clock.advance(1)
    r = svc.explain("code_generation", "x" * 8000)
    assert r["wouldBe"] == "degraded", r["reason"]
    base = Weights(**r["weights"])
    limit = min(r["budget"]["dailyRemaining"], r["budget"]["tierRemaining"]) + r["estimatedCost"]
    assert r["flips"]
    for f in r["flips"]:
        beyond = f["value"] + (STEP if f["direction"] == "up" else -STEP)
        got = winner_with(svc, "code_generation", "x" * 8000, base.replace(f["weight"], beyond))
        assert got == f["model"], f
    for lead in r["leads"]:
        assert [c for c in r["candidates"] if c["model"] == lead["model"]][0]["estimatedCost"] <= limit + 1e-9
    kinds = {g["kind"] for g in r["exclusions"]}
    assert "remaining-budget" in kinds
    g = r["grid"]
    for i, rv in enumerate(g["rows"]["values"][::2]):
        for j, cv in enumerate(g["cols"]["values"][::2]):
            w = base.replace("cost", rv).replace("performance", cv)
            assert g["winners"][2 * i][2 * j] == winner_with(svc, "code_generation", "x" * 8000, w)


def test_explain_of_a_refusal(make_service):
    svc = make_service()
    r = svc.explain("architecture", "design", constraints={"minQuality": 0.99})
    assert r["selectedModel"] is None and r["flips"] == [] and r["leads"] == []
    assert r["exclusions"][0]["kind"] in ("not-capable", "min-quality")
    assert sum(g["count"] for g in r["exclusions"]) == 3
    assert r["summary"].startswith("No model is chosen for architecture")
    assert all(cell is None for line in r["grid"]["winners"] for cell in line)


def test_cli_grid_values(cli_env):
    p = run_cli("explain", "documentation", "docs", "--grid-values", "0.05,0.5", "--json", env=cli_env)
    assert p.returncode == 0, p.stderr
    g = json.loads(p.stdout)["grid"]
    assert g["rows"]["values"] == [0.05, 0.5] and len(g["winners"]) == 2
    # By hand, p·q + 0.2·a + k·c (capability is 1 for all): at cost 0.05 and performance 0.5, GPT-4o
    # 0.6980 > Sonnet 0.6960 > Mini 0.6722; at cost 0.5 and performance 0.05, Mini 0.7330 > Sonnet 0.5925.
    assert g["winners"][0][1] == "gpt-4o" and g["winners"][1][0] == "gpt-4o-mini"
    p = run_cli("explain", "documentation", "docs", "--grid-values", "-1", env=cli_env)
    assert p.returncode == 2


def test_breakdown_lead_over_the_runner_up_adds_up_to_the_margin(make_service):
    """The console's "why" line: the winner's weighted lead per component over the runner-up."""
    svc = make_service()
    b = svc.breakdown("code_generation", "x", None, (0.4, 0.3, 0.2, 0.1))
    lead = b["lead"]
    assert lead["model"] == b["runnerUp"]["model"]
    assert sum(c["weighted"] for c in lead["components"].values()) == pytest.approx(b["margin"])
    assert lead["decidedBy"] == "cost" and lead["behindOn"] == "performance"  # Sonnet 4 over GPT-4o
