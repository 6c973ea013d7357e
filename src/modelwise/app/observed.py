"""What the ledger observed per model and task type, beside the registry's values (what `models`,
`explain` and `audit` show): outcome counts, calibrated quality and availability, median latency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.core.calibration import Calibration, Observed, calibrated_availability, calibrated_quality
from modelwise.core.models import ModelSpec

if TYPE_CHECKING:
    from modelwise.app.context import Context


def observed_values(
    ctx: Context, model: ModelSpec, task_type: str, observed: Calibration | None = None
) -> dict[str, Any]:
    """Registry and observed values of one model for one task type, side by side, with the number of outcomes
    behind them. `calibratedQuality` is the Beta posterior mean (docs/design.md, "Outcomes and learning") that
    scoring uses when learning is on (`learning`); with no outcomes it equals the prior."""
    calib = ctx.observations() if observed is None else observed
    obs = calib.observed(model.id, task_type) or Observed()
    reg_q = model.quality_for(task_type)
    prior = reg_q if reg_q is not None else ctx.settings.unrated_quality
    strength = ctx.settings.prior_strength
    judged = obs.successes + obs.failures
    return {
        "registryQuality": reg_q,
        "calibratedQuality": round(calibrated_quality(prior, strength, obs), 6),
        "registryAvailability": model.availability,
        "calibratedAvailability": round(calibrated_availability(model.availability, strength, obs), 6),
        "registryLatencyMs": model.latency_ms,
        "medianLatencyMs": obs.median_latency_ms,
        "latencies": obs.latency_count,
        "outcomes": obs.outcomes,
        "successes": obs.successes,
        "failures": obs.failures,
        "errors": obs.errors,
        "successRate": round(obs.successes / judged, 6) if judged else None,
        "learning": ctx.settings.learning_enabled,
    }


def add_observed_to_models(ctx: Context, rows: list[dict[str, Any]], task: str | None) -> None:
    """`models`: registry versus observed values per row. With a task type, the calibrated values for
    it; without, the outcome counts summed over task types (calibration is per task type)."""
    calib = ctx.observations()
    if not calib:
        return
    totals: dict[str, list[int]] = {}
    if task is None:
        for (model_id, _task), o in calib.by_key.items():
            t = totals.setdefault(model_id, [0, 0, 0])
            t[0] += o.successes
            t[1] += o.failures
            t[2] += o.errors
    for r in rows:
        m = ctx.registry.get(r["id"])
        if m is None:
            continue
        if task is not None:
            if calib.observed(m.id, task) is not None:
                r["observed"] = observed_values(ctx, m, task, calib)
        elif m.id in totals:
            s, f, e = totals[m.id]
            r["observed"] = {
                "registryQuality": m.quality,
                "calibratedQuality": None,
                "registryAvailability": m.availability,
                "calibratedAvailability": None,
                "medianLatencyMs": None,
                "outcomes": s + f + e,
                "successes": s,
                "failures": f,
                "errors": e,
                "successRate": round(s / (s + f), 6) if s + f else None,
                "learning": ctx.settings.learning_enabled,
            }


def add_observed_to_candidates(ctx: Context, response: dict[str, Any], task_type: str) -> None:
    """`explain`: each candidate row gets its registry and calibrated values and their """
    calib = ctx.observations()
    for row in response.get("candidates", []):
        m = ctx.registry.get(row["model"])
        if m is not None:
            row["observed"] = observed_values(ctx, m, task_type, calib)
