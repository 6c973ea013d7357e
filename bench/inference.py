"""The gateway's task inference (`auto`): its accuracy on the labelled corpus per split (the prompts the
rules were written on, and the held-out ones), and its cost, µs per request over the corpus's requests as
each client sends them, each read anew; then this tree's once more, answered from what the inference
keeps of the requests it has seen (as an agent's later turns are). `--baseline-src DIR` times another
checkout's inference on the same requests, the two trees taken in turn in each round (each in a process
of its own), for a change's before and after in one run: the machine's noise moves both.

Run: python bench/inference.py [--rounds R] [--passes P] [--baseline-src DIR]"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# run in a process whose path starts with one tree's src/: the best of `passes` passes over the requests
# (each request read anew: the answers the inference keeps for an agent's next turns, where a tree keeps
# them, are let go before each request; `kept` times the requests answered from them instead)
_TIMER = """
import json, sys, time
from modelwise.core.settings import Settings
from modelwise.gateway import inference
from modelwise.gateway.inference import infer
bodies = json.load(open(sys.argv[1]))
types = Settings().task_types
kept = sys.argv[3] == "kept"
forget = getattr(inference, "_SEEN", {}).clear
for b in bodies:  # once first: what is made on first use is made
    infer(b["messages"], types, tools=b.get("tools"))
best = float("inf")
for _ in range(int(sys.argv[2])):
    took = 0.0
    for b in bodies:
        if kept:  # seen just before, as an agent's previous turn
            infer(b["messages"], types, tools=b.get("tools"))
        else:
            forget()
        t = time.perf_counter()
        infer(b["messages"], types, tools=b.get("tools"))
        took += time.perf_counter() - t
    best = min(best, took)
print(best / len(bodies) * 1e6)
"""


def requests() -> tuple[list[dict], dict]:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    from tests import inference_corpus

    doc = inference_corpus.load()
    return [inference_corpus.request(p, doc["clients"]) for p in doc["prompts"]], doc


def accuracy() -> str:
    from modelwise.core.settings import Settings
    from modelwise.gateway.inference import infer
    from tests import inference_corpus

    types = Settings().task_types
    result = inference_corpus.evaluate(lambda b: infer(b["messages"], types, tools=b.get("tools")), types)
    return inference_corpus.report(result, types)


def time_tree(src: Path, bodies_file: str, passes: int, kept: bool = False) -> float:
    env = {"PYTHONPATH": f"{src / 'src'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _TIMER, bodies_file, str(passes), "kept" if kept else "read"],
                         env=env, cwd=src,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="another checkout whose inference is timed beside this tree's")
    args = ap.parse_args(argv)
    bodies, doc = requests()
    print(f"task inference on tests/fixtures/inference_corpus.json ({len(bodies)} requests)")
    print(accuracy())
    trees = {"this tree": ROOT}
    if args.baseline_src is not None:
        trees = {"baseline": args.baseline_src.resolve(), **trees}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(bodies, fh)
    times: dict[str, list[float]] = {name: [] for name in trees}
    kept: list[float] = []
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            times[name].append(time_tree(trees[name], fh.name, args.passes))
        kept.append(time_tree(ROOT, fh.name, args.passes, kept=True))
    Path(fh.name).unlink()
    for name, ts in times.items():
        print(f"{name}: {statistics.median(ts):.1f} us per request (median of {len(ts)} rounds, "
              f"{min(ts):.1f}-{max(ts):.1f})")
    print(f"this tree, each request seen before (an agent's next turn): {statistics.median(kept):.1f} us")
    if "baseline" in times:
        ratios = [a / b for a, b in zip(times["this tree"], times["baseline"], strict=True)]
        print(f"this tree / baseline: {statistics.median(ratios):.3f} (median of the rounds' ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
