"""How the crash and race writers settle: at the estimate, at a given cost or by tokens, above and below
the estimate, and what each settlement must cost, computed here from the registry file (not by
modelwise), so a ledger that settles at anything else is caught."""

from __future__ import annotations

import json
import random
from typing import Any


def prices(registry_path: str) -> dict[str, tuple[float, float]]:
    """USD per million input and output tokens of each model of a registry file."""
    out = {}
    for m in json.loads(open(registry_path, encoding="utf-8").read())["models"]:
        if m.get("pricing"):
            out[m["id"]] = (float(m["pricing"]["inputPer1M"]), float(m["pricing"]["outputPer1M"]))
        else:
            per_1m = float(m["costPer1kTokens"]) * 1000.0
            out[m["id"]] = (per_1m, per_1m)
    return out


def pick(rng: random.Random, answer: dict[str, Any], price: dict[str, tuple[float, float]]
         ) -> tuple[dict[str, Any], float]:
    """A settlement of the routed `answer`: (keyword arguments of record_outcome, the actual cost it
    must settle at). A quarter at the estimate, the rest at a given cost or by tokens, from a tenth of
    the estimate to two and a half times it."""
    est = answer["estimatedCost"]
    mode = rng.random()
    if mode < 0.25:
        return {}, est
    if mode < 0.6:
        cost = est * rng.uniform(0.1, 2.5)
        return {"cost": cost}, cost
    pin, pout = price[answer["selectedModel"]]
    tin, tout = answer["estimatedTokens"]["input"], answer["estimatedTokens"]["output"]
    kw: dict[str, Any] = {}
    if rng.random() < 0.8:
        tin = kw["input_tokens"] = max(0, round(tin * rng.uniform(0.1, 2.5)))
    if "input_tokens" not in kw or rng.random() < 0.8:
        tout = kw["output_tokens"] = max(0, round(tout * rng.uniform(0.1, 2.5)))
    return kw, (tin * pin + tout * pout) / 1_000_000.0


def http_body(kw: dict[str, Any]) -> dict[str, Any]:
    """The same settlement as POST /outcomes fields."""
    names = {"cost": "cost", "input_tokens": "inputTokens", "output_tokens": "outputTokens",
             "latency_ms": "latencyMs", "correct": "correct"}
    return {names[k]: v for k, v in kw.items()}
