"""Console performance (docs/design.md, "Performance budget"): time to the first frame with the shipped
registry (budget 500 ms), beside an empty Textual app's first frame measured in the same run (the ratio:
aim at 1.5 or less), and the time of one re-rank after a keystroke (budget 16 ms, one frame), measured
over a ledger with `--decisions` decisions today, so the live what-if replays them in its worker while
the form re-ranks; also how long the what-if line takes to follow a weight change. Prints figures and
ratios.

Usage: python bench/console.py [--registry PATH] [--keys 40] [--decisions 100]"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_FRAME_BUDGET_MS = 500.0
RERANK_BUDGET_MS = 16.0

CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
from modelwise.tui.app import ModelwiseApp
from modelwise.tui.boot import prepare

marks = {}

class Timed(ModelwiseApp):  # started as `modelwise console` starts it: the service built after the frame
    def on_mount(self) -> None:
        super().on_mount()
        marks["mounted"] = (time.perf_counter() - t0) * 1000
        self.call_after_refresh(self._first_frame)

    def _first_frame(self) -> None:
        marks["first_frame"] = (time.perf_counter() - t0) * 1000
        self.set_interval(0.005, self._check)

    def _check(self) -> None:
        if not self.ready:
            return
        marks.setdefault("service", (time.perf_counter() - t0) * 1000)
        pane = self.query_one("#registry")
        if pane.rows and not pane.filling and "models" not in marks:
            marks["models"] = (time.perf_counter() - t0) * 1000
            self.exit()

app = Timed(boot=prepare(registry=sys.argv[1] if sys.argv[1] != "-" else None, ledger=sys.argv[2]))
app.run(headless=True, size=(int(sys.argv[3]), int(sys.argv[4])))
if app.boot_error is not None:
    raise app.boot_error
marks["models_in_registry"] = len(app.service.registry)
app.service.close()
print(json.dumps(marks))
"""


# The baseline: an empty Textual app's first frame, timed the same way (from the child's first line).
EMPTY_CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
from textual.app import App

marks = {}

class Empty(App[None]):
    def on_mount(self) -> None:
        self.call_after_refresh(self._first_frame)

    def _first_frame(self) -> None:
        marks["first_frame"] = (time.perf_counter() - t0) * 1000
        self.exit()

Empty().run(headless=True, size=(int(sys.argv[3]), int(sys.argv[4])))
print(json.dumps(marks))
"""


def first_frame(registry: str, runs: int, size: tuple[int, int], child: str = CHILD) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CONFIG_HOME=f"{tmp}/config", XDG_CACHE_HOME=f"{tmp}/cache")
        for i in range(runs + 1):  # the first run fills the validated-registry cache, as a first start does
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", child, registry, f"{tmp}/ledger.sqlite3", *map(str, size)],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            wall = (time.perf_counter() - started) * 1000
            if done.returncode != 0:
                raise SystemExit(f"console child failed:\n{done.stderr}")
            marks = json.loads(done.stdout.strip().splitlines()[-1])
            marks["wall_to_exit"] = wall
            if i:
                out.append(marks)
    return out


def first_frames_beside_empty(
    registry: str, runs: int, size: tuple[int, int]
) -> tuple[list[float], list[float]]:
    """The console's first frames and an empty Textual app's, `runs` each, taken in turn in one run (so
    both see the same machine load); milliseconds from the child's first line to its first frame."""
    console, empty = [], []
    for _ in range(runs):
        empty += [m["first_frame"] for m in first_frame(registry, 1, size, EMPTY_CHILD)]
        console += [m["first_frame"] for m in first_frame(registry, 1, size)]
    return console, empty


def seed_today(svc, n: int) -> None:
    """`n` decisions today over every task type, as the what-if line will replay them."""
    types = svc.settings.task_types
    for i in range(n):
        svc.route_task(types[i % len(types)], f"task {i}: " + "x" * (40 * (i % 7)), agent="bench")
    svc.ledger.release()


async def rerank(registry: str, keys: int, decisions: int) -> dict[str, list[float]]:
    from modelwise.service import TokenOptimizationService
    from modelwise.tui.app import ModelwiseApp
    from modelwise.tui.panes.route import RoutePane

    with tempfile.TemporaryDirectory() as tmp:
        svc = TokenOptimizationService(
            registry=None if registry == "-" else registry, ledger=f"{tmp}/l.sqlite3"
        )
        seed_today(svc, decisions)
        app = ModelwiseApp(svc, cursor_blink=False)
        typed, nudged, round_trip, whatif = [], [], [], []
        async with app.run_test(size=(160, 48)) as pilot:
            registry = app.query_one("#registry")
            while app.ledger_state is None or not registry.rows or registry.filling:
                await pilot.pause(0.02)  # steady state: the registry table is filled
            pane = app.query_one(RoutePane)
            app.query_one("#description").focus()
            text = "refactor the billing module so invoices are generated from the ledger "
            for ch in (text * 4)[:keys]:
                before = pane.recomputes
                t = time.perf_counter()
                await pilot.press(ch if ch != " " else "space")
                round_trip.append((pane.recomputed_at - t) * 1000)
                assert pane.recomputes > before
                typed.append(pane.last_recompute_ms)
            while pane.whatif is None:
                await pilot.pause(0.01)
            app.query_one("#w-cost").focus()
            for i in range(keys):  # keys as fast as they come: the what-if replays meanwhile
                await pilot.press("plus" if i % 2 == 0 or pane.weights.cost < 0.05 else "minus")
                await pilot.pause()
                nudged.append(pane.last_recompute_ms)
            for _ in range(keys // 2):  # one key at a time: how long the line takes to follow
                while pane.whatif_weights != pane.weights:
                    await pilot.pause(0.001)
                t = time.perf_counter()
                await pilot.press("plus" if pane.weights.cost < 0.5 else "minus")
                while pane.whatif_weights != pane.weights:
                    await pilot.pause(0.001)
                whatif.append((time.perf_counter() - t) * 1000)
            rows = app.query_one("#breakdown").row_count
            replayed = pane.whatif["decisions"]
        svc.close()
    return {
        "typed": typed, "nudged": nudged, "round_trip": round_trip, "whatif": whatif, "rows": [rows],
        "replayed": [replayed],
    }


def run(
    runs: int = 5, keys: int = 40, registry: str = "-", quick: bool = False, decisions: int = 100
) -> list[dict]:
    """The figures for bench/all.py: first frame at 160x48 (median of `runs` cold starts), the re-rank
    after a keystroke and after a weight key (medians over `keys` keys, with `decisions` decisions today
    replayed by the live what-if meanwhile), and how long the what-if line takes to follow."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import figure

    if quick:
        runs, keys = min(runs, 3), min(keys, 15)
    frames = first_frame(registry, runs, (160, 48))
    ff = [m["first_frame"] for m in frames]
    console, empty = first_frames_beside_empty(registry, runs, (160, 48))
    ratio = statistics.median(console) / statistics.median(empty)
    r = asyncio.run(rerank(registry, keys, decisions))
    typed, nudged, whatif = r["typed"], r["nudged"], r["whatif"]
    p95 = sorted(typed)[max(0, int(len(typed) * 0.95) - 1)]
    ready = statistics.median(m["service"] for m in frames)
    return [
        figure(f"console first frame, 160x48, {frames[0]['models_in_registry']:,} models",
               statistics.median(ff), "ms", FIRST_FRAME_BUDGET_MS, spread=(min(ff), max(ff)),
               note=f"{runs} cold starts; service ready at {ready:.0f} ms"),
        figure("console first frame / an empty Textual app's, 160x48", ratio, "x", 1.5,
               note=f"medians of {runs} each, in turn: {statistics.median(console):.0f} ms against "
                    f"{statistics.median(empty):.0f} ms"),
        figure("console re-rank after a keystroke", statistics.median(typed), "ms", RERANK_BUDGET_MS,
               spread=(min(typed), max(typed)), note=f"p95 {p95:.2f} ms over {keys} keys"),
        figure("console re-rank after a weight key (what-if replaying)", statistics.median(nudged), "ms",
               RERANK_BUDGET_MS, spread=(min(nudged), max(nudged)),
               note=f"{r['replayed'][0]} decisions today replayed in a worker"),
        figure("console what-if line follows a weight key", statistics.median(whatif), "ms", None,
               spread=(min(whatif), max(whatif)), note="in a worker; the UI stays responsive"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--registry", default="-", help="registry file (default: the shipped one)")
    ap.add_argument("--keys", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--decisions", type=int, default=100, help="decisions today for the what-if")
    args = ap.parse_args()

    for size in ((160, 48), (80, 24)):
        console, empty = first_frames_beside_empty(args.registry, args.runs, size)
        c_med, e_med = statistics.median(console), statistics.median(empty)
        print(
            f"{size[0]}x{size[1]}: console first frame median {c_med:7.1f} ms, an empty Textual app's "
            f"{e_med:7.1f} ms, in turn over {args.runs} runs: ratio {c_med / e_med:.2f} (aim: 1.5 or less)"
        )
        frames = first_frame(args.registry, args.runs, size)
        n_models = frames[0]["models_in_registry"]
        ff = statistics.median(m["first_frame"] for m in frames)
        ff_max = max(m["first_frame"] for m in frames)
        svc_ms = statistics.median(m["service"] for m in frames)
        models_ms = statistics.median(m["models"] for m in frames)
        print(
            f"{size[0]}x{size[1]}, registry of {n_models:,} models; {args.runs} cold starts "
            "(after one that fills the registry and theme caches)"
        )
        print(f"  service ready, panes in (after the first frame) median {svc_ms:7.1f} ms")
        print(
            f"  first frame (process start -> painted)        median {ff:7.1f} ms  max {ff_max:7.1f} ms"
            f"  budget {FIRST_FRAME_BUDGET_MS:.0f} ms  ratio {ff / FIRST_FRAME_BUDGET_MS:.2f}"
        )
        print(f"  registry table filled ({n_models:,} rows, in chunks) median {models_ms:7.1f} ms")

    print(f"re-rank (160x48, the shipped registry, {args.decisions} decisions today)")
    r = asyncio.run(rerank(args.registry, args.keys, args.decisions))
    for label, key in (
        ("re-rank after a keystroke (description)", "typed"),
        ("re-rank after a weight change (what-if running)", "nudged"),
    ):
        xs = r[key]
        med, p95, worst = statistics.median(xs), sorted(xs)[int(len(xs) * 0.95) - 1], max(xs)
        print(
            f"  {label:<44} median {med:6.2f} ms  p95 {p95:6.2f} ms  max {worst:6.2f} ms"
            f"  budget {RERANK_BUDGET_MS:.0f} ms  ratio {med / RERANK_BUDGET_MS:.2f}"
            f" (p95 {p95 / RERANK_BUDGET_MS:.2f})"
        )
    rt = r["round_trip"]
    print(
        f"  key event posted -> breakdown re-ranked          median {statistics.median(rt):6.2f} ms"
        f"  max {max(rt):6.2f} ms  ratio {statistics.median(rt) / RERANK_BUDGET_MS:.2f}"
    )
    print(f"  breakdown rows kept in the table: {r['rows'][0]} (top rows by total, keyed by position)")
    wi = r["whatif"]
    print(
        f"  weight key -> what-if line updated ({r['replayed'][0]} decisions replayed in a worker)"
        f"  median {statistics.median(wi):6.2f} ms  max {max(wi):6.2f} ms"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    main()
