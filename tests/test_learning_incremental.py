"""The calibration is kept up to date incrementally (only the outcomes recorded since the last refresh are
read), and always equals what a full re-read of the outcomes gives; rankings are cached per task type's
observations, so an outcome of one task type re-ranks only that type, with identical results."""

from __future__ import annotations

import random

from modelwise.core.scoring import NO_CONSTRAINTS, rank_models
from modelwise.core.tiers import tier_of
from modelwise.service import _observed_by_key

TYPES = ("documentation", "code_generation", "debugging", "architecture")


def _full(svc):
    return _observed_by_key(svc.ledger.observations())


def test_incremental_calibration_equals_a_full_re_read(make_service):
    svc = make_service()
    rng = random.Random(3)
    for i in range(120):
        r = svc.route_task(rng.choice(TYPES), f"task {i}", weights=rng.choice([None, "0.1,0.6,0.2,0.1"]))
        if r["status"] != "refused" and rng.random() < 0.8:
            svc.record_outcome(
                r["decisionId"],
                rng.choice(["success", "success", "failure", "error"]),
                latency_ms=rng.choice([None, 300.0, 900.0, 900.0, 4000.0]),
            )
        if rng.random() < 0.4:  # refresh at random points, sometimes after several outcomes
            calib = svc.calibration()
            full = _full(svc)
            assert calib.by_key == full and list(calib.by_key) == list(full)
            assert calib.version == svc.ledger.outcomes_version()
    assert svc.calibration().by_key == _full(svc)


def test_rankings_with_the_incremental_calibration_equal_fresh_ones(make_service):
    svc = make_service()
    for i in range(30):
        t = TYPES[i % len(TYPES)]
        r = svc.route_task(t, f"job {i}")
        svc.record_outcome(r["decisionId"], "failure" if i % 3 else "success", latency_ms=500.0 + i)
        for task_type in TYPES:  # cached rankings (some kept across outcomes of other types) ...
            cached = svc.ranking(task_type)
            fresh = rank_models(  # ... equal a ranking computed now from a full re-read
                svc.registry.models,
                task_type,
                tier_of(svc.settings, task_type),
                svc.settings.weights,
                svc.settings,
                NO_CONSTRAINTS,
                type(svc.calibration())(_full(svc), 1),
            )
            assert [(s.model.id, s.total, s.performance) for s in cached.entries] == [
                (s.model.id, s.total, s.performance) for s in fresh.entries
            ]
            assert cached.floor == fresh.floor


def test_an_outcome_of_one_type_keeps_the_rankings_of_the_others(make_service):
    svc = make_service()
    docs = svc.ranking("documentation")
    r = svc.route_task("code_generation", "x")
    svc.record_outcome(r["decisionId"], "failure")
    assert svc.ranking("documentation") is docs
    assert svc.calibration().version_for("documentation") == -1
    assert svc.calibration().version_for("code_generation") == svc.ledger.outcomes_version()


def test_a_replaced_ledger_is_read_in_full_again(make_service, tmp_path):
    a = make_service(ledger=tmp_path / "a.sqlite3")
    for i in range(3):
        r = a.route_task("debugging", f"a{i}")
        a.record_outcome(r["decisionId"], "success", latency_ms=100.0)
    b = make_service(ledger=tmp_path / "b.sqlite3")
    for i in range(5):
        r = b.route_task("documentation", f"b{i}")
        b.record_outcome(r["decisionId"], "failure", latency_ms=700.0)
    assert a.calibration().by_key == _full(a)
    a.close()
    b.close()
    (tmp_path / "a.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"a.sqlite3{suffix}").unlink(missing_ok=True)
    (tmp_path / "b.sqlite3").rename(tmp_path / "a.sqlite3")  # a different history under a's path
    for suffix in ("-wal", "-shm"):
        p = tmp_path / f"b.sqlite3{suffix}"
        if p.exists():
            p.rename(tmp_path / f"a.sqlite3{suffix}")
    assert a.calibration().by_key == _full(a)
    assert set(a.calibration().by_key) == {(m, "documentation") for m, _ in a.calibration().by_key}


def test_a_snapshot_behind_the_one_learned_from_is_not_read_in_full(make_service):
    """The gateway learns inside a batch it has not committed (on the event loop) while the group commit's
    idle work refreshes from what is committed (another thread, an older snapshot): that snapshot lacks
    the newest outcome learned, and must not pass for a replaced history read again in full."""
    import threading

    from modelwise.app.learned import Learned
    from modelwise.ledger import Settlement

    svc = make_service()
    ids = [svc.route_task("documentation", f"t{i}")["decisionId"] for i in range(4)]
    for dec_id in ids[:2]:
        svc.record_outcome(dec_id, "success", latency_ms=100.0)
    led, learned = svc.ledger, Learned()
    learned.update(led)
    reads: list[int] = []
    since = led.outcomes_since
    led.outcomes_since = lambda after: reads.append(after) or since(after)  # type: ignore[method-assign]

    def settle(dec_id: str) -> object:
        return led.settle_in_batch(dec_id, "2026-11-26T12:00:00.000Z", 1.0,
                                   lambda dec, spent: Settlement("failure", 900.0, None, None, 0.0), False)

    started = led.start_batch([lambda: settle(ids[2]), lambda: learned.update(led)])
    assert started is not None
    in_batch, model = started.results[1], svc.decision(ids[2])["selectedModel"]
    assert in_batch.by_key[(model, "documentation")].failures == 1
    behind: list[object] = []
    other = threading.Thread(target=lambda: behind.append(learned.update(led)))  # another connection
    other.start()
    other.join()
    assert behind == [in_batch]  # what was learned stands; nothing read again from the start
    assert 0 not in reads
    led.finish_batch(started)
    svc.record_outcome(ids[3], "error", latency_ms=300.0)
    after = learned.update(led)
    assert after.by_key == _full(svc) and after.by_key[(model, "documentation")].errors == 1
    assert 0 not in reads
