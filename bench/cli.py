"""Cold-process CLI speed (docs/design.md, "Performance budget"): wall time of `modelwise route --json` in a
new process, beside `python -c pass`, over the shipped registry and a fresh temporary ledger (every run
records a decision).

Timed both as the installed `modelwise` script (what a user or an agent runs) and as
`python -m modelwise` (which adds runpy). The first run in a new cache folder validates the registry
with pydantic and caches the result; every later process loads the cache. Both are reported; the
budget (at most 6 times `python -c pass`, timed in turn with it) applies to the usual, cached case.
CPU time (user + system of the child) is printed beside the wall time: on a busy machine it moves less
than the wall time does.

With `--baseline-src DIR` it times this tree against another checkout instead, in turn in one run: each
as `python -m modelwise route --json` with its own `src/` first on PYTHONPATH and its own ledger and
cache, and prints both medians (wall and CPU) and their ratio.

The processes are told where their ledger, config, cache and registry are (MODELWISE_*), unless `--home`
gives each its own temporary HOME and no MODELWISE_* or XDG_* variable, as a user's process starts: it
then finds them in the user folders (and the shipped registry), which it has to work out.

Run: python bench/cli.py [--runs N] [--baseline-src DIR] [--home]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, cold_env, figure, print_table, source_dir, wall  # noqa: E402

PASS_TIMES = 6.0  # the budget: this many times `python -c pass`, measured in the same run
ARGS = ["route", "code_generation", "Create a React component", "--json"]


def script() -> list[str] | None:
    """The `modelwise` entry point pip installed beside this interpreter, if there is one."""
    exe = Path(sys.executable).parent / "modelwise"
    return [str(exe)] if exe.exists() else None


def user_env(folder: Path, **overrides: str) -> dict[str, str]:
    """`cold_env`, but as a user's process starts: HOME is `folder` (with the config in its user folder)
    and no MODELWISE_* or XDG_* variable says where anything is."""
    env = cold_env(folder, **overrides)
    config = Path(env["MODELWISE_CONFIG"]).read_text()
    env = {k: v for k, v in env.items() if not k.startswith(("MODELWISE_", "XDG_"))}
    env["HOME"] = str(folder)
    (folder / ".config" / "modelwise").mkdir(parents=True, exist_ok=True)
    (folder / ".config" / "modelwise" / "config.toml").write_text(config)
    return env


def run(runs: int = 20, quick: bool = False, home: bool = False) -> list[dict]:
    if quick:
        runs = min(runs, 7)
    with tempfile.TemporaryDirectory() as tmp:
        env = (user_env if home else cold_env)(Path(tmp))
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


def compare(baseline: str, runs: int = 20, home: bool = False) -> dict[str, float]:
    """This tree's cold `route` against the checkout at `baseline`, in turn (which goes first
    alternating), each tree with its own src/ on PYTHONPATH, ledger and cache (`home`: each in a HOME of
    its own, `user_env`). Returns the medians (ms) and the ratio this / baseline of the wall and CPU
    times."""
    trees = {"baseline": source_dir(baseline), "this": str(ROOT / "src")}
    module = [sys.executable, "-m", "modelwise", *ARGS]
    with tempfile.TemporaryDirectory() as tmp:
        envs = {}
        for side, src in trees.items():
            folder = Path(tmp) / side
            folder.mkdir()
            envs[side] = (user_env if home else cold_env)(folder, PYTHONPATH=src)
            wall(module, envs[side])  # validates, caches and compiles this tree's bytecode
        samples: dict[str, list[tuple[float, float]]] = {side: [] for side in trees}
        for i in range(runs):
            for side in (("baseline", "this") if i % 2 == 0 else ("this", "baseline")):
                samples[side].append(wall(module, envs[side]))
    out: dict[str, float] = {}
    for side, xs in samples.items():
        out[f"{side}_wall"] = statistics.median(w for w, _ in xs)
        out[f"{side}_cpu"] = statistics.median(c for _, c in xs)
    out["wall_ratio"] = out["this_wall"] / out["baseline_wall"]
    out["cpu_ratio"] = out["this_cpu"] / out["baseline_cpu"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--baseline-src", metavar="DIR", help="another checkout (or its src/) to time against")
    ap.add_argument("--home", action="store_true",
                    help="each process in a HOME of its own, told nothing of where its files are")
    args = ap.parse_args()
    if args.baseline_src:
        got = compare(args.baseline_src, args.runs, args.home)
        print(
            f"python -m modelwise route --json, cold, {args.runs} runs of each in turn: "
            f"this tree {got['this_wall']:.1f} ms (CPU {got['this_cpu']:.0f}), baseline "
            f"{got['baseline_wall']:.1f} ms (CPU {got['baseline_cpu']:.0f}); ratio {got['wall_ratio']:.3f} "
            f"(CPU {got['cpu_ratio']:.3f})"
        )
        return 0
    rows = run(args.runs, home=args.home)
    print_table(rows)
    for r in rows:
        if r["note"]:
            print(f"  {r['name']}: {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
