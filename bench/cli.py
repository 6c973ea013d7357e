"""Cold-process CLI speed (SPEC 9): wall time of `modelwise route --json` in a new process, beside
`python -c pass`, over the shipped registry and a fresh temporary ledger.

The first run in a new cache folder validates the registry with pydantic and caches the result; every
later process loads the cache. Both are reported; the budget (100 ms) applies to the usual, cached case.

Run: python bench/cli.py [--runs N]"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000.0
    if r.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.update(
            MODELWISE_LEDGER=str(Path(tmp) / "ledger.sqlite3"),
            MODELWISE_CONFIG=str(Path(tmp) / "config.toml"),
            MODELWISE_CACHE=str(Path(tmp) / "cache"),
            MODELWISE_REGISTRY=str(ROOT / "model_registry.json"),
        )
        Path(env["MODELWISE_CONFIG"]).write_text("daily_budget = 1000000\n")
        # Measure the package as pip installs it: with compiled bytecode. (This sandbox sets
        # PYTHONDONTWRITEBYTECODE, which would make every process recompile every module.)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        import compileall
        import importlib.util

        pkg = Path(importlib.util.find_spec("modelwise").origin).parent
        compileall.compile_dir(str(pkg), quiet=1)
        route = [sys.executable, "-m", "modelwise", "route", "code_generation", "Create a React component", "--json"]
        first = wall(route, env)  # validates with pydantic and fills the cache
        base = [wall([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
        cold = [wall(route, env) for _ in range(args.runs)]
    b, c = statistics.median(base), statistics.median(cold)
    print(f"{'figure':<58} {'median ms':>10} {'budget ms':>10} {'ratio':>7}")
    print(f"{'python -c pass':<58} {b:>10.1f} {'':>10} {'':>7}")
    print(f"{'modelwise route --json, cold process (registry cached)':<58} {c:>10.1f} {100:>10} {c / 100:>7.2f}")
    print(f"{'modelwise route --json, first run (validates, caches)':<58} {first:>10.1f} {'':>10} {'':>7}")
    print(f"{'route over python startup':<58} {c - b:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
