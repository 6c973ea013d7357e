"""Replaying per-prompt outcome data through the router with k-fold cross-validation (docs/design.md,
"Outcomes and learning").

Pure: a function of the rows, the registry, the settings and the weights (no file, no ledger, no clock).

Definitions, by which the numbers are checked rather than tuned:

- Folds: the prompt ids, sorted, shuffled with `random.Random(seed)` and dealt round-robin into k folds.
- Calibration on the training folds, exactly as outcomes in the ledger teach the router: per model and task
  type, the Beta prior centred on the registry quality for that task (or the unrated prior) with
  `prior_strength` observations, updated by the training prompts' scores. A score counts fractionally:
  `score` successes and `1 - score` failures (for 0/1 scores this is score >= 0.5 = success). The file
  has no errors, so availability is calibrated by successes only.
- Routing: each held-out prompt is routed by its task type with the core's `rank_models` and `decide`,
  among the models that have a row for that prompt, with no daily budget (a replay spends nothing) and
  the task type's configured task budget. Tokens: the prompt's recorded input tokens (the prompt is known
  before the call) and the task type's output allowance (the answer is not).
- Scoring: the routed model's recorded `score` and `cost_usd` on that prompt. A refused prompt (no model
  fits) scores 0 and costs $0, and is counted.
- Quality = mean score per prompt; cost = total USD over all prompts. The oracle takes, on each prompt,
  the cheapest model with that prompt's best score.
- Models: a registry model keeps its prices, quality and capabilities, plus every task type of the file
  that the configured vocabulary does not know (the registry cannot say it is incapable of those). A model
  not in the registry is capable of every task type of the file, unrated, and priced at its mean
  `cost_usd` per token in the file (total cost / total tokens), input and output alike."""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from modelwise.core.calibration import Calibration, Observed, calibrated_quality
from modelwise.core.errors import BadInput
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.planning import plan
from modelwise.core.routing import REFUSED, weight_flips
from modelwise.core.scoring import Ranking, rank_models
from modelwise.core.settings import Settings, Tier, Weights
from modelwise.importers.outcomes import OutcomeData

EVALUATE_TIER = "evaluate"


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt and every model's recorded (score, cost) on it."""

    id: str
    task_type: str
    input_tokens: int
    results: dict[str, tuple[float, float]]


def evaluation_settings(base: Settings, task_types: Iterable[str], configured: set[str]) -> Settings:
    """The settings of one evaluation run: every task type of the file is a type; those in a tier the
    config names keep that tier (and its floor), the others go to a tier of their own with no floor.
    Learning is on: calibrating is what evaluate measures."""
    types = set(task_types)
    moved = tuple(sorted(t for t in types if t not in configured))
    tiers = [
        Tier(t.name, t.share, t.floor_percentile, tuple(x for x in t.tasks if x not in moved))
        for t in base.tiers
    ]
    tiers.append(Tier(EVALUATE_TIER, 0.0, 0.0, moved))
    return dataclasses.replace(base, tiers=tuple(tiers), learning_enabled=True)


def group_prompts(data: OutcomeData) -> list[Prompt]:
    """The rows grouped by prompt, in order of first appearance."""
    by_id: dict[str, Prompt] = {}
    for r in data.rows:
        p = by_id.get(r.prompt_id)
        if p is None:
            p = Prompt(r.prompt_id, r.task_type, r.input_tokens, {})
            by_id[r.prompt_id] = p
        p.results[r.model] = (r.score, r.cost_usd)
    return list(by_id.values())


def model_specs(data: OutcomeData, registry: Registry, vocabulary: Iterable[str]) -> dict[str, ModelSpec]:
    """A ModelSpec for every model of the file (see the module's docstring); `vocabulary` is the task
    types the configuration knows (the registry's capabilities speak only of those)."""
    known = set(vocabulary)
    new_types = frozenset(t for t in data.task_types if t not in known)
    cost: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    for r in data.rows:
        cost[r.model] += r.cost_usd
        tokens[r.model] += r.input_tokens + r.output_tokens
    specs: dict[str, ModelSpec] = {}
    for model_id in data.models:
        spec = registry.get(model_id)
        if spec is not None:
            specs[model_id] = dataclasses.replace(spec, capabilities=spec.capabilities | new_types)
            continue
        if tokens[model_id] == 0:
            if cost[model_id] > 0:
                raise BadInput(
                    f"{data.source}: model {model_id!r} is not in the registry and its rows have cost but no "
                    "tokens, so its price per token is unknown"
                )
            per_1m = 0.0
        else:
            per_1m = cost[model_id] / tokens[model_id] * 1_000_000.0
        specs[model_id] = ModelSpec(
            id=model_id,
            name=model_id,
            provider=None,
            capabilities=frozenset(data.task_types),
            input_per_1m=per_1m,
            output_per_1m=per_1m,
            cache_read_per_1m=None,
            latency_ms=None,
            quality=None,
            quality_by_task={},
            availability=0.99,
            source={"prices": {"file": data.source, "rule": "mean cost_usd per token"}},
        )
    return specs


def assign_folds(prompts: Sequence[Prompt], folds: int, seed: int) -> dict[str, int]:
    """Prompt id -> fold: sorted ids shuffled by `seed`, dealt round-robin."""
    if folds < 2:
        raise BadInput(f"--folds must be at least 2, not {folds}")
    if folds > len(prompts):
        raise BadInput(f"--folds {folds} is more than the {len(prompts)} prompts in the file")
    ids = sorted(p.id for p in prompts)
    random.Random(seed).shuffle(ids)
    return {pid: i % folds for i, pid in enumerate(ids)}


def calibrate(prompts: Iterable[Prompt]) -> Calibration:
    """Fractional successes and failures per (model, task type) from these prompts' scores."""
    hits: dict[tuple[str, str], list[float]] = {}
    for p in prompts:
        for model_id, (score, _cost) in p.results.items():
            h = hits.setdefault((model_id, p.task_type), [0.0, 0.0])
            h[0] += score
            h[1] += 1.0 - score
    # Observed's counts are fractional here (scores in 0..1); the posterior mean is defined for any.
    return Calibration({k: Observed(s, f, 0) for k, (s, f) in hits.items()}, version=1)  # type: ignore[arg-type]


def _summary(scores: Sequence[float], costs: Sequence[float], n: int) -> dict[str, Any]:
    return {"quality": round(sum(scores) / n, 6) if n else 0.0, "cost": round(sum(costs), 8)}


def route_all(
    prompts: Sequence[Prompt],
    fold_of: dict[str, int],
    folds: int,
    specs: dict[str, ModelSpec],
    settings: Settings,
    weights: Weights,
    calibrations: list[Calibration] | None = None,
) -> tuple[dict[str, str | None], list[Calibration]]:
    """Route every prompt with the calibration of the folds it is not in (computed unless given). Returns
    prompt id -> model id (None when refused) and the calibration of each fold."""
    by_fold: list[list[Prompt]] = [[] for _ in range(folds)]
    for p in prompts:
        by_fold[fold_of[p.id]].append(p)
    if calibrations is None:
        calibrations = [
            calibrate(q for j in range(folds) if j != k for q in by_fold[j]) for k in range(folds)
        ]
    chosen: dict[str, str | None] = {}
    for k in range(folds):
        rankings: dict[tuple[str, tuple[str, ...]], Ranking] = {}
        for p in by_fold[k]:
            present = tuple(sorted(p.results))
            key = (p.task_type, present)
            ranking = rankings.get(key)
            if ranking is None:
                tier = settings.tier_for(p.task_type)
                assert tier is not None
                models = [specs[m] for m in present]
                ranking = rank_models(
                    models, p.task_type, tier, weights, settings, calibration=calibrations[k]
                )
                rankings[key] = ranking
            tout = settings.tokens_for(p.task_type)[1]
            task_budget = settings.budget_for(p.task_type)
            choice = plan(ranking, p.input_tokens, tout, task_budget, settings, None).choice
            chosen[p.id] = (
                None if choice.status == REFUSED or choice.winner is None else choice.winner.model.id
            )
    return chosen, calibrations


def score_router(prompts: Sequence[Prompt], chosen: dict[str, str | None]) -> dict[str, Any]:
    scores: list[float] = []
    costs: list[float] = []
    picks: defaultdict[str, int] = defaultdict(int)
    refused = 0
    for p in prompts:
        m = chosen[p.id]
        if m is None:
            refused += 1
            scores.append(0.0)
            costs.append(0.0)
            continue
        s, c = p.results[m]
        scores.append(s)
        costs.append(c)
        picks[m] += 1
    out = _summary(scores, costs, len(prompts))
    out["picks"] = dict(sorted(picks.items()))
    out["refused"] = refused
    return out


def score_oracle(prompts: Sequence[Prompt]) -> dict[str, Any]:
    scores: list[float] = []
    costs: list[float] = []
    picks: defaultdict[str, int] = defaultdict(int)
    for p in prompts:
        best = max(s for s, _ in p.results.values())
        model, (s, c) = min(
            ((m, sc) for m, sc in p.results.items() if sc[0] == best), key=lambda x: (x[1][1], x[0])
        )
        scores.append(s)
        costs.append(c)
        picks[model] += 1
    out = _summary(scores, costs, len(prompts))
    out["picks"] = dict(sorted(picks.items()))
    return out


def sweep_points(n: int) -> list[float]:
    if n < 0:
        raise BadInput(f"--sweep must be zero or more, not {n}")
    if n == 1:
        return [0.0]
    return [i / (n - 1) for i in range(n)]


def switch_points(
    prompts: Sequence[Prompt],
    specs: dict[str, ModelSpec],
    settings: Settings,
    weights: Weights,
    calibration: Calibration,
) -> dict[str, list[dict[str, Any]]]:
    """Per task type, the exact cost weights (the other weights as given) at which the router's choice
    changes as the cost weight rises from 0, with the whole file's calibration: the crossings that the
    sweep's grid can only bracket. Each crossing is where the next model's total ties the winner's."""
    c, p, a, _k = weights.as_tuple()
    out: dict[str, list[dict[str, Any]]] = {}
    types = sorted({q.task_type for q in prompts})
    for t in types:
        present = sorted({m for q in prompts if q.task_type == t for m in q.results})
        models = [specs[m] for m in present]
        tier = settings.tier_for(t)
        assert tier is not None
        points: list[dict[str, Any]] = []
        k = 0.0
        while c + p + a + k > 0 and len(points) <= len(models):
            ranking = rank_models(models, t, tier, Weights(c, p, a, k), settings, calibration=calibration)
            if not ranking.floor_list:
                break
            winner = ranking.floor_list[0]
            ups = [
                f
                for f in weight_flips(ranking.weights.as_tuple(), winner, ranking.floor_list)
                if f["weight"] == "cost" and f["direction"] == "up" and f["value"] > k
            ]
            if not ups:
                break
            f = ups[0]
            points.append({"costWeight": f["value"], "from": winner.model.id, "to": f["model"]})
            k = f["value"] * (1 + 1e-9) + 1e-12
        out[t] = points
    return out


def evaluate(
    data: OutcomeData,
    registry: Registry,
    settings: Settings,
    weights: Weights,
    folds: int = 5,
    sweep: int = 21,
    seed: int = 0,
    vocabulary: Iterable[str] = (),
) -> dict[str, Any]:
    """The router, every single model and the oracle on the file, plus the cost-weight sweep (JSON).
    `settings` come from `evaluation_settings`; `vocabulary` is the configured task types."""
    prompts = group_prompts(data)
    fold_of = assign_folds(prompts, folds, seed)
    specs = model_specs(data, registry, vocabulary)
    chosen, calibrations = route_all(prompts, fold_of, folds, specs, settings, weights)
    router = score_router(prompts, chosen)
    router_by_type = {
        t: score_router([p for p in prompts if p.task_type == t], chosen) for t in data.task_types
    }

    models: dict[str, dict[str, Any]] = {}
    for model_id, spec in specs.items():
        mine = [p.results[model_id] for p in prompts if model_id in p.results]
        row = _summary([s for s, _ in mine], [c for _, c in mine], len(mine))
        row.update(
            prompts=len(mine),
            inRegistry=registry.get(model_id) is not None,
            inputPer1M=round(spec.input_per_1m, 6),
            outputPer1M=round(spec.output_per_1m, 6),
        )
        models[model_id] = row

    points = []
    base = weights.as_tuple()
    for k in sweep_points(sweep):
        if base[0] + base[1] + base[2] + k <= 0:
            continue  # all four weights zero: no ranking
        w = Weights(base[0], base[1], base[2], k)
        picked, _ = route_all(prompts, fold_of, folds, specs, settings, w, calibrations)
        r = score_router(prompts, picked)
        points.append(
            {"costWeight": round(k, 6), "quality": r["quality"], "cost": r["cost"], "picks": r["picks"]}
        )

    full = calibrate(prompts)
    calibration: dict[str, dict[str, Any]] = {}
    for t in data.task_types:
        for model_id, spec in specs.items():
            obs = full.observed(model_id, t)
            if obs is None:
                continue
            prior = spec.quality_for(t)
            calibration.setdefault(t, {})[model_id] = {
                "registryQuality": prior,
                "prompts": round(obs.successes + obs.failures),
                "meanScore": round(obs.successes / (obs.successes + obs.failures), 6),
                "calibratedQuality": round(
                    calibrated_quality(
                        prior if prior is not None else settings.unrated_quality, settings.prior_strength, obs
                    ),
                    6,
                ),
            }

    best_id = max(models, key=lambda m: (models[m]["quality"], -models[m]["cost"], m))
    best = models[best_id]
    return {
        "prompts": len(prompts),
        "rows": len(data.rows),
        "taskTypes": list(data.task_types),
        "folds": folds,
        "seed": seed,
        "weights": weights.to_json(),
        "priorStrength": settings.prior_strength,
        "router": router,
        "routerByTaskType": router_by_type,
        "oracle": score_oracle(prompts),
        "models": models,
        "versusBestModel": {
            "model": best_id,
            "qualityKept": round(router["quality"] / best["quality"], 6) if best["quality"] else None,
            "costSaved": round(1 - router["cost"] / best["cost"], 6) if best["cost"] else None,
        },
        "sweep": points,
        "switchPoints": switch_points(prompts, specs, settings, weights, full),
        "calibration": calibration,
    }


def plot_frontier(result: dict[str, Any], path: str) -> None:
    """Draw the router's cost/quality frontier (the sweep) beside the single models and the oracle, as a
    PNG at `path` (matplotlib, Agg backend; imported here so the CLI stays light)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    sweep = result["sweep"]
    if sweep:
        xs = [p["cost"] for p in sweep]
        ys = [p["quality"] for p in sweep]
        ax.plot(xs, ys, "-o", color="tab:blue", ms=4, label="router, cost weight 0 → 1")
        seen: set[tuple[float, float]] = set()
        for p in sweep:
            key = (p["cost"], p["quality"])
            if key not in seen:
                seen.add(key)
                ax.annotate(
                    f"k={p['costWeight']:g}", key, textcoords="offset points", xytext=(6, -10), fontsize=7
                )
    r = result["router"]
    w = result["weights"]
    ax.plot(
        [r["cost"]],
        [r["quality"]],
        "D",
        color="tab:blue",
        ms=9,
        mfc="none",
        mew=2,
        label="router at weights "
        + ",".join(f"{w[k]:g}" for k in ("capability", "performance", "availability", "cost")),
    )
    colours = ["tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:gray"]
    for i, (model_id, m) in enumerate(result["models"].items()):
        ax.plot(
            [m["cost"]], [m["quality"]], "s", color=colours[i % len(colours)], ms=8, label=f"{model_id} alone"
        )
    o = result["oracle"]
    ax.plot([o["cost"]], [o["quality"]], "*", color="gold", mec="black", ms=14, label="oracle")
    ax.set_xlabel("total cost over all prompts (USD)")
    ax.set_ylabel("quality (mean score per prompt)")
    ax.set_title(f"{result['prompts']:,} prompts, {result['folds']}-fold cross-validation")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
