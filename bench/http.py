"""Benchmark of the HTTP service (budget: at least half the requests per second of a minimal FastAPI
pass-through proxy, measured in the same run; docs/design.md, "Performance budget").

Starts `modelwise serve` as a subprocess on a free loopback port over a temporary ledger and the shipped
registry, then drives `POST /route` from separate worker processes, each with a few keep-alive
connections (a minimal HTTP/1.1 client on asyncio, so the client costs little CPU). Every request routes
a task and commits its decision before it is answered; at the end the ledger is counted to check that
every 200 left exactly one decision. The pass-through (bench/passthrough.py in front of the stand-in
provider) is then driven the same way, and the ratio of the two rates printed (`--no-passthrough`: the
server alone). Run: python bench/http.py [--synchronous full|normal] [--no-group-commit] [--outcomes]
[--baseline-src DIR --rounds N] (this tree's requests/s against another checkout's, alternated in one run)."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASS_THROUGH_SHARE = 0.5  # of the minimal pass-through's requests/s, measured in the same run
TASKS = [
    ("code_generation", "Create API endpoint for the orders service"),
    ("documentation", "Generate README for the CLI"),
    ("refactoring", "Optimize algorithm in the scheduler"),
    ("architecture", "Design the event pipeline"),
    ("debugging", "Fix the flaky login test"),
]
AGENTS = ("Planner", "Executor", "Critic")


async def _request(reader, writer, path: bytes, body: bytes) -> tuple[int, bytes]:
    writer.write(
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    payload = await reader.readexactly(int(m.group(1))) if m else b""
    return status, payload


async def _connection(port: int, start: float, stop: float, mode: str, seed: int, out: dict) -> None:
    outcomes = mode == "outcomes"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = seed
    try:
        while True:
            now = time.perf_counter()
            if now >= stop:
                break
            task_type, desc = TASKS[i % len(TASKS)]
            path = b"/route"
            if mode == "passthrough":  # the same request sizes, forwarded by the minimal proxy
                path = b"/v1/chat/completions"
                task = {"model": "standin", "messages": [{"role": "user", "content": f"{desc} #{i}"}]}
            else:
                task = {"type": task_type, "description": f"{desc} #{i}", "agent": AGENTS[i % len(AGENTS)]}
            if mode == "dry-run":
                task["dryRun"] = True
            body = json.dumps(task).encode()
            i += 1
            t0 = time.perf_counter()
            status, payload = await _request(reader, writer, path, body)
            if outcomes and status == 200:
                dec = json.loads(payload)["decisionId"]
                o = json.dumps({"decisionId": dec, "outcome": "success", "latencyMs": 900}).encode()
                status, _ = await _request(reader, writer, b"/outcomes", o)
            t1 = time.perf_counter()
            if t0 < start:  # warm-up: not counted
                continue
            if status == 200:
                out["ok"] += 1
                out["lat"].append(t1 - t0)
            else:
                out["errors"] += 1
    finally:
        writer.close()


def _worker(port: int, start: float, stop: float, connections: int, mode: str, wid: int, q) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = {"ok": 0, "errors": 0, "lat": []}

    async def main() -> None:
        await asyncio.gather(
            *(
                _connection(port, start, stop, mode, wid * 1_000_000 + c * 10_000, out)
                for c in range(connections)
            )
        )

    asyncio.run(main())
    q.put(out)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="modelwise-bench-"))
    cfg = tmp / "config.toml"
    cfg.write_text(
        f'daily_budget = 1000000000\nsynchronous = "{args.synchronous}"\n'
        + ("[learning]\nenabled = false\n" if args.no_learning else "")
    )
    ledger = tmp / "ledger.sqlite3"
    env = dict(os.environ, MODELWISE_CONFIG=str(cfg), MODELWISE_LEDGER=str(ledger))
    env.pop("MODELWISE_REGISTRY", None)
    if getattr(args, "src", None):  # the server from another source tree (a baseline checkout)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.src, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "modelwise", "serve", "--port", "0"]
    if args.no_group_commit:
        cmd.append("--no-group-commit")
    if args.server_workers > 1:
        cmd += ["--workers", str(args.server_workers)]
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit(f"the server did not start: {line}{server.stderr.read()}")
        port = int(m.group(1))
        with sqlite3.connect(ledger) as conn:
            before_decisions = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        server_cpu0, client_cpu0 = _cpu_of(server.pid), _children_cpu()
        results = _drive(port, args, args.mode)
        end_cpu = _cpu_of(server.pid)
        server_cpu = None if end_cpu is None else end_cpu - server_cpu0  # warm-up included, as counted below
        client_cpu = _children_cpu() - client_cpu0
    finally:
        server.terminate()
        server.wait(timeout=30)
    ok = sum(r["ok"] for r in results)
    errors = sum(r["errors"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    with sqlite3.connect(ledger) as conn:
        recorded = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        settled = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    rps = ok / args.seconds
    # routes answered and recorded, warm-up included (a dry run records nothing: the measured ones only)
    served = max(1, recorded - before_decisions or ok)
    return {
        "synchronous": args.synchronous,
        "groupCommit": not args.no_group_commit,
        "serverWorkers": args.server_workers,
        "mode": args.mode,
        "learning": not args.no_learning,
        "requests": ok,
        "errors": errors,
        "recordedInLedger": recorded,
        "outcomesInLedger": settled,
        "perSecond": round(rps, 1),
        "p50ms": round(_pct(lat, 50) * 1000, 2),
        "p99ms": round(_pct(lat, 99) * 1000, 2),
        # CPU the server spent per route (per route+outcome pair in outcomes mode), and the load
        # generator's share: on a machine with few cores the two compete for them.
        "serverCpuUsPerRequest": None if server_cpu is None else round(server_cpu * 1e6 / served, 1),
        "clientCpuUsPerRequest": round(client_cpu * 1e6 / served, 1),
    }


def _drive(port: int, args: argparse.Namespace, mode: str) -> list[dict]:
    """`args.workers` client processes of `args.connections` connections each, sending `mode`'s requests
    to `port` for `args.warmup` then `args.seconds` seconds; each process's counts."""
    start = time.perf_counter() + 1.0 + args.warmup
    stop = start + args.seconds
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(port, start, stop, args.connections, mode, w, q))
        for w in range(args.workers)
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=args.seconds + args.warmup + 60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    return results


def passthrough(args: argparse.Namespace) -> float:
    """Requests per second of the minimal FastAPI pass-through proxy (bench/passthrough.py, in front of
    the stand-in provider, tests/standin_provider.py), driven as `run` drives the server: the floor the
    budget's ratio is taken against (docs/design.md, "Performance budget")."""
    root = Path(__file__).resolve().parent.parent
    given = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(root), given) if p),
               STANDIN_KEY="sk-bench-standin")
    procs: list[subprocess.Popen] = []

    def start(cmd: list[str], more: dict[str, str]) -> str:
        proc = subprocess.Popen(cmd, env={**env, **more}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, cwd=root)
        procs.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        m = re.search(r"(http://127\.0\.0\.1:\d+)/v1", line)
        if not m:
            raise SystemExit(f"{cmd[-1]} did not start: {line!r}")
        return m.group(1)

    try:
        upstream = start([sys.executable, "-m", "tests.standin_provider"], {})
        proxy = start([sys.executable, str(root / "bench" / "passthrough.py")],
                      {"UPSTREAM": upstream + "/v1", "UPSTREAM_KEY": "sk-bench-standin"})
        results = _drive(int(proxy.rsplit(":", 1)[1]), args, "passthrough")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    if any(r["errors"] for r in results):
        raise SystemExit(f"the pass-through failed {sum(r['errors'] for r in results)} requests")
    return round(sum(r["ok"] for r in results) / args.seconds, 1)


def _cpu_of(pid: int) -> float | None:
    """User + system CPU seconds of a running process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def figures(
    seconds: float = 5.0, quick: bool = False, modes: tuple[str, ...] = ("route", "outcomes")
) -> list[dict]:
    """The figures for bench/all.py: routed-and-recorded requests/s (default settings: synchronous=full,
    group commit, one server process) and its ratio to the minimal pass-through's, measured in turn in
    the same run (the budget: at least half), and, as an extra line, route+outcome pairs/s with
    learning on."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import figure

    out = []
    for mode in modes:
        args = argparse.Namespace(
            seconds=min(seconds, 2.0) if quick else seconds, warmup=0.5 if quick else 1.0, workers=2,
            connections=16, synchronous="full", server_workers=1, no_group_commit=False, mode=mode,
            no_learning=False,
        )
        if mode != "route":
            r = run(args)
        else:  # in turn with the pass-through, so that a burst of load hits both alike
            runs, floor = [], []
            for _ in range(1 if quick else 2):
                floor.append(passthrough(args))
                runs.append(run(args))
            r = sorted(runs, key=lambda x: x["perSecond"])[len(runs) // 2]
        note = (
            f"p50 {r['p50ms']} ms, p99 {r['p99ms']} ms, {r['errors']} errors; "
            f"{r['requests']:,} in {args.seconds:g} s; server CPU {r['serverCpuUsPerRequest']} µs and "
            f"load generator {r['clientCpuUsPerRequest']} µs each"
        )
        if mode == "route":
            rate, base = statistics.median(x["perSecond"] for x in runs), statistics.median(floor)
            out.append(figure("HTTP POST /route, routed and recorded", rate, "/s", note=note))
            out.append(figure("HTTP POST /route / a minimal FastAPI pass-through's requests/s", rate / base,
                              "x", PASS_THROUGH_SHARE, higher_is_better=True,
                              note=f"the pass-through (bench/passthrough.py) served {base:,.0f}/s"))
        else:
            out.append(figure("HTTP POST /route then POST /outcomes, pairs (learning on)", r["perSecond"],
                              "/s", note=note))
    return out


def compare(args: argparse.Namespace) -> None:
    """This tree against `--baseline-src`, alternating (baseline first) so load drifts hit both."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import source_dir

    here = str(Path(__file__).resolve().parent.parent / "src")
    rates: dict[str, list[float]] = {"baseline": [], "this": []}
    for _ in range(max(1, args.rounds)):
        for side, src in (("baseline", source_dir(args.baseline_src)), ("this", here)):
            args.src = src
            r = run(args)
            if r["errors"]:
                raise SystemExit(f"{side}: {r['errors']} requests failed")
            rates[side].append(r["perSecond"])
    base, this = statistics.median(rates["baseline"]), statistics.median(rates["this"])
    out = {"baseline": rates["baseline"], "this": rates["this"], "ratio": round(this / base, 3)}
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"{args.mode}: this tree {this:,.0f}/s (runs {rates['this']}), baseline {base:,.0f}/s "
        f"(runs {rates['baseline']}); ratio {this / base:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured time (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    ap.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections per worker (default 16)"
    )
    ap.add_argument("--synchronous", choices=["full", "normal"], default="full")
    ap.add_argument("--server-workers", type=int, default=1, help="modelwise serve --workers (default 1)")
    ap.add_argument("--no-group-commit", action="store_true", help="one transaction per decision")
    ap.add_argument(
        "--mode",
        choices=["route", "outcomes", "dry-run"],
        default="route",
        help="route: POST /route (routed and recorded); outcomes: each route followed by POST /outcomes; "
        "dry-run: routes that record nothing (the HTTP and routing ceiling without the ledger)",
    )
    ap.add_argument(
        "--no-learning", action="store_true", help="learning off: outcomes do not re-calibrate the ranking"
    )
    ap.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also serve from another checkout (or its src/; e.g. `git worktree add /tmp/base main`, "
        "/tmp/base), alternating with this one --rounds times, and print this tree's ratio to it",
    )
    ap.add_argument("--rounds", type=int, default=2, help="with --baseline-src: runs of each (default 2)")
    ap.add_argument("--no-passthrough", action="store_true", help="do not measure the pass-through")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.seconds = min(max(args.seconds, 0.5), 120.0)
    args.workers = min(max(args.workers, 1), 16)
    args.connections = min(max(args.connections, 1), 256)
    if args.baseline_src:
        compare(args)
        return
    r = run(args)
    if not args.no_passthrough:
        floor = passthrough(args)
        r.update(passThroughPerSecond=floor, ratioToPassThrough=round(r["perSecond"] / floor, 3))
    if args.json:
        print(json.dumps(r))
        return
    what = {"outcomes": "route+outcome pairs", "dry-run": "dry-run routes"}.get(
        args.mode, "routed-and-recorded requests"
    )
    print(
        f"synchronous={r['synchronous']} group-commit={'on' if r['groupCommit'] else 'off'} "
        f"server-workers={r['serverWorkers']}: "
        f"{r['perSecond']:,.0f} {what}/s, "
        f"p50 {r['p50ms']} ms, p99 {r['p99ms']} ms; {r['requests']:,} answered 200, {r['errors']} errors, "
        f"{r['recordedInLedger']:,} decisions in the ledger (incl. warm-up); CPU per request: server "
        f"{r['serverCpuUsPerRequest']} µs, load generator {r['clientCpuUsPerRequest']} µs"
    )
    if "ratioToPassThrough" in r:
        print(f"the minimal pass-through, driven the same way: {r['passThroughPerSecond']:,.0f}/s; ratio "
              f"{r['ratioToPassThrough']:.3f} (the budget: at least {PASS_THROUGH_SHARE})")


if __name__ == "__main__":
    main()
