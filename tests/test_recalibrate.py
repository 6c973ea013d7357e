"""A ranking made again after outcomes scores again only the models they moved (`recalibrated`), and is
what scoring every model gives (`rank_models`), field by field: over the shipped registry, with models out
of reach, constraints that the calibration moves models across, both cost scales, and a tier floor that
moves. Through the Context, a call after an outcome does not score the whole registry again."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from modelwise.core.calibration import EMPTY, Calibration, Observed
from modelwise.core.scoring import Constraints, Ranking, rank_models, recalibrated
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import tier_of
from modelwise.loading import load_registry

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry.json"
FIELDS = ("capability", "performance", "availability", "cost", "total", "rated", "calibrated", "latency",
          "static_reason", "warning")


@pytest.fixture(scope="module")
def models():
    return load_registry(SHIPPED).models


def _same(got: Ranking, want: Ranking) -> None:
    assert [e.model.id for e in got.entries] == [e.model.id for e in want.entries]
    for g, w in zip(got.entries, want.entries, strict=True):
        assert [getattr(g, f) for f in FIELDS] == [getattr(w, f) for f in FIELDS], g.model.id
    assert got.floor == want.floor
    assert [e.model.id for e in got.floor_list] == [e.model.id for e in want.floor_list]
    assert [e.model.id for e in got.nofloor_list] == [e.model.id for e in want.nofloor_list]
    assert (got.floor_min_in, got.floor_min_out) == (want.floor_min_in, want.floor_min_out)
    assert (got.nofloor_min_in, got.nofloor_min_out) == (want.nofloor_min_in, want.nofloor_min_out)
    assert got.floor_pool == want.floor_pool
    assert {k: v.model.id for k, v in (got.by_id or {}).items()} == {
        k: v.model.id for k, v in (want.by_id or {}).items()
    }
    for e in got.entries[:40]:
        assert got.rank_of(e) == 1 + [x.model.id for x in want.entries].index(e.model.id)
        assert got.entry(e.model.id) is e


CASES = [
    ("linear", Constraints(), False, "debugging"),
    ("log", Constraints(), True, "code_generation"),
    ("linear", Constraints(min_quality=0.62), True, "architecture"),
    ("log", Constraints(max_latency_ms=900.0), False, "documentation"),
    ("linear", Constraints(capabilities=("function_calling",)), True, "debugging"),
]


@pytest.mark.parametrize(("scale", "cons", "reach", "task"), CASES)
def test_recalibrated_equals_ranking_every_model_again(models, scale, cons, reach, task):
    rng = random.Random(f"{scale}{cons}{reach}{task}")
    settings = Settings(cost_scale=scale)
    tier = tier_of(settings, task)
    weights = Weights(0.3, 0.4, 0.1, 0.2) if reach else settings.weights
    capable = [m for m in models if task in m.capabilities]
    unreachable = None
    if reach:  # most models out of reach, as when a provider or two are configured
        unreachable = {m.id: "no enabled provider lists it" for m in models if rng.random() < 0.9}
    observed: dict[tuple[str, str], Observed] = {}
    calib = EMPTY
    prev = rank_models(models, task, tier, weights, settings, cons, calib, "2026-12-02", unreachable)
    moved_floor = 0
    for step in range(60):
        before = calib
        for _ in range(rng.choice([1, 1, 2, 5])):  # a batch of outcomes touches a model or a few
            m = rng.choice(capable if rng.random() < 0.8 else models)
            good = rng.random() < 0.5
            observed[(m.id, task)] = Observed(
                rng.randrange(0, 30) if good else 0, rng.randrange(0, 30), rng.randrange(0, 5),
                rng.choice([None, 200.0, 800.0, 1500.0]), 1,
            )
        if step % 17 == 5:  # an observation taken back (a corrected outcome re-read)
            observed.pop(next(iter(observed)))
        if step % 23 == 7:
            observed[("no-such-model", task)] = Observed(1, 0, 0)
        observed[("some-model", "other_type")] = Observed(step, 0, 0)
        calib = Calibration(dict(observed), step + 1)
        got = recalibrated(prev, calib.changed(before, task), settings, calib, unreachable)
        want = rank_models(models, task, tier, weights, settings, cons, calib, "2026-12-02", unreachable)
        assert got is not None
        _same(got, want)
        moved_floor += got.floor != prev.floor
        prev = got
    assert moved_floor > 0  # the floor moved at least once, so its update was exercised


def test_recalibrated_refuses_a_ranking_it_cannot_start_from(models):
    from modelwise.core.scoring import without

    settings = Settings()
    r = rank_models(models[:50], "debugging", tier_of(settings, "debugging"), settings.weights, settings)
    assert recalibrated(without(r, lambda e: False), [], settings, EMPTY) is None
    assert recalibrated(dataclasses.replace(r, by_id=None), [], settings, EMPTY) is None


def test_an_entry_is_found_by_id_with_or_without_the_index(models):
    """`Ranking.entry` answers from `by_id` when the ranking has it, else by walking the entries: the
    same entry either way, and None for a model not ranked."""
    from modelwise.core.scoring import without

    settings = Settings()
    r = rank_models(models, "debugging", tier_of(settings, "debugging"), settings.weights, settings)
    unindexed = without(r, lambda e: False)
    assert r.by_id is not None and unindexed.by_id is None
    for e in (r.entries[0], r.entries[len(r.entries) // 2], r.entries[-1]):
        assert r.entry(e.model.id) is e and unindexed.entry(e.model.id) is e
    assert r.entry("no-such-model") is None and unindexed.entry("no-such-model") is None


def test_a_call_after_an_outcome_scores_only_the_models_it_moved(make_service, monkeypatch):
    import modelwise.app.context as context
    import modelwise.core.scoring as scoring

    svc = make_service(registry=SHIPPED)
    scored: list[str] = []
    real = scoring._score

    def counting(m, *a, **kw):
        scored.append(m.id)
        return real(m, *a, **kw)

    monkeypatch.setattr(scoring, "_score", counting)
    full = [0]
    real_rank = context.rank_models

    def counting_rank(*a, **kw):
        full[0] += 1
        return real_rank(*a, **kw)

    monkeypatch.setattr(context, "rank_models", counting_rank)
    r = svc.route_task("debugging", "a first call")
    assert full[0] == 1 and len(scored) > 500
    for i in range(3):
        scored.clear()
        svc.record_outcome(r["decisionId"], "failure", latency_ms=700.0)
        settled = r["selectedModel"]
        r = svc.route_task("debugging", f"call {i}")
        assert full[0] == 1, "a call after an outcome scored every model again"
        assert scored == [settled]
        ranking = svc.ranking("debugging")
        fresh = real_rank(
            svc.registry.models, "debugging", tier_of(svc.settings, "debugging"), svc.settings.weights,
            svc.settings, Constraints(), svc.calibration(), ranking.today,
        )
        _same(ranking, fresh)


def test_superseded_rankings_are_not_kept(make_service):
    """A gateway makes a ranking per batch of settlements: the one it replaces is dropped, not kept as
    garbage for the collector to walk (256 of them before a clear, each with the whole registry)."""
    svc = make_service(registry=SHIPPED)
    for i in range(30):
        r = svc.route_task("debugging", f"call {i}")
        svc.record_outcome(r["decisionId"], "success", latency_ms=500.0 + i)
    svc.route_task("debugging", "the last")
    assert len(svc.ctx._rankings) == 1


def test_serve_freezes_what_it_loaded_before_serving(make_service, monkeypatch):
    """`modelwise serve` moves what it loaded (registry, modules, app) out of the collector's way before
    it serves: a full collection would otherwise walk ~80,000 objects, 10-25 ms, between two calls."""
    import argparse
    import gc

    from modelwise import server
    from modelwise.cli.commands import serve

    svc = make_service(registry=SHIPPED)
    seen: list[int] = []

    class Server:
        def run(self, sockets):
            seen.append(gc.get_freeze_count())

    monkeypatch.setattr(server, "uvicorn_server", lambda config, service: Server())
    monkeypatch.setattr(serve, "unescaped", lambda stream: stream)
    args = argparse.Namespace(no_group_commit=True, access_log=False)
    try:
        serve._serve(svc, None, args, None)
    finally:
        gc.unfreeze()
    assert seen and seen[0] > 20_000
