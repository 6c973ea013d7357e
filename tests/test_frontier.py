"""The cost/quality frontier (issue 7), checked against the dominance definition by brute force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwise.core.frontier import Point, dominates, pareto_front
from tests.conftest import BRIEF_REGISTRY, run_cli

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry.json"


def rated_capable_points(svc, task: str) -> list[Point]:
    """Built from `models_table`, independently of the service's pareto code. A model whose price is
    unknown has no place on a price axis (it is never taken as $0)."""
    rows = svc.models_table(task=task)
    return [Point(r["id"], r["name"], r["quality"], round(r["blendedPer1k"], 12)) for r in rows
            if r["rated"] and r["blendedPer1k"] is not None]


def check_front(points: list[Point], front_ids: list[str]) -> None:
    on = set(front_ids)
    by_id = {p.id: p for p in points}
    assert on <= set(by_id)
    for p in points:
        dominated = any(dominates(o, p) for o in points)
        assert (p.id in on) == (not dominated), p


@pytest.mark.parametrize("registry", [BRIEF_REGISTRY, SHIPPED])
@pytest.mark.parametrize("task", ["documentation", "code_generation", "architecture", "math", "formatting"])
def test_frontier_is_exactly_the_undominated_models(make_service, registry, task):
    svc = make_service(registry=registry)
    front = svc.pareto(task)
    points = rated_capable_points(svc, task)
    check_front(points, [r["id"] for r in front])
    prices = [r["blendedPer1k"] for r in front]
    assert prices == sorted(prices)  # cheapest first
    qualities = [r["quality"] for r in front]
    assert all(a <= b for a, b in zip(qualities, qualities[1:], strict=False))  # dearer only if better
    assert set(front[0]) == {"id", "name", "quality", "blendedPer1k"}


def test_briefs_three_models(make_service):
    svc = make_service()
    # documentation: Mini is cheapest, Sonnet cheaper than GPT-4o but worse, GPT-4o the best: all three.
    assert [r["id"] for r in svc.pareto("documentation")] == ["gpt-4o-mini", "claude-sonnet-4", "gpt-4o"]
    # architecture: Mini is not capable.
    assert [r["id"] for r in svc.pareto("architecture")] == ["claude-sonnet-4", "gpt-4o"]


def test_frontier_uses_calibrated_quality(make_service, clock):
    """With learning on, enough failures push GPT-4o's quality for documentation below Sonnet's, and a
    dearer, worse model is dominated."""
    svc = make_service()
    assert "gpt-4o" in [r["id"] for r in svc.pareto("documentation")]
    d = svc.route_task("documentation", "docs", weights="0,1,0,0")  # quality only: GPT-4o
    assert d["selectedModel"] == "gpt-4o"
    clock.advance(1)
    svc.record_outcome(d["decisionId"], "failure")  # 0.95 x 20 / 21 = 0.905 < 0.93
    front = [r["id"] for r in svc.pareto("documentation")]
    assert "gpt-4o" not in front
    q = {r["id"]: r["quality"] for r in svc.pareto("documentation")}
    assert q["claude-sonnet-4"] == pytest.approx(0.93)


pts = st.lists(
    st.builds(
        Point,
        id=st.text("abcdef", min_size=1, max_size=4),
        name=st.just("n"),
        quality=st.sampled_from([0.1, 0.2, 0.5, 0.5, 0.9, 1.0]),
        price=st.sampled_from([0.0, 0.001, 0.002, 0.002, 0.01]),
    ),
    max_size=30,
)


@given(pts)
def test_sweep_matches_the_definition(points):
    front = pareto_front(points)
    assert sorted(id(p) for p in front) == sorted(
        id(p) for p in points if not any(dominates(o, p) for o in points)
    )


def test_cli_pareto(cli_env):
    p = run_cli("models", "--task", "documentation", "--pareto", "--json", env=cli_env)
    assert p.returncode == 0, p.stderr
    assert [r["id"] for r in json.loads(p.stdout)] == ["gpt-4o-mini", "claude-sonnet-4", "gpt-4o"]
    p = run_cli("models", "--pareto", env=cli_env)
    assert p.returncode == 2 and "--task" in p.stderr and p.stderr.count("\n") == 1


@pytest.mark.parametrize("task", ["documentation", "code_generation", "math"])
def test_quality_price_has_every_rated_capable_model_and_the_frontier(make_service, task):
    """The console's chart data: all rated capable models (from models_table, independently) with
    their quality and price, cheapest first, and the frontier exactly as `pareto` gives it."""
    svc = make_service(registry=SHIPPED)
    chart = svc.quality_price(task)
    expected = {p.id: p for p in rated_capable_points(svc, task)}
    assert chart["taskType"] == task
    assert {m["id"] for m in chart["models"]} == set(expected)
    for m in chart["models"]:
        p = expected[m["id"]]
        assert (m["quality"], m["blendedPer1k"]) == pytest.approx((p.quality, p.price))
    prices = [m["blendedPer1k"] for m in chart["models"]]
    assert prices == sorted(prices)
    assert chart["frontier"] == svc.pareto(task)
