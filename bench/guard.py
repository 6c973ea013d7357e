"""The HTTP guard's own cost per request (Host, Origin, token, Content-Type and size checks, the body read)
in process, without sockets: a typical SDK `POST /route` through `server.Guard` into an app that only
reads the body. With `--baseline-src DIR` the same runs against another checkout's Guard, alternated in
one run, and the ratio is printed. Run: python bench/guard.py [--baseline-src DIR] [--rounds N]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_ONE = r"""
import asyncio, json, sys, time
from modelwise.server import Guard

body = b'{"type": "code_generation", "description": "Create API endpoint #1", "agent": "Planner"}'
headers = [(b"host", b"127.0.0.1:3000"), (b"user-agent", b"OpenAI/Python 1.54.0"),
           (b"accept", b"application/json"), (b"content-type", b"application/json"),
           (b"content-length", str(len(body)).encode()), (b"authorization", b"Bearer t0ken")]

async def app(scope, receive, send):
    await receive()

async def send(message):
    pass

async def receive():
    return {"type": "http.request", "body": body, "more_body": False}

async def main(n):
    guard = Guard(app, "t0ken")
    start = time.perf_counter()
    for _ in range(n):
        scope = {"type": "http", "method": "POST", "path": "/route", "query_string": b"",
                 "server": ("127.0.0.1", 3000), "headers": list(headers)}
        await guard(scope, receive, send)
    return (time.perf_counter() - start) / n * 1e6

print(json.dumps(asyncio.run(main(int(sys.argv[1])))))
"""


def _run(src: str, n: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _ONE, str(n)],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import source_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200_000, help="requests per run (default 200,000)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tree (default 3)")
    ap.add_argument("--baseline-src", metavar="DIR", help="another checkout (or its src/) to compare against")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parent.parent / "src")
    sides = [("baseline", source_dir(args.baseline_src))] if args.baseline_src else []
    sides.append(("this", here))
    us: dict[str, list[float]] = {name: [] for name, _ in sides}
    for _ in range(max(1, args.rounds)):
        for name, src in sides:
            us[name].append(round(_run(src, args.requests), 3))
    this = statistics.median(us["this"])
    out: dict[str, object] = {"thisUsPerRequest": this, "runs": us}
    if args.baseline_src:
        base = statistics.median(us["baseline"])
        out.update(baselineUsPerRequest=base, ratio=round(this / base, 3))
    if args.json:
        print(json.dumps(out))
        return
    line = f"guard: {this:.2f} µs per request (runs {us['this']})"
    if args.baseline_src:
        base = out["baselineUsPerRequest"]
        line += f", baseline {base:.2f} µs (runs {us['baseline']}); ratio {out['ratio']:.3f}"
    print(line)


if __name__ == "__main__":
    main()
