"""The flip point (issue 13): the smallest change of one weight that changes the winner, whoever then
wins. `route` (JSON and words), `explain`, the console's breakdown and the HTTP answer agree on it,
and moving that weight just past it changes the winner while stopping just short does not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from modelwise.core.routing import decide, decision_field, flip_point, nearest_flip, weight_flips
from modelwise.core.scoring import rank_models
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import tier_of
from modelwise.loading import load_registry
from tests.conftest import run_cli
from tests.live import serving

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry.json"
DESC = "Write the release notes"
STEP = 1e-7
WEIGHTS = [
    "0.4,0.3,0.2,0.1", "0.25,0.25,0.25,0.25", "0.1,0.5,0.2,0.2", "0.3,0.1,0.1,0.5", "0.5,0.4,0.05,0.05",
]


def change(f: dict) -> float:
    return abs(f["value"] - f["current"])


def winner_with(svc, task: str, desc: str, weights: Weights, budget=None) -> str | None:
    return svc.route_task(task, desc, budget, weights=weights, dry_run=True)["selectedModel"]


def check_flip(svc, task: str, weights: str | None, budget=None, desc: str = DESC) -> dict | None:
    """route's flip is the smallest of explain's flips, past it the winner changes, short of it not."""
    route = svc.route_task(task, desc, budget, weights=weights, dry_run=True)
    r = svc.explain(task, desc, budget, weights=weights)
    flip, flips = route["flip"], r["flips"]
    assert r["flip"] == flip  # explain carries the same route answer
    if route["selectedModel"] is None:
        assert flip is None and flips == []
        return None
    if not flips:
        assert flip is None, (task, weights)
        return None
    assert flip in flips, (task, weights, flip)
    assert change(flip) == min(change(f) for f in flips), (task, weights, flip)
    # The console's breakdown (with today's spend, as the console reads it) says the same.
    spent = svc.ledger.spent_by_tier(svc.today().isoformat()) if svc.ledger_exists() else {}
    b = svc.breakdown(task, desc, budget, weights, spent_by_tier=spent)
    assert b["flip"] == flip
    base = Weights(**route["weights"])
    up = flip["direction"] == "up"
    past = flip["value"] + (STEP if up else -STEP)
    short = flip["value"] - (STEP if up else -STEP)
    assert past >= 0
    assert winner_with(svc, task, desc, base.replace(flip["weight"], past), budget) == flip["model"], flip
    got = winner_with(svc, task, desc, base.replace(flip["weight"], short), budget)
    assert got == route["selectedModel"], flip
    # The console's sensitivity grid over that weight (as both axes, so the column decides) at the two
    # values shows the same change of winner.
    name = flip["weight"]
    g = svc.sensitivity_grid(task, desc, budget, rows=name, cols=name, values=(short, past), weights=weights)
    assert g["winners"][0] == [route["selectedModel"], flip["model"]]
    return flip


@pytest.mark.parametrize("weights", WEIGHTS)
def test_route_flip_is_the_smallest_of_explains_flips_for_every_task_type(make_service, weights):
    svc = make_service(registry=SHIPPED)
    found = 0
    not_runner_up = 0
    for task in Settings().task_types:
        flip = check_flip(svc, task, weights)
        if flip is not None:
            found += 1
            rows = svc.route_task(task, DESC, weights=weights, dry_run=True)["candidates"]
            eligible = [c["model"] for c in rows if c["eligible"] and not c["winner"]]
            not_runner_up += bool(eligible) and flip["model"] != eligible[0]
    assert found > 0, "the shipped registry has flips under these weights"
    if weights == WEIGHTS[0]:
        # The point of the redefinition: with the shipped weights some flips go to a model that is not
        # the runner-up (documentation: cost at 0.143 hands the win to DeepSeek V4.1 Flash).
        assert not_runner_up > 0


def test_the_documentation_example(make_service):
    svc = make_service(registry=SHIPPED)
    flip = check_flip(svc, "documentation", None)
    assert flip is not None and flip["modelName"] == "DeepSeek V4.1 Flash" and flip["weight"] == "cost"
    assert flip["value"] == pytest.approx(0.1432, abs=5e-5)
    r = svc.route_task("documentation", DESC, dry_run=True)
    runner_up = [c for c in r["candidates"] if c["eligible"] and not c["winner"]][0]
    assert runner_up["model"] != flip["model"]  # the runner-up-only definition found no flip here


def test_flip_within_a_small_task_budget(make_service):
    """Models over the task budget cannot be the winner after the flip either."""
    svc = make_service(registry=SHIPPED)
    found = 0
    for task in ("math", "documentation", "architecture"):
        for weights in WEIGHTS[:3]:
            flip = check_flip(svc, task, weights, budget=0.002)
            if flip is not None:
                found += 1
                r = svc.route_task(task, DESC, 0.002, weights=weights, dry_run=True, all_candidates=True)
                row = [c for c in r["candidates"] if c["model"] == flip["model"]][0]
                assert row["eligible"] and row["estimatedCost"] <= 0.002
    assert found > 0


def test_flip_when_degraded_by_the_remaining_budget(make_service, clock):
    """Under a nearly spent budget only the models that still fit can take the win."""
    svc = make_service(registry=SHIPPED, config="daily_budget = 0.02\n")
    desc = "x" * 8000
    while svc.route_task("code_generation", desc, dry_run=True)["wouldBe"] == "routed":
        svc.route_task("code_generation", desc)
        clock.advance(1)
    assert svc.route_task("code_generation", desc, dry_run=True)["wouldBe"] == "degraded"
    found = 0
    for weights in WEIGHTS:
        flip = check_flip(svc, "code_generation", weights, desc=desc)
        if flip is not None:
            found += 1
            r = svc.route_task("code_generation", desc, weights=weights, dry_run=True, all_candidates=True)
            # what is left after this decision's own reservation, plus that reservation
            left = min(r["budget"]["dailyRemaining"], r["budget"]["tierRemaining"]) + r["estimatedCost"]
            row = [c for c in r["candidates"] if c["model"] == flip["model"]][0]
            assert row["estimatedCost"] <= left + 1e-9
    assert found > 0


def test_cli_route_and_explain_agree_on_the_flip(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    env = {
        "MODELWISE_REGISTRY": str(SHIPPED),
        "MODELWISE_LEDGER": str(tmp_path / "l.sqlite3"),
        "MODELWISE_CONFIG": str(cfg),
    }
    p = run_cli("route", "documentation", DESC, "--dry-run", "--json", env=env)
    assert p.returncode == 0, p.stderr
    flip = json.loads(p.stdout)["flip"]
    e = run_cli("explain", "documentation", DESC, "--json", env=env)
    assert e.returncode == 0, e.stderr
    flips = json.loads(e.stdout)["flips"]
    assert flip in flips and change(flip) == min(change(f) for f in flips)
    assert flip["modelName"] == "DeepSeek V4.1 Flash"
    words = run_cli("route", "documentation", DESC, "--dry-run", env=env)
    assert words.returncode == 0, words.stderr
    said = f"flip: DeepSeek V4.1 Flash would win if cost weighed {flip['value']:.4g} instead of 0.1"
    assert said in words.stdout


def test_http_route_answers_the_same_flip(make_service):
    svc = make_service(registry=SHIPPED)
    expected = svc.route_task("documentation", DESC, dry_run=True)["flip"]
    assert expected is not None
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/route", json={"type": "documentation", "description": DESC, "dryRun": True})
        assert r.status_code == 200, r.text
        assert r.json()["flip"] == expected
        r = c.post(
            "/route",
            json={"type": "knowledge", "description": DESC, "dryRun": True, "weights": {"cost": 0.5}},
        )
        assert r.status_code == 200, r.text
        got = r.json()["flip"]
    assert got == svc.route_task("knowledge", DESC, weights={"cost": 0.5}, dry_run=True)["flip"]


def test_both_ways_of_finding_the_flip_point_agree_with_the_full_scan():
    """flip_point's first call (a pruned scan) and later ones (the memoised crossings) give exactly
    nearest_flip(weight_flips(...)) over the decision's field, for random task sizes and budget limits."""
    models = load_registry(SHIPPED).models
    settings = Settings()
    rng = random.Random(13)
    checked = 0
    for weights in WEIGHTS:
        w = Weights.parse(weights)
        for task in settings.task_types:
            ranking = rank_models(models, task, tier_of(settings, task), w, settings)
            for _ in range(4):
                tin, tout = rng.randint(100, 60_000), rng.randint(100, 8_000)
                budget = rng.choice([0.001, 0.01, 0.1, 1.0])
                limit = rng.choice([None, 0.0005, 0.005, 0.05])
                c = decide(ranking, tin, tout, budget, limit)
                if c.winner is None:
                    continue
                field = decision_field(ranking, c.floor_dropped, tin, tout, budget, limit)
                full = nearest_flip(weight_flips(w.as_tuple(), c.winner, field, tin, tout))
                for _twice in range(2):
                    got = flip_point(ranking, c.winner, c.floor_dropped, tin, tout, budget, limit)
                    assert got == full, (task, weights, tin, tout, budget, limit)
                checked += full is not None
    assert checked > 50
