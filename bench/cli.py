"""Cold-process CLI speed (docs/design.md, "Performance budget"): wall time of `modelwise route --json` in a
new process, beside `python -c pass`, over the shipped registry and a fresh temporary ledger (every run
records a decision).

Timed both as the installed `modelwise` script (what a user or an agent runs) and as
`python -m modelwise` (which adds runpy). The first run in a new cache folder validates the registry
with pydantic and caches the result; every later process loads the cache. Both are reported; the
budget (at most 6 times `python -c pass`, timed in turn with it) applies to the usual, cached case.
CPU time (user + system of the child) is printed beside the wall time: on a busy machine it moves less
than the wall time does.

Run: python bench/cli.py [--runs N]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cold_env, figure, print_table, wall  # noqa: E402

PASS_TIMES = 6.0  # the budget: this many times `python -c pass`, measured in the same run
ARGS = ["route", "code_generation", "Create a React component", "--json"]


def script() -> list[str] | None:
    """The `modelwise` entry point pip installed beside this interpreter, if there is one."""
    exe = Path(sys.executable).parent / "modelwise"
    return [str(exe)] if exe.exists() else None


def run(runs: int = 20, quick: bool = False) -> list[dict]:
    if quick:
        runs = min(runs, 7)
    with tempfile.TemporaryDirectory() as tmp:
        env = cold_env(Path(tmp))
        module = [sys.executable, "-m", "modelwise"]
        first, _ = wall(module + ARGS, env)  # validates with pydantic and fills the cache
        commands = [("modelwise route --json", script()), ("python -m modelwise route --json", module)]
        commands = [(label, cmd) for label, cmd in commands if cmd]
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in commands}
        samples["python -c pass"] = []
        for _ in range(runs):  # interleaved, so a burst of load hits every command alike
            samples["python -c pass"].append(wall([sys.executable, "-c", "pass"], env))
            for label, cmd in commands:
                samples[label].append(wall(cmd + ARGS, env))
    rows = []
    base = statistics.median(w for w, _ in samples["python -c pass"])
    for label, xs in samples.items():
        walls = [w for w, _ in xs]
        med, cpu = statistics.median(walls), statistics.median(c for _, c in xs)
        name = label if label == "python -c pass" else f"{label}, cold process (registry cached)"
        note = f"CPU {cpu:.0f} ms" + (
            "" if label == "python -c pass" else f"; {med - base:.0f} ms over python -c pass"
        )
        rows.append(
            figure(
                name,
                med,
                "ms",
                None if label == "python -c pass" else PASS_TIMES * base,
                spread=(min(walls), max(walls)),
                note=note,
            )
        )
    rows.append(figure("python -m modelwise route --json, first run (validates, caches)", first, "ms"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    rows = run(args.runs)
    print_table(rows)
    for r in rows:
        if r["note"]:
            print(f"  {r['name']}: {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
