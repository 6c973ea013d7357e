"""What-if replay (issue 7): replaying with what was used reproduces the record exactly; other weights
give what routing with them would have given, with the day's budget simulated."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from modelwise.core.settings import Weights
from tests.conftest import run_cli

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry.json"
# Descriptions are not what is tested: store none (no redaction pass over 200 kB) and skip fsync.
FAST = 'store_descriptions = "none"\nsynchronous = "normal"\n'
WEIGHT_CHOICES = [None, "0.4,0.3,0.2,0.1", "0.1,0.6,0.1,0.2", "0.3,0.2,0.1,0.4"]


def build_ledger(svc, clock, n: int, seed: int = 7, outcomes: float = 0.4, big: bool = True) -> list[dict]:
    """`n` decisions of every task type with mixed weights, constraints and sizes, outcomes on some."""
    rng = random.Random(seed)
    types = svc.settings.task_types
    out = []
    for _ in range(n):
        t = rng.choice(types)
        size = rng.choice([10, 400, 4000, 40_000 if big else 4000, 200_000 if big else 8000])
        constraints = rng.choice([None, None, {"minQuality": 0.6}, {"maxLatencyMs": 5000}])
        budget = rng.choice([None, None, 0.05, 2.0])
        d = svc.route_task(t, "x" * size, budget, weights=rng.choice(WEIGHT_CHOICES), constraints=constraints)
        out.append(d)
        clock.advance(rng.choice([1, 7, 60]))
        if d["status"] != "refused" and rng.random() < outcomes:
            svc.record_outcome(
                d["decisionId"],
                rng.choice(["success", "success", "failure", "error"]),
                latency_ms=rng.choice([None, 300.0, 1200.0, 9000.0]),
                input_tokens=rng.choice([None, 800]),
                cost=rng.choice([None, None, 0.0004]),
            )
            clock.advance(rng.choice([0, 2]))
    return out


@pytest.fixture
def day_ledger(make_service, clock):
    """A few hundred decisions over the shipped registry under a small daily budget: some degraded, some
    refused, many settled (with learning on, so calibration moves during the day)."""
    svc = make_service(registry=SHIPPED, config=FAST + "daily_budget = 0.4\n")
    decisions = build_ledger(svc, clock, 360)
    statuses = {d["status"] for d in decisions}
    assert {"routed", "degraded", "refused"} <= statuses, statuses
    return svc, decisions


def test_replaying_what_was_used_reproduces_the_record(day_ledger):
    svc, decisions = day_ledger
    r = svc.whatif()  # each decision's own weights
    assert r["decisions"] == len(decisions)
    assert r["changed"] == 0 and r["statusChanged"] == 0
    assert r["replayed"]["cost"] == r["recorded"]["cost"]
    assert r["replayed"]["models"] == r["recorded"]["models"]
    assert r["replayed"]["statuses"] == r["recorded"]["statuses"]
    assert r["replayed"]["quality"] == r["recorded"]["quality"]
    # The recorded side is what the ledger says.
    stats = svc.statistics()
    assert r["recorded"]["cost"] == pytest.approx(stats["costStatistics"]["totalCost"], abs=1e-9)
    assert r["recorded"]["statuses"].get("refused", 0) == stats["refused"]
    routed = [d for d in decisions if d["status"] != "refused"]
    mix: dict[str, int] = {}
    for d in routed:
        mix[d["selectedModel"]] = mix.get(d["selectedModel"], 0) + 1
    assert r["recorded"]["models"] == mix


def test_replay_with_the_same_weights_for_all_reproduces_a_single_weight_day(make_service, clock):
    svc = make_service(registry=SHIPPED, config=FAST + "daily_budget = 0.3\n")
    rng = random.Random(3)
    for _ in range(200):
        svc.route_task(rng.choice(svc.settings.task_types), "y" * rng.choice([100, 30_000, 150_000]))
        clock.advance(5)
    r = svc.whatif("0.4,0.3,0.2,0.1")
    assert r["statusChanged"] == 0 and r["changed"] == 0
    assert r["recorded"]["statuses"].get("degraded")  # free models exist: nothing is refused here
    assert r["replayed"]["cost"] == r["recorded"]["cost"]


def test_other_weights_give_what_routing_with_them_gives(make_service, clock, tmp_path):
    """The replay of a day under new weights equals routing the same tasks with those weights into a
    fresh ledger (no outcomes, so the budget is all reservations)."""
    rng = random.Random(11)
    tasks = [
        (rng.choice(["documentation", "code_generation", "architecture", "math"]),
         "z" * rng.choice([50, 20_000, 90_000]))
        for _ in range(150)
    ]
    cfg = FAST + "daily_budget = 0.25\n"
    a = make_service(registry=SHIPPED, config=cfg, ledger=tmp_path / "a.sqlite3")
    for t, desc in tasks:
        a.route_task(t, desc, weights="0.4,0.3,0.2,0.1")
        clock.advance(3)
    clock.advance(-3 * len(tasks))
    b = make_service(registry=SHIPPED, config=cfg, ledger=tmp_path / "b.sqlite3")
    new = "0.2,0.3,0.1,0.6"
    routed_b = []
    for t, desc in tasks:
        routed_b.append(b.route_task(t, desc, weights=new))
        clock.advance(3)
    r = a.whatif(new)
    mix: dict[str, int] = {}
    for d in routed_b:
        if d["status"] != "refused":
            mix[d["selectedModel"]] = mix.get(d["selectedModel"], 0) + 1
    assert r["replayed"]["models"] == mix
    assert r["replayed"]["cost"] == pytest.approx(b.statistics()["costStatistics"]["totalCost"], abs=1e-9)
    statuses: dict[str, int] = {}
    for d in routed_b:
        statuses[d["status"]] = statuses.get(d["status"], 0) + 1
    assert r["replayed"]["statuses"] == statuses
    assert r["changed"] > 0


def test_a_bigger_daily_budget_stops_the_refusals(day_ledger):
    svc, _ = day_ledger
    r = svc.whatif(daily_budget=1000.0)
    assert r["recorded"]["statuses"].get("refused", 0) > 0
    # Refusals left are those no budget cures: task budget or constraints.
    assert r["replayed"]["statuses"].get("refused", 0) < r["recorded"]["statuses"]["refused"]
    assert r["replayed"]["statuses"].get("degraded", 0) <= r["recorded"]["statuses"].get("degraded", 0)
    assert r["settings"]["dailyBudget"] == 1000.0


def test_cost_scale_change_and_period(day_ledger, clock):
    svc, decisions = day_ledger
    r = svc.whatif(cost_scale="log")
    assert r["decisions"] == len(decisions) and r["settings"]["costScale"] == "log"
    # A period that starts mid-day replays only what follows, the earlier spend still counting.
    mid = decisions[len(decisions) // 2]["timestamp"]
    r2 = svc.whatif(since=mid)
    assert 0 < r2["decisions"] < len(decisions)
    assert r2["changed"] == 0 and r2["replayed"]["cost"] == r2["recorded"]["cost"]
    assert svc.whatif(since="2026-11-20", until="2026-11-21")["decisions"] == 0


def test_quality_is_the_expected_quality_of_the_chosen_models(make_service, clock):
    """Learning off: expected quality is the registry's, averaged over the routed decisions."""
    svc = make_service(config="[learning]\nenabled = false\n")
    assert not svc.settings.learning_enabled
    for _ in range(3):
        svc.route_task("documentation", "docs")  # GPT-4o Mini, 0.85
        clock.advance(1)
    svc.route_task("architecture", "design")  # GPT-4o, 0.95
    r = svc.whatif("0,1,0,0")  # quality only: GPT-4o for all
    assert r["recorded"]["quality"] == pytest.approx((3 * 0.85 + 0.95) / 4)
    assert r["replayed"]["quality"] == pytest.approx(0.95)
    assert r["replayed"]["models"] == {"gpt-4o": 4}
    assert r["changed"] == 3
    cost = 3 * svc.registry.get("gpt-4o").cost_of(1001, 800) + svc.registry.get("gpt-4o").cost_of(4002, 3000)
    assert r["replayed"]["cost"] == pytest.approx(cost, abs=1e-9)


def test_whatif_today_caches_until_the_ledger_changes(make_service, clock):
    svc = make_service()
    for _ in range(5):
        svc.route_task("documentation", "docs")
        clock.advance(1)
    r = svc.whatif_today("0,1,0,0")
    assert r["decisions"] == 5 and r["changed"] == 5
    assert "5 of 5 decisions change model" in r["line"]
    same = svc.whatif_today(Weights())
    assert same["changed"] == 0 and same["replayed"]["cost"] == same["recorded"]["cost"]
    d = svc.route_task("documentation", "docs")
    assert svc.whatif_today("0,1,0,0")["decisions"] == 6
    svc.record_outcome(d["decisionId"], "success", cost=0.5)
    again = svc.whatif_today(Weights())
    mini = svc.registry.get("gpt-4o-mini")
    assert again["recorded"]["cost"] == pytest.approx(5 * mini.cost_of(1001, 800) + 0.5)
    assert again["changed"] == 0 and again["replayed"]["cost"] == again["recorded"]["cost"]


def test_bad_inputs(make_service):
    from modelwise.core.errors import BadInput

    svc = make_service()
    with pytest.raises(BadInput):
        svc.whatif("1,2,3")
    with pytest.raises(BadInput):
        svc.whatif(cost_scale="cubic")
    with pytest.raises(BadInput):
        svc.whatif(since="today", until="yesterday")
    assert svc.whatif("0,1,0,0")["decisions"] == 0


def test_cli_whatif(cli_env, clock):
    for _ in range(3):
        p = run_cli("route", "documentation", "docs", env=cli_env)
        assert p.returncode == 0, p.stderr
    p = run_cli("whatif", "--weights", "0,1,0,0", "--json", env=cli_env)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert {"decisions", "changed", "recorded", "replayed"} <= set(r)
    assert set(r["recorded"]) >= {"cost", "models", "quality"}
    assert r["decisions"] == 3 and r["changed"] == 3 and r["replayed"]["models"] == {"gpt-4o": 3}
    p = run_cli("whatif", "--weights", "0,1,0,0", env=cli_env)
    assert p.returncode == 0 and "3 of 3 decisions change model" in p.stdout
    p = run_cli("whatif", "--weights", "a,b", env=cli_env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_in_place_rescoring_equals_a_fresh_ranking(make_service, scale):
    """The replay's shortcut (move only the recalibrated models, fix the minima in place) gives exactly
    what rank_models gives at every calibration state."""
    from modelwise.core.calibration import Calibration, Observed
    from modelwise.core.replay import Replayer, _Live
    from modelwise.core.scoring import Constraints, rank_models

    svc = make_service(registry=SHIPPED, config=f'cost_scale = "{scale}"\n')
    models = svc.registry.models
    tier = svc.settings.tier_for("code_generation")
    w = Weights(0.4, 0.3, 0.2, 0.1)
    cons = Constraints(max_latency_ms=4000.0)
    rng = random.Random(5)
    obs: dict = {}
    replayer = Replayer(models, svc.settings)
    first = rank_models(models, "code_generation", tier, w, svc.settings, cons, Calibration({}, 0))
    live = _Live(first, 0, {e.model.id: e for e in first.entries})
    live._materialise()
    floors = set()
    for step in range(1, 60):
        pool = live.entries[:40] if step % 3 else live.entries
        changed = {rng.choice(pool).model.id for _ in range(rng.randint(1, 3))}
        for mid in sorted(changed):
            s = obs.get((mid, "code_generation"), Observed()).successes
            obs[(mid, "code_generation")] = Observed(
                s + rng.randint(0, 30), rng.randint(0, 30), 0, rng.choice([None, 900.0, 8000.0]), 1
            )
            live.replace(replayer._rescored(live, mid, obs[(mid, "code_generation")]))
        calib = Calibration(dict(obs), step)
        fresh = rank_models(models, "code_generation", tier, w, svc.settings, cons, calib)
        derived = live.ranking()
        floors.add(derived.floor)
        assert derived.floor == fresh.floor
        assert [x.model.id for x in derived.entries] == [x.model.id for x in fresh.entries]
        assert [x.total for x in derived.entries] == [x.total for x in fresh.entries]
        assert [x.model.id for x in derived.floor_list] == [x.model.id for x in fresh.floor_list]
        assert [x.model.id for x in derived.nofloor_list] == [x.model.id for x in fresh.nofloor_list]
        assert list(derived.floor_min_in) == list(fresh.floor_min_in)
        assert list(derived.floor_min_out) == list(fresh.floor_min_out)
        assert list(derived.nofloor_min_in) == list(fresh.nofloor_min_in)
        assert list(derived.nofloor_min_out) == list(fresh.nofloor_min_out)
    assert len(floors) > 1  # the floor moved, so the rebuild path ran too


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_reweighting_equals_a_fresh_ranking(make_service, scale):
    """The replay's other shortcut (new weights over the same components) gives what rank_models gives."""
    from modelwise.core.calibration import Calibration, Observed
    from modelwise.core.replay import reweight
    from modelwise.core.scoring import Constraints, rank_models

    svc = make_service(registry=SHIPPED, config=f'cost_scale = "{scale}"\n')
    models = svc.registry.models
    rng = random.Random(9)
    for task in ("documentation", "math", "architecture"):
        tier = svc.settings.tier_for(task)
        cons = rng.choice([Constraints(), Constraints(min_quality=0.6), Constraints(max_latency_ms=3000.0)])
        calib = Calibration({(m.id, task): Observed(rng.randint(0, 9), rng.randint(0, 9), 1, 2000.0, 1)
                             for m in rng.sample(list(models), 30)}, 1)
        base = rank_models(models, task, tier, Weights(), svc.settings, cons, calib)
        for _ in range(5):
            w = Weights(*(rng.choice([0.0, 0.1, 0.33, 1.0, 2.5]) for _ in range(3)), rng.random())
            fresh = rank_models(models, task, tier, w, svc.settings, cons, calib)
            got = reweight(base, w)
            assert got.floor == fresh.floor and got.normalised == fresh.normalised
            pairs = [(x.model.id, x.total) for x in fresh.entries]
            assert [(x.model.id, x.total) for x in got.entries] == pairs
            assert [x.model.id for x in got.floor_list] == [x.model.id for x in fresh.floor_list]
            assert [x.model.id for x in got.nofloor_list] == [x.model.id for x in fresh.nofloor_list]
            assert got.floor_min_in == fresh.floor_min_in and got.nofloor_min_out == fresh.nofloor_min_out
