"""`stats` over a ledger of 1,000,000 decisions (budget: at most 10 times `python -c pass`, timed in turn
with it in the same run; docs/design.md, "Performance budget").

Builds the ledger once (kept in the temp folder and reused; --rebuild makes a new one) through the
ledger's own write path: every decision is admitted and every outcome settled by `SqliteLedger`'s
`admit_in_batch` / `settle_in_batch` (the statements `route` and `record` run: the decision row with its
full route answer, the roll-up upsert, the outcome row and the roll-up settlement), many per
transaction so a million take minutes, not hours. The decisions are real route answers over the shipped
registry (dry runs of every task type under several weights, budgets and sizes) spread over DAYS days
ending today, AGENTS agents, with outcomes on a share of them.

Then it times `modelwise stats --json` from a cold process (as bench/cli.py times `route`) and the
service's `statistics()` in-process, for today, the last 7 days and all days, and prints each figure,
its budget and the ratio.

    python bench/stats.py [--decisions 1000000] [--ledger PATH] [--rebuild] [--runs N]"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, cold_env, figure, print_table, wall  # noqa: E402

PASS_TIMES = 10.0  # the budget: this many times `python -c pass`, measured in the same run
DAYS = 120
AGENTS = (
    "planner",
    "executor",
    "critic",
    "reviewer",
    "tester",
    "docs-bot",
    "ci",
    "refactor-bot",
    "support",
    "oncall",
    "research",
    "release",
)
WEIGHTS = (
    None,
    "0.4,0.3,0.2,0.1",
    "0.2,0.5,0.1,0.2",
    "0.3,0.2,0.1,0.4",
    "0.1,0.1,0.1,0.7",
    "0.1,0.7,0.1,0.1",
    "0.3,0.3,0.3,0.1",
    "0.2,0.2,0.5,0.1",
)
CONSTRAINTS = (
    None,
    None,
    {"minQuality": 0.6},
    {"minQuality": 0.75},
    {"maxLatencyMs": 2000},
    {"capabilities": ["vision"]},
    {"capabilities": ["function_calling"]},
    {"capabilities": ["reasoning"]},
)
SIZES = (40, 4000, 40_000)
BUDGETS = (None, None, 0.05, 0.00001)  # the last one is refused (below any model's price)
OUTCOMES = ("success", "success", "success", "failure", "error")


def templates(svc, small: bool = False) -> list[dict]:
    """Real route answers (dry runs, nothing recorded) for every task type x weights x constraints x size
    x budget (`small`: a few of each, for tests)."""
    out = []
    weights, constraints = (WEIGHTS[:2], CONSTRAINTS[1:3]) if small else (WEIGHTS, CONSTRAINTS)
    for task_type in svc.settings.task_types:
        for w in weights:
            for c in constraints:
                for size in SIZES:
                    for budget in BUDGETS:
                        r = svc.route_task(
                            task_type, "x" * size, budget, weights=w, constraints=c, dry_run=True
                        )
                        r["status"] = r.pop("wouldBe")
                        out.append(r)
    return out


def generate(svc, n: int, days: int, end: date, outcome_share: float, seed: int = 8, tpl: list | None = None):
    """(NewDecision, Settlement | None) in time order: `n` decisions over `days` days ending `end`."""
    from modelwise.ledger import NewDecision, Settlement

    rng = random.Random(seed)
    tpl = tpl or templates(svc)
    refused = sum(t["status"] == "refused" for t in tpl)
    share = 0.02 * (len(tpl) - refused) / max(1, refused)  # about 2% of the decisions are refusals
    weights = [share if t["status"] == "refused" else 1.0 for t in tpl]
    tz = datetime.now().astimezone().tzinfo  # the budget day of a config without a timezone
    per_day = [n // days + (1 if i < n % days else 0) for i in range(days)]
    seq = 0
    for i, k in enumerate(per_day):
        day = end - timedelta(days=days - 1 - i)
        start = datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
        stamps = sorted(start + rng.random() * 86_399 for _ in range(k))
        picks = rng.choices(tpl, weights, k=k)
        for ts_unix, t in zip(stamps, picks, strict=True):
            seq += 1
            now = datetime.fromtimestamp(ts_unix, tz)
            ts = now.astimezone().isoformat(timespec="milliseconds")
            did = f"dec_{int(ts_unix * 1000):011x}{seq:010x}"
            agent = rng.choice(AGENTS)
            r = dict(t, decisionId=did, timestamp=ts, agent=agent)
            refused = r["status"] == "refused"
            rec = NewDecision(
                id=did,
                request_id=None,
                ts=ts,
                ts_unix=ts_unix,
                day=day.isoformat(),
                task_type=r["taskType"],
                tier=r["tier"],
                agent=agent,
                model_id=r["selectedModel"],
                model_name=r["selectedModelName"],
                status=r["status"],
                reserved=0.0 if refused else r["estimatedCost"],
                estimated_cost=r["estimatedCost"],
                input_tokens=r["estimatedTokens"]["input"],
                output_tokens=r["estimatedTokens"]["output"],
                desc_chars=r["estimatedTokens"]["input"],
                budget=r["budget"]["task"],
                score=r["score"],
                description=None,
                response=r,
            )
            settle = None
            if not refused and rng.random() < outcome_share:
                m = svc.registry.get(r["selectedModel"])
                tin = int(rec.input_tokens * rng.uniform(0.5, 1.5))
                tout = int(rec.output_tokens * rng.uniform(0.3, 1.5))
                settle = Settlement(
                    rng.choice(OUTCOMES),
                    rng.choice([None, 400.0, 900.0, 2500.0, 8000.0]),
                    tin,
                    tout,
                    m.cost_of(tin, tout),
                )
            yield rec, settle


def write(ledger, records, batch: int = 5000, progress=None) -> int:
    """Admit and settle `records` through the ledger's own write path, `batch` decisions a transaction."""
    import functools

    jobs: list = []
    done = 0

    def flush() -> None:
        for r in ledger.run_batch(jobs):
            if isinstance(r, Exception):
                raise r
        jobs.clear()

    for rec, settle in records:
        jobs.append(functools.partial(ledger.admit_in_batch, rec.day, None, lambda spent, rec=rec: rec))
        if settle is not None:
            ts_unix = rec.ts_unix + 30.0
            ts = datetime.fromtimestamp(ts_unix).astimezone().isoformat(timespec="milliseconds")
            jobs.append(
                functools.partial(ledger.settle_in_batch, rec.id, ts, ts_unix, lambda dec, spent, s=settle: s)
            )
        done += 1
        if done % batch == 0:
            flush()
            if progress:
                progress(done)
    flush()
    return done


def build(path: Path, n: int, days: int = DAYS, outcome_share: float = 0.3, end: date | None = None) -> None:
    import orjson  # noqa: F401 - the ledger encodes the answers with it once loaded (as the server does)

    from modelwise.service import TokenOptimizationService

    cfg = path.with_suffix(".toml")
    cfg.write_text("")
    svc = TokenOptimizationService(registry=ROOT / "model_registry.json", ledger=path, config=cfg)
    end = end or svc.today()
    t = time.perf_counter()

    def progress(done: int) -> None:
        if done % 100_000 == 0:
            print(f"  {done:,} decisions ({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)

    conn = svc.ledger._conn()
    conn.execute("PRAGMA synchronous = OFF")  # only the build: nothing depends on its durability
    write(svc.ledger, generate(svc, n, days, end, outcome_share), progress=progress)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    svc.close()
    cfg.unlink()


def ensure(path: Path, n: int, rebuild: bool = False) -> tuple[str, str, int, int]:
    """Build the ledger unless a complete one is there; returns (first day, last day, decisions, roll-up
    rows, models chosen, distinct (model, status, agent) groups)."""
    import sqlite3

    if rebuild or not path.exists() or _count(path) != n:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building a ledger of {n:,} decisions in {path} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        build(path, n)
        print(f"  built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with sqlite3.connect(path) as conn:
        first, last = conn.execute("SELECT MIN(day), MAX(day) FROM rollup").fetchone()
        rows = conn.execute("SELECT COUNT(*) FROM rollup").fetchone()[0]
        models = conn.execute("SELECT COUNT(DISTINCT model_id) FROM rollup WHERE model_id != ''").fetchone()[
            0
        ]
        groups = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM rollup GROUP BY model_id, status, agent)"
        ).fetchone()[0]
    return first, last, n, rows, models, groups


def _count(path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    except sqlite3.Error:
        return -1


def periods(last: str) -> list[tuple[str, list[str], dict]]:
    """(label, CLI flags, statistics() keywords) for today, a week and all days. When the ledger was built
    on another day, "today" is its last day, named by date (the same query on that day's roll-up)."""
    today = date.today().isoformat()
    if last == today:
        day, week = [], ["--since", "7d"]
        kw_day, kw_week = {}, {"since": "7d"}
        label = "today"
    else:
        first = (date.fromisoformat(last) - timedelta(days=6)).isoformat()
        day, week = ["--since", last, "--until", last], ["--since", first, "--until", last]
        kw_day, kw_week = {"since": last, "until": last}, {"since": first, "until": last}
        label = f"last day ({last})"
    return [
        (label, day, kw_day),
        ("last 7 days", week, kw_week),
        ("all days", ["--all"], {"all_days": True}),
        ("all days --by agent", ["--all", "--by", "agent"], {"all_days": True, "by": "agent"}),
    ]


def run(
    decisions: int = 1_000_000,
    runs: int = 10,
    ledger: Path | None = None,
    rebuild: bool = False,
    quick: bool = False,
) -> list[dict]:
    """The figures: cold `stats --json` (wall, median of `runs`) and in-process `statistics()`."""
    if quick:
        runs = min(runs, 5)
    # v2: the mix of decisions of this version (a ledger of another mix is not reused)
    path = ledger or Path(tempfile.gettempdir()) / "modelwise-bench" / f"stats-{decisions}-v2.sqlite3"
    first, last, n, rollup_rows, models, groups = ensure(path, decisions, rebuild)
    size_mb = (
        sum(Path(str(path) + s).stat().st_size for s in ("", "-wal") if Path(str(path) + s).exists()) / 1e6
    )
    note = (
        f"{n:,} decisions, {first}..{last}, {models} models chosen, {rollup_rows:,} roll-up rows "
        f"in {groups:,} "
        f"(model, status, agent) groups, {size_mb:,.0f} MB"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = cold_env(Path(tmp), MODELWISE_LEDGER=str(path))
        base = [sys.executable, "-m", "modelwise", "stats", "--json"]
        timed: list[tuple[str, list[float]]] = []
        passes: list[float] = []
        for label, flags, _ in periods(last):
            wall(base + flags, env)  # first: fills the registry cache
            samples = []
            for _ in range(runs):  # in turn, so that a burst of load hits both alike
                passes.append(wall([sys.executable, "-c", "pass"], env)[0])
                samples.append(wall(base + flags, env)[0])
            timed.append((label, samples))
        floor = statistics.median(passes)
        budget_ms = PASS_TIMES * floor
        note += f"; python -c pass {floor:.1f} ms, so the budget is {budget_ms:.0f} ms"
        for label, samples in timed:
            rows.append(
                figure(
                    f"stats --json, cold process, {label}",
                    statistics.median(samples),
                    "ms",
                    budget_ms,
                    spread=(min(samples), max(samples)),
                    note="" if rows else note,
                )
            )
        from modelwise.service import TokenOptimizationService

        svc = TokenOptimizationService(
            registry=ROOT / "model_registry.json", ledger=path, config=Path(tmp) / "config.toml"
        )
        for label, _, kw in periods(last):
            svc.statistics(**kw)
            samples = []
            for _ in range(runs):
                t = time.perf_counter()
                svc.statistics(**kw)
                samples.append((time.perf_counter() - t) * 1000)
            rows.append(
                figure(
                    f"statistics() in-process, {label}",
                    statistics.median(samples),
                    "ms",
                    budget_ms,
                    spread=(min(samples), max(samples)),
                )
            )
        svc.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--ledger", type=Path, help="the ledger to build or reuse (default: in the temp folder)")
    ap.add_argument("--rebuild", action="store_true", help="build the ledger anew even if one is there")
    args = ap.parse_args()
    rows = run(args.decisions, args.runs, args.ledger, args.rebuild)
    print(rows[0]["note"])
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
