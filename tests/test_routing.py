"""Scoring and routing (docs/design.md, "Scoring" and "Routing"): the brief's worked example, eligibility,
tiers, degradation, refusal, ties, margins and the flip point, each checked by its definition."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwise.core.models import ModelSpec
from modelwise.core.routing import DEGRADED, REFUSED, decide, decision_field, flip_point, weight_flips
from modelwise.core.scoring import Constraints, linear_cost_component, rank_models, total_under
from modelwise.core.settings import WEIGHT_NAMES, Settings, Tier, Weights
from modelwise.core.tiers import nearest_rank, tier_of

ALL_TYPES = Settings().task_types


def model(mid: str, price_1k: float, quality: float | None, availability: float = 0.99, **kw) -> ModelSpec:
    return ModelSpec(
        id=mid,
        name=kw.pop("name", mid),
        provider=None,
        capabilities=frozenset(kw.pop("capabilities", ALL_TYPES)),
        input_per_1m=price_1k * 1000,
        output_per_1m=kw.pop("output_per_1m", price_1k * 1000),
        cache_read_per_1m=None,
        latency_ms=kw.pop("latency_ms", 1000.0),
        quality=quality,
        quality_by_task=kw.pop("quality_by_task", {}),
        availability=availability,
        context_window=kw.pop("context_window", None),
    )


NO_CONSTRAINTS = Constraints()


def rank(models, task_type="documentation", weights=None, settings_=None, constraints=NO_CONSTRAINTS):
    s = settings_ or Settings()
    return rank_models(models, task_type, tier_of(s, task_type), weights or s.weights, s, constraints)


# -- the brief's worked example ------------------------------------------------------------------


def test_worked_example_totals_and_winner(make_service):
    svc = make_service()
    r = svc.route_task("documentation", "Write the README", dry_run=True, all_candidates=True)
    totals = {c["model"]: c["total"] for c in r["candidates"]}
    assert totals["gpt-4o"] == pytest.approx(0.9330, abs=1e-9)
    assert totals["claude-sonnet-4"] == pytest.approx(0.9450, abs=1e-9)
    assert totals["gpt-4o-mini"] == pytest.approx(0.9515, abs=1e-9)
    assert r["selectedModel"] == "gpt-4o-mini"
    assert r["margin"] == pytest.approx(0.9515 - 0.9450, abs=1e-9)
    comps = {c["model"]: c for c in r["candidates"]}
    # The brief's cost components: 0.005 -> 0.5, 0.003 -> 0.7, 0.00015 -> 0.985.
    assert comps["gpt-4o"]["cost"] == pytest.approx(0.5)
    assert comps["claude-sonnet-4"]["cost"] == pytest.approx(0.7)
    assert comps["gpt-4o-mini"]["cost"] == pytest.approx(0.985)


@pytest.mark.parametrize(
    ("task_type", "expected", "tier"),
    [
        ("documentation", "gpt-4o-mini", "simple"),
        ("boilerplate", "gpt-4o-mini", "simple"),
        ("debugging", "claude-sonnet-4", "medium"),
        ("refactoring", "claude-sonnet-4", "medium"),
        ("architecture", "gpt-4o", "complex"),
        ("design", "gpt-4o", "complex"),
    ],
)
def test_mixed_workload_scenario(make_service, task_type, expected, tier):
    r = make_service().route_task(task_type, "a task", dry_run=True)
    assert (r["selectedModel"], r["tier"]) == (expected, tier)


# -- components and totals -----------------------------------------------------------------------


@given(
    w=st.tuples(*[st.floats(0, 10, allow_nan=False) for _ in range(4)]).filter(lambda w: sum(w) > 0.01),
    q=st.floats(0, 1),
    a=st.floats(0, 1),
    price=st.floats(0, 0.05),
)
@settings(max_examples=150, deadline=None)
def test_total_is_weighted_sum_of_components(w, q, a, price):
    m = model("m", price, q, a)
    e = rank([m], weights=Weights(*w)).entries[0]
    assert e.total == pytest.approx(total_under(e.components(), w), abs=1e-12)
    assert 0.0 <= e.total <= 1.0 + 1e-12


@given(p1=st.floats(0, 1), p2=st.floats(0, 1))
def test_raising_cost_never_raises_cost_component(p1, p2):
    lo, hi = sorted((p1, p2))
    assert linear_cost_component(hi, 0.01) <= linear_cost_component(lo, 0.01)


def test_unrated_model_gets_prior_and_flag():
    e = rank([model("u", 0.001, None)]).entries[0]
    assert e.performance == 0.5 and e.rated is False


def test_quality_by_task_wins_over_general_quality():
    m = model("m", 0.001, 0.5, quality_by_task={"documentation": 0.9})
    assert rank([m]).entries[0].performance == 0.9
    assert rank([m], "debugging").entries[0].performance == 0.5


def test_log_cost_scale_maps_cheapest_to_one_dearest_to_zero():
    s = Settings(cost_scale="log")
    r = rank([model("a", 0.0001, 0.8), model("b", 0.001, 0.8), model("c", 0.01, 0.8)], settings_=s)
    cost = {e.model.id: e.cost for e in r.entries}
    assert cost["a"] == 1.0 and cost["c"] == 0.0 and cost["b"] == pytest.approx(0.5)


# -- tiers and eligibility -----------------------------------------------------------------------


def test_nearest_rank_percentile():
    values = [0.85, 0.93, 0.95]
    assert nearest_rank(values, 0) == 0.85
    assert nearest_rank(values, 50) == 0.93  # ceil(1.5) = 2nd
    assert nearest_rank(values, 80) == 0.95  # ceil(2.4) = 3rd
    assert nearest_rank(list(range(1, 11)), 30) == 3
    assert nearest_rank([], 50) is None


def test_every_ineligible_model_has_a_reason(make_service):
    svc = make_service()
    r = svc.route_task("architecture", "x", dry_run=True, all_candidates=True)
    for c in r["candidates"]:
        assert c["eligible"] == (c["reason"] is None) or c["reason"].startswith("eligible, but")
    reasons = {c["model"]: c["reason"] for c in r["candidates"]}
    assert reasons["gpt-4o-mini"] == "not capable of architecture"
    assert "tier floor" in reasons["claude-sonnet-4"]


def test_constraints_exclude_with_reasons():
    models = [
        model("slow", 0.001, 0.9, latency_ms=9000),
        model("weak", 0.001, 0.3),
        model("blind", 0.001, 0.8, capabilities=ALL_TYPES),
        model("seeing", 0.002, 0.8, capabilities=(*ALL_TYPES, "vision")),
        model("unknown-latency", 0.001, 0.9, latency_ms=None),
    ]
    c = Constraints(min_quality=0.5, max_latency_ms=2000, capabilities=("vision",))
    r = rank(models, constraints=c)
    reasons = {e.model.id: e.static_reason for e in r.entries}
    assert reasons["blind"] == "lacks vision"
    assert reasons["seeing"] is None
    assert "not capable" not in (reasons["slow"] or "") and reasons["slow"] == "lacks vision"
    r2 = rank(models, constraints=Constraints(min_quality=0.5, max_latency_ms=2000))
    reasons = {e.model.id: e.static_reason for e in r2.entries}
    assert reasons["slow"].startswith("latency 9000 ms above")
    assert reasons["weak"].startswith("quality 0.300 below minQuality")
    assert reasons["unknown-latency"].startswith("latency unknown")
    assert decide(r2, 100, 100, 1.0, None).winner.model.id in {"blind", "seeing"}


def test_context_window_must_fit():
    small = model("small", 0.0001, 0.9, context_window=1000)
    big = model("big", 0.001, 0.8, context_window=100000)
    r = rank([small, big])
    assert decide(r, 500, 400, 1.0, None).winner.model.id == "small"
    assert decide(r, 900, 400, 1.0, None).winner.model.id == "big"


def test_task_budget_excludes_expensive_models():
    r = rank([model("cheap", 0.0001, 0.5), model("dear", 0.01, 0.99)], "architecture")
    assert decide(r, 1000, 1000, 1.0, None).winner.model.id == "dear"
    c = decide(r, 1000, 1000, 0.01, None)
    # dear costs $0.02 > $0.01; the floor (p80 of {0.5, 0.99}) excludes cheap, so the floor is dropped
    assert c.winner.model.id == "cheap" and c.status == DEGRADED and c.floor_dropped


# -- budget: degradation and refusal -------------------------------------------------------------


def test_degrades_to_cheaper_model_when_winner_does_not_fit_the_day():
    models = [model("best", 0.002, 0.95), model("good", 0.0005, 0.90), model("ok", 0.0001, 0.7)]
    r = rank(models, "debugging", weights=Weights(0.4, 0.6, 0.0, 0.0))
    assert decide(r, 1000, 1000, 1.0, 1.0).winner.model.id == "best"
    c = decide(r, 1000, 1000, 1.0, 0.002)  # best costs 0.004, good 0.001
    assert c.status == DEGRADED and c.winner.model.id == "good" and not c.floor_dropped
    c = decide(r, 1000, 1000, 1.0, 0.0003)  # only ok (0.0002) fits, and it is below the p50 floor
    assert c.status == DEGRADED and c.winner.model.id == "ok" and c.floor_dropped
    assert any("floor dropped" in w for w in c.warnings)
    c = decide(r, 1000, 1000, 1.0, 0.0001)
    assert c.status == REFUSED and c.winner is None and c.refusal_kind == "budget"


def test_refused_when_no_model_is_capable():
    r = rank([model("a", 0.001, 0.9, capabilities=("documentation",))], "math")
    c = decide(r, 10, 10, 1.0, 5.0)
    assert c.status == REFUSED and "capable of math" in c.reason


def test_ties_go_to_lower_cost_then_smaller_id():
    # Same total: identical components, but b is cheaper per call (lower input price, higher output).
    a = model("a", 0.001, 0.8, output_per_1m=1.0)
    b = model("b", 0.001, 0.8, output_per_1m=1.0)
    r = rank([b, a])
    assert decide(r, 100, 100, 1.0, None).winner.model.id == "a"  # equal cost: smaller id
    cheap = ModelSpec("z", "z", None, frozenset(ALL_TYPES), 0.5, 1.5, None, 1000.0, 0.8, {}, 0.99)
    dear = ModelSpec("y", "y", None, frozenset(ALL_TYPES), 0.75, 0.75, None, 1000.0, 0.8, {}, 0.99)
    # Same blended price (3x in + out) so the same total; per-call cost differs with the token mix.
    assert cheap.blended_per_1k == dear.blended_per_1k
    r = rank([cheap, dear])
    assert decide(r, 1000, 10, 1.0, None).winner.model.id == "z"  # input-heavy: z is cheaper
    assert decide(r, 10, 1000, 1.0, None).winner.model.id == "y"  # output-heavy: y is cheaper


# -- margin and flip point -----------------------------------------------------------------------


def _winner_under(models, weights, task_type="debugging"):
    return decide(rank(models, task_type, weights=weights), 1000, 1000, 10.0, None).winner.model.id


def _field(r, c, tin=1000, tout=1000, budget=10.0, limit=None):
    return decision_field(r, c.floor_dropped, tin, tout, budget, limit)


@pytest.mark.parametrize("task_type", ["documentation", "debugging"])
def test_flip_point_is_where_another_model_ties(make_service, task_type):
    svc = make_service()
    models = list(svc.registry.models)
    s = Settings()
    r = rank(models, task_type)
    c = decide(r, 1000, 1000, 10.0, None)
    flip = flip_point(r, c.winner, c.floor_dropped, 1000, 1000, 10.0, None)
    assert flip is not None and flip["model"] != c.winner.model.id
    other = next(e for e in r.entries if e.model.id == flip["model"])
    j = WEIGHT_NAMES.index(flip["weight"])
    w = list(s.weights.as_tuple())
    w[j] = flip["value"]
    a = total_under(c.winner.components(), w)
    b = total_under(other.components(), w)
    assert a == pytest.approx(b, abs=1e-6)
    # Past the flip (in the direction away from the current weight), that model wins; short of it, not.
    step = 1e-3 if flip["value"] > s.weights.as_tuple()[j] else -1e-3
    past = s.weights.replace(flip["weight"], max(0.0, flip["value"] + step))
    before = s.weights.replace(flip["weight"], flip["value"] - step)
    assert _winner_under(models, past, task_type) == flip["model"]
    assert _winner_under(models, before, task_type) == c.winner.model.id


def test_flip_is_the_smallest_single_weight_change(make_service):
    svc = make_service()
    r = rank(list(svc.registry.models), "debugging")
    c = decide(r, 1000, 1000, 10.0, None)
    flip = flip_point(r, c.winner, c.floor_dropped, 1000, 1000, 10.0, None)
    # GPT-4o would win if cost weighed 0.04 instead of 0.1 (the only one-weight change that small).
    assert (flip["model"], flip["weight"], flip["direction"]) == ("gpt-4o", "cost", "down")
    assert flip["value"] == pytest.approx(0.04)


def test_the_flip_can_hand_the_win_to_a_model_other_than_the_runner_up():
    """The runner-up b is close on the total but trails on cost, so no small change of the cost weight
    helps it; c is further behind but much cheaper, so a little more weight on cost hands c the win."""
    a = model("a", 0.010, 0.90, 0.99)
    b = model("b", 0.011, 0.89, 0.99)  # worse than a on every component: it can never win alone
    c = model("c", 0.001, 0.50, 0.99)
    r = rank([a, b, c], weights=Weights(0.4, 0.3, 0.2, 0.1))
    ch = decide(r, 100, 100, 1.0, None)
    assert (ch.winner.model.id, ch.runner_up.model.id) == ("a", "b")
    flip = flip_point(r, ch.winner, ch.floor_dropped, 100, 100, 1.0, None)
    assert flip is not None and (flip["model"], flip["weight"], flip["direction"]) == ("c", "cost", "up")
    wa, wc = ch.winner, next(e for e in r.entries if e.model.id == "c")
    pairs = zip((0.4, 0.3, 0.2, 0.1), wa.components(), wc.components(), strict=True)
    lead = sum(w * (x - y) for w, x, y in pairs)
    assert flip["value"] == pytest.approx(0.1 + lead / (wc.cost - wa.cost))


def test_flip_point_only_counts_models_the_decision_chose_among():
    """d would take the win with more weight on performance (or less on cost), but not when it is over
    what is left of the budget; c would with more weight on cost (or less on performance), but not when
    its context window cannot hold the task."""
    a = model("a", 0.001, 0.80, 0.99)
    d = model("d", 0.010, 0.95, 0.99)
    c = model("c", 0.0001, 0.60, 0.99, context_window=150)
    w = (0.4, 0.3, 0.2, 0.1)
    r = rank([a, d, c], weights=Weights(*w))

    def flip(tin, tout, limit):
        ch = decide(r, tin, tout, 1.0, limit)
        assert ch.winner.model.id == "a"
        field = _field(r, ch, tin, tout, 1.0, limit)
        return {f["model"] for f in weight_flips(w, ch.winner, field, tin, tout)}, (
            flip_point(r, ch.winner, ch.floor_dropped, tin, tout, 1.0, limit)
        )

    flips, nearest = flip(50, 50, None)
    assert flips == {"c", "d"} and nearest["model"] in {"c", "d"}
    flips, nearest = flip(50, 50, 0.0005)  # d costs $0.001 here, a $0.0001
    assert flips == {"c"} and nearest["model"] == "c"
    flips, nearest = flip(100, 100, 0.001)  # and now c's window is too small as well
    assert flips == set() and nearest is None


def test_no_flip_when_no_single_weight_can_tie():
    a = model("a", 0.001, 0.9, 0.99)
    b = model("b", 0.002, 0.8, 0.98)  # worse on every component: no weight helps b
    r = rank([a, b])
    c = decide(r, 100, 100, 1.0, None)
    assert c.winner.model.id == "a"
    assert flip_point(r, c.winner, c.floor_dropped, 100, 100, 1.0, None) is None


def test_weights_validation():
    with pytest.raises(ValueError, match="four numbers"):
        Weights.parse("1,2,3")
    with pytest.raises(ValueError, match="not a number"):
        Weights.parse("1,x,3,4")
    with pytest.raises(ValueError, match="negative"):
        Weights.parse("1,-2,3,4")
    with pytest.raises(ValueError, match="all be zero"):
        Weights.parse("0,0,0,0")
    with pytest.raises(ValueError, match="finite"):
        Weights.parse("nan,1,1,1")
    assert Weights.parse("4,3,2,1").normalised() == pytest.approx((0.4, 0.3, 0.2, 0.1))


def test_custom_tier_floor_and_percentile():
    s = Settings(tiers=(Tier("all", 1.0, 100.0, ALL_TYPES),))
    r = rank([model("a", 0.001, 0.7), model("b", 0.001, 0.9)], settings_=s)
    assert r.floor == 0.9 and [e.model.id for e in r.floor_list] == ["b"]
    assert math.isclose(r.normalised[0], 0.4)
