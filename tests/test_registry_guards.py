"""Guards over the shipped registry as routing sees it: no deprecated, unpriced or duplicate model gets
through, no name stutters, and the issue's worked examples (aliases, borrowed ratings, real prices)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelwise.core.routing import candidate_rows, decide
from modelwise.importers.names import date_of, family_key
from tests.conftest import FixedClock

SHIPPED = Path(__file__).resolve().parent.parent / "model_registry.json"
FIXED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["fixed", "today"])
def svc(request, make_service):
    clock = FixedClock(FIXED) if request.param == "fixed" else (lambda: datetime.now(UTC))
    return make_service(registry=SHIPPED, clock=clock)


def _same_model(a: str, b: str) -> bool:
    """One underlying model: the same family (name without dates and `latest`) and no two different
    snapshot dates."""
    da, db = date_of(a), date_of(b)
    return family_key(a) == family_key(b) and (da == db or not da or not db)


def test_no_eligible_model_past_its_deprecation_date(svc):
    today = svc.today().isoformat()
    past = [m.id for m in svc.registry.models if m.deprecation_date and m.deprecation_date[:10] <= today]
    assert past  # the data has them (gpt-4.1-nano since 2026-10-23, ...): the guard is not vacuous
    for t in svc.settings.task_types:
        r = svc.ranking(t)
        for e in r.nofloor_list:
            dep = e.model.deprecation_date
            assert not dep or dep[:10] > today, (t, e.model.id, dep)
        gone = next(e for e in r.entries if e.model.id in past)
        assert gone.static_reason is not None and gone.static_reason.startswith(("deprecated since",
                                                                                 "not capable", "lacks"))


def test_no_eligible_zero_price_that_is_not_free(svc):
    unknown = [m for m in svc.registry.models if not m.price_known]
    assert unknown
    for t in svc.settings.task_types:
        r = svc.ranking(t)
        for e in r.nofloor_list:
            m = e.model
            assert m.price_known, (t, m.id)
            if m.input_per_1m == 0 or m.output_per_1m == 0:
                assert m.free, (t, m.id)
        reasons = {e.model.id: e.static_reason for e in r.entries}
        assert all(reasons[m.id] == "price unknown" for m in unknown if t in m.capabilities)


def test_no_model_twice_among_the_first_twenty(svc):
    for t in svc.settings.task_types:
        r = svc.ranking(t)
        for rows in (r.entries[:20], r.nofloor_list[:20]):
            ids = [e.model.id for e in rows]
            dups = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if _same_model(a, b)]
            assert not dups, (t, dups)


def test_no_stuttering_name():
    models = json.loads(SHIPPED.read_text(encoding="utf-8"))["models"]
    stutter = [m["name"] for m in models if re.search(r"(?i)\b(\S+) \1\b", m["name"])]
    assert not stutter


def test_free_models_say_so_in_candidate_rows(make_service):
    svc = make_service(registry=SHIPPED, clock=FixedClock(FIXED))
    free = {m.id for m in svc.registry.models if m.free}
    assert free
    r = svc.ranking("documentation")
    choice = decide(r, 1000, 500, 1.0, None)
    rows = candidate_rows(r, choice, 1000, 500, 1.0, None, top=None)
    flagged = {row["model"] for row in rows if row["free"]}
    assert flagged == free
    assert any(row["eligible"] for row in rows if row["free"])


def test_aliases_and_borrowed_ratings(make_service):
    svc = make_service(registry=SHIPPED, clock=FixedClock(FIXED))
    reg = svc.registry
    large = reg.resolve("mistral-large-latest")
    assert large is not None and large.id == "mistral-large-2512" and large.input_per_1m == 0.5
    gpt5 = reg.resolve("gpt-5")
    assert gpt5 is not None and gpt5.id == "gpt-5-2025-08-07"
    assert gpt5.rating_borrowed_from == "gpt-5-high"  # the arena rates only the high-effort variant
    own = [m for m in reg.models if m.quality is not None and m.rating_borrowed_from is None]
    assert len(own) > 100


def test_offer_costs_equal_the_price_map(make_service):
    svc = make_service(registry=SHIPPED, clock=FixedClock(FIXED))
    sonnet = svc.registry.resolve("claude-sonnet-4-5")
    vertex = next(o for o in sonnet.offers if o.provider.startswith("vertex_ai"))
    assert vertex.cost_of(250_000, 1_000) == pytest.approx(250_000 * 6e-6 + 1_000 * 2.25e-5)  # $1.5225
    assert vertex.cost_of(100_000, 1_000) == pytest.approx(100_000 * 3e-6 + 1_000 * 1.5e-5)
    assert sonnet.cost_of(10_000, 0, cached_tokens=10_000) == pytest.approx(10_000 * 3e-7)


def test_unknown_price_is_never_a_baseline_and_aliases_resolve(make_service):
    from modelwise.core.errors import BadInput

    svc = make_service(registry=SHIPPED, clock=FixedClock(FIXED))
    assert not svc.registry.get("gemini-exp-1114").price_known
    with pytest.raises(BadInput, match="unknown price"):
        svc.savings(baseline="gemini-exp-1114")
    assert svc.savings(baseline="gpt-4o")["decisions"] == 0  # the alias of gpt-4o-2024-08-06
