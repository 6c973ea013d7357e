"""`modelwise providers`: who can call which models, and whether each key variable is set (never the key)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import emit

if TYPE_CHECKING:
    import argparse

NAME = "providers"
HELP = "the providers: on or off, whether their key is set, how many models each reaches"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def providers_table(svc: Any) -> list[dict[str, Any]]:
    """One row per provider (built-in or configured): on or off and why, which key variable it reads and
    whether it is set (never the key), where it is, its wire format and how many registry models it
    reaches."""
    from modelwise.core import providers as prov

    defs = prov.merge_config(svc.settings.providers_config())
    resolved = prov.resolve(defs, os.environ)
    counts = prov.compute_reach(svc.registry.models, resolved, count_all=True).counts
    rows = []
    for p in resolved:
        s = p.spec
        origin = "built-in" if s.builtin else "configured"
        if s.builtin and s.configured:
            origin = "built-in, configured"
        rows.append(
            {
                "name": s.name,
                "label": s.label,
                "origin": origin,
                "enabled": p.enabled,
                "why": p.why_off,
                "keyVariables": list(s.key_envs),
                "keyVariable": p.key_env,
                "keyPresent": p.key_env is not None,
                "baseUrl": s.base_url,
                "api": s.api,
                "free": s.free,
                "local": s.local,
                "models": counts.get(s.name, 0),
                "listedModels": None if s.models is None else list(s.models),
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    rows = providers_table(svc)
    if args.json:
        emit(rows)
        return EXIT_OK
    print(f"{'provider':<14} {'state':<4} {'key':<28} {'api':<9} {'models':>6}  base url")
    for r in rows:
        if r["keyVariables"]:
            key = (r["keyVariable"] + " set") if r["keyPresent"] else (r["keyVariables"][0] + " not set")
        else:
            key = "no key needed"
        state = "on" if r["enabled"] else "off"
        print(f"{r['name']:<14} {state:<4} {key[:28]:<28} {r['api']:<9} {r['models']:>6}  {r['baseUrl']}")
    on = [r["name"] for r in rows if r["enabled"]]
    if on:
        print(f"routing keeps to the models {', '.join(on)} reach", file=sys.stderr)
    else:
        print(
            "no provider is on: routing is advisory over the whole registry (set a key variable above or "
            "add [providers.NAME] to the config)",
            file=sys.stderr,
        )
    return EXIT_OK
