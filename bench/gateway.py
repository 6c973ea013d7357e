"""The gateway's cost: the stand-in provider (tests/standin_provider.py, its own process) called directly,
through a minimal pass-through proxy (bench/passthrough.py: FastAPI, uvloop, aiohttp, no routing), through
LiteLLM's proxy when `litellm` is installed, and through `modelwise serve` (with a ledger), in one run:
the latency each adds with nothing queued (p50/p99, non-streaming, and the time to the first byte of a
stream) and requests per second at 16 connections, with the ratios to direct. LiteLLM's proxy is
measured apart, against direct, after the others: its work after each answer slowed the next request.
Routing runs over the shipped registry (every model scored, one reachable through the stand-in) unless
`--registry brief` names the three-model fixture the figures before stop 23 were measured on.
The rates are the medians of windows taken in turn (`--rounds`, each `--seconds` long).
`--gap MS` spaces the sequential requests that many milliseconds apart, as an IDE's or an agent's calls
arrive (back to back by default, the figure issue 15 set its targets on): the CPU is then cold for each
call, and every proxy adds more.
`--baseline-src DIR` also serves another checkout's modelwise (its own ledger) beside this tree's, for a
change's before and after in one run. The rates alternate it with the others window by window. The
latencies compare the two trees in blocks of 100 requests, each block alternated with direct and the
blocks of the two trees taken in turn, either first in turn: sent request by request, one server's work
after its answer (the settlement, the re-ranking) fell on the other's next request. It prints each tree's
added p50 and p99 and the median, over the rounds, of the difference of their blocks' added p50.
`--ask` names what modelwise is asked for: `auto:documentation` (the default), `auto` (the type inferred
from the request) or the stand-in's model by its id. The prompt is the same for every request (the
inference then answers it from the requests it keeps, as it does an agent's later turns) unless
`--distinct` gives each request its own.
Run: python bench/gateway.py [--requests N] [--seconds S] [--rounds R] [--gap MS]
                             [--registry shipped|brief] [--baseline-src DIR] [--ask named-type|auto|model]
                             [--distinct]"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/http.py would shadow the standard library's http, which aiohttp imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
import aiohttp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"model": "%s", "messages": [{"role": "user", "content": "Write a haiku about budgets."}]%s}'
DISTINCT = False  # --distinct: every request's prompt its own
_COUNT = itertools.count()
# registry -> (its file, the model the stand-in serves while the registry lists it as current)
REGISTRIES = {
    "shipped": (ROOT / "model_registry.json", "gpt-4o-mini-2024-07-18"),
    "brief": (ROOT / "tests" / "fixtures" / "brief_registry.json", "gpt-4o-mini"),
}


def standin_model(registry: Path, preferred: str) -> str:
    """`preferred`, unless the registry deprecates it by tomorrow (routing would refuse it); then the
    cheapest priced model able to write documentation that the registry never deprecates (ties by id)."""
    import datetime
    import json

    models = json.loads(registry.read_text())["models"]
    soon = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    for m in models:
        if m["id"] == preferred and (m.get("deprecationDate") or "9999")[:10] > soon:
            return preferred

    def blended(m: dict) -> float:
        return m["pricing"]["inputPer1M"] + m["pricing"]["outputPer1M"]

    current = [m for m in models if not m.get("deprecationDate") and "documentation" in m["capabilities"]
               and (m.get("pricing") or {}).get("inputPer1M") is not None]
    return min(current, key=lambda m: (blended(m), m["id"]))["id"]


def add_registry_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--registry", choices=sorted(REGISTRIES), default="shipped",
                    help="the registry modelwise routes over (default: the shipped one)")


def _start(cmd: list[str], env: dict[str, str], pattern: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stream = proc.stderr if "serve" in cmd else proc.stdout  # `modelwise serve` says its URL on stderr
    line = stream.readline()  # type: ignore[union-attr]
    m = re.search(pattern, line)
    if not m:
        proc.kill()
        raise SystemExit(f"could not start {cmd}: {line}")
    return proc, m.group(1)


async def _wait_up(url: str, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as r:
                if r.status < 500:
                    return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"{url} never answered")


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
               stream: bool, until: bytes | None = None) -> float:
    """Seconds to the whole answer (non-streaming) or to the first body byte (streaming; with `until`,
    to the first bytes that hold it)."""
    if DISTINCT:  # each request's own prompt: nothing it asks was asked before
        body = body.replace(b"budgets.", b"budget number %d." % next(_COUNT), 1)
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as r:
        if r.status != 200:
            raise SystemExit(f"{url}: HTTP {r.status} {await r.text()}")
        if stream:
            seen = await r.content.readany()
            while until is not None and until not in seen:
                more = await r.content.readany()
                if not more:
                    raise SystemExit(f"{url}: the stream ended before {until!r}")
                seen += more
            took = time.perf_counter() - start
            await r.read()
            return took
        await r.read()
        return time.perf_counter() - start


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _latency(session: aiohttp.ClientSession, targets: dict[str, tuple[str, bytes, dict[str, str]]],
                   n: int, stream: bool, until: bytes | None = None,
                   gap: float = 0.0) -> dict[str, list[float]]:
    """`n` requests to each target, alternated (so all see the same machine); `gap` seconds after each."""
    out: dict[str, list[float]] = {k: [] for k in targets}
    for _ in range(n):
        for name, (url, body, headers) in targets.items():
            out[name].append(await _one(session, url, body, headers, stream, until))
            if gap:
                await asyncio.sleep(gap)
    return out


async def _throughput(url: str, body: bytes, headers: dict[str, str], seconds: float, stream: bool) -> float:
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        done = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await _one(session, url, body, headers, stream)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(16)))
        return done / (time.perf_counter() - start)


async def interleaved_rates(targets: dict[str, tuple[str, bytes, dict[str, str]]], seconds: float,
                            rounds: int, stream: bool) -> dict[str, float]:
    """Each target's requests per second at 16 connections: the median of `rounds` windows of `seconds`,
    the targets' windows taken in turn, so that a machine whose load drifts during the run weighs on
    each target alike (one window each, one after the other, let a burst of other work fall on one)."""
    windows: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, body, headers) in targets.items():
            windows[name].append(await _throughput(url, body, headers, seconds, stream))
    return {name: sorted(w)[len(w) // 2] for name, w in windows.items()}


def print_half(rates: dict[str, float], kind: str) -> None:
    """The figure SPEC section 9 budgets: modelwise's rate over the minimal pass-through's."""
    if "pass-through" in rates and "modelwise" in rates:
        ratio = rates["modelwise"] / rates["pass-through"]
        print(f"  modelwise / pass-through, {kind}: {ratio:.3f} (at least 0.5)")


async def run(args: argparse.Namespace, proxies: dict[str, tuple[str, str, str]]) -> None:
    """`proxies`: name -> (base URL, model to ask for, bearer token), "direct" first."""
    async with aiohttp.ClientSession() as session:
        for name, (base, _, _) in proxies.items():
            if name != "direct":
                await _wait_up(base.rsplit("/v1", 1)[0] + "/health", session)
        # LiteLLM's proxy apart: alternated with the others, its work after each answer fell on the
        # request that came next, another target's (BENCHMARKS.md, stop 27: modelwise's first byte went
        # from 1.0-1.1 ms to 2.8 ms)
        core = {name: p for name, p in proxies.items() if name != "litellm"}
        await _measure(session, core, args)
        if "baseline" in proxies:
            await _paired(session, proxies, args)
        if "litellm" in proxies:
            print("LiteLLM's proxy, measured apart against direct:")
            await _measure(session, {name: proxies[name] for name in ("direct", "litellm")}, args)


def _targets(group: dict[str, tuple[str, str, str]],
             stream: bool) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    extra = b', "stream": true' if stream else b""
    return {
        name: (base + "/chat/completions", BODY % (model.encode(), extra),
               {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        for name, (base, model, token) in group.items()
    }


BLOCK = 100  # requests per block of `_paired`


async def _paired(session: aiohttp.ClientSession, proxies: dict[str, tuple[str, str, str]],
                  args: argparse.Namespace) -> None:
    """This tree's modelwise against the baseline checkout's, with nothing queued: blocks of `BLOCK`
    requests to one of them, each alternated with direct, the two trees' blocks in turn (either first in
    turn)."""
    names = ("baseline", "modelwise")
    for stream in (False, True):
        targets = _targets({name: proxies[name] for name in ("direct", *names)}, stream)
        pairs = {name: {"direct": targets["direct"], name: targets[name]} for name in names}
        for name in names:  # warm up
            await _latency(session, pairs[name], 30, stream)
        lat: dict[str, list[float]] = {name: [] for name in names}
        direct: dict[str, list[float]] = {name: [] for name in names}
        added: dict[str, list[float]] = {name: [] for name in names}  # each block's added p50
        for i in range(max(1, args.requests // BLOCK)):
            for name in names if i % 2 == 0 else names[::-1]:  # (either first in turn: a drift weighs alike)
                got = await _latency(session, pairs[name], BLOCK, stream, gap=args.gap / 1000)
                lat[name] += got[name]
                direct[name] += got["direct"]
                added[name].append(_pct(got[name], 0.5) - _pct(got["direct"], 0.5))
        what = "time to first byte, streaming" if stream else "latency, non-streaming"
        print(f"{what}, this tree against --baseline-src, {len(added['modelwise'])} blocks of {BLOCK} each:")
        for name in names:
            d50, d99 = _pct(direct[name], 0.5) * 1000, _pct(direct[name], 0.99) * 1000
            g50, g99 = _pct(lat[name], 0.5) * 1000, _pct(lat[name], 0.99) * 1000
            label = "this tree" if name == "modelwise" else "baseline"
            print(f"  {label}: added p50 {g50 - d50:.2f} ms p99 {g99 - d99:.2f} ms")
        diffs = sorted(b - a for a, b in zip(added["baseline"], added["modelwise"], strict=True))
        lower = sum(1 for d in diffs if d < 0)
        print(f"  this tree - baseline, added p50 per round: median {diffs[len(diffs) // 2] * 1000:+.3f} ms "
              f"(lower in {lower} of {len(diffs)} rounds)")


async def _measure(session: aiohttp.ClientSession, group: dict[str, tuple[str, str, str]],
                   args: argparse.Namespace) -> None:
    """The latency and the rates of `group` (name -> base URL, model, token; "direct" first), each
    format, the targets alternated (the baseline tree only in the rates: `_paired` compares the
    latencies)."""
    for stream in (False, True):
        targets = _targets(group, stream)
        timed = {name: t for name, t in targets.items() if name != "baseline"}
        await _latency(session, targets, 30, stream)  # warm up (the baseline too: it serves in the rates)
        lat = await _latency(session, timed, args.requests, stream, gap=args.gap / 1000)
        what = "time to first byte, streaming" if stream else "latency, non-streaming"
        if args.gap:
            what += f" (requests {args.gap:g} ms apart)"
        d50, d99 = _pct(lat["direct"], 0.5) * 1000, _pct(lat["direct"], 0.99) * 1000
        print(f"{what}: direct p50 {d50:.2f} ms p99 {d99:.2f} ms")
        for name in timed:
            if name == "direct":
                continue
            g50, g99 = _pct(lat[name], 0.5) * 1000, _pct(lat[name], 0.99) * 1000
            print(f"  {name}: p50 {g50:.2f} ms p99 {g99:.2f} ms; added p50 {g50 - d50:.2f} ms "
                  f"p99 {g99 - d99:.2f} ms (ratio p50 {g50 / d50:.2f}x)")
        rates = await interleaved_rates(targets, args.seconds, args.rounds, stream)
        kind = "streaming" if stream else "non-streaming"
        print(f"requests/s at 16 connections, {kind}: " + ", ".join(
            f"{name} {r:.0f}" + ("" if name == "direct" else f" (ratio {r / rates['direct']:.2f})")
            for name, r in rates.items()
        ))
        print_half(rates, kind)
        if "baseline" in rates:
            print(f"  this tree / baseline, {kind}: {rates['modelwise'] / rates['baseline']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=500, help="sequential requests per target (latency)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per throughput window")
    ap.add_argument("--rounds", type=int, default=3, help="throughput windows per target, taken in turn")
    ap.add_argument("--gap", type=float, default=0.0, metavar="MS",
                    help="milliseconds between two sequential requests (latency; default 0: back to back)")
    ap.add_argument("--litellm-python", metavar="PYTHON",
                    help="a Python with litellm[proxy] installed, to measure LiteLLM's proxy after the rest "
                         "(default: this one, when it has litellm)")
    ap.add_argument("--baseline-src", metavar="DIR",
                    help="another checkout whose modelwise is measured beside this tree's (before/after)")
    ap.add_argument("--ask", choices=("named-type", "auto", "model"), default="named-type",
                    help="what modelwise is asked for: auto:documentation (the default, no inference), auto "
                         "(the task type inferred from the request), or the stand-in's model by its id")
    ap.add_argument("--distinct", action="store_true",
                    help="give every request a prompt of its own (with --ask auto or model: each one's task "
                         "type inferred anew, none answered from the requests the inference keeps)")
    add_registry_option(ap)
    args = ap.parse_args()
    global DISTINCT
    DISTINCT = args.distinct
    registry, model = REGISTRIES[args.registry]
    model = standin_model(registry, model)
    key, token = "sk-bench-standin", "tok-bench"
    tmp = Path(tempfile.mkdtemp(prefix="mw-gateway-bench-"))
    # this tree's modelwise (its src/ first: not whichever the interpreter has installed)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "STANDIN_KEY": key}
    standin, direct = _start([sys.executable, "-m", "tests.standin_provider"], env, r"(http://\S+/v1)")
    cfg = tmp / "config.toml"
    cfg.write_text(
        "daily_budget = 1000000\n[task_budgets]\ndocumentation = 10\n"
        f'[providers.standin]\nbase_url = "{direct}"\napi_key_env = "STANDIN_KEY"\napi = "openai"\n'
        f'models = ["{model}"]\n'
    )
    env.update(MODELWISE_CONFIG=str(cfg), MODELWISE_LEDGER=str(tmp / "ledger.sqlite3"),
               MODELWISE_REGISTRY=str(registry))
    serve_cmd = [sys.executable, "-m", "modelwise", "serve", "--port", "0", "--token", token]
    serve, base = _start(serve_cmd, env, r"serving on (http://127\.0\.0\.1:\d+)")
    procs = [serve, standin]
    baseline = None
    if args.baseline_src:
        src = Path(args.baseline_src).resolve()
        benv = {**env, "PYTHONPATH": f"{src / 'src'}{os.pathsep}{src}",
                "MODELWISE_LEDGER": str(tmp / "baseline-ledger.sqlite3")}
        bserve, baseline = _start(serve_cmd, benv, r"serving on (http://127\.0\.0\.1:\d+)")
        procs.append(bserve)
    proxies = {"direct": (direct, model, key)}
    passthrough, pbase = _start([sys.executable, str(ROOT / "bench" / "passthrough.py")],
                                {**env, "UPSTREAM": direct, "UPSTREAM_KEY": key}, r"(http://\S+/v1)")
    procs.append(passthrough)
    proxies["pass-through"] = (pbase, model, "unused")
    litellm_python = args.litellm_python or (sys.executable if importlib.util.find_spec("litellm") else None)
    if litellm_python is not None:
        lcfg = tmp / "litellm.yaml"
        lcfg.write_text(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
            f"      api_base: {direct}\n      api_key: {key}\n"
        )
        port = _free_port()
        cmd = [litellm_python, "-m", "litellm.proxy.proxy_cli", "--config", str(lcfg),
               "--host", "127.0.0.1", "--port", str(port), "--telemetry", "False"]
        quiet = subprocess.DEVNULL
        # Its price map from the package, not fetched: nothing here reaches beyond loopback.
        lenv = {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        litellm = subprocess.Popen(cmd, env=lenv, stdout=quiet, stderr=quiet, cwd=tmp)
        procs.append(litellm)
        proxies["litellm"] = (f"http://127.0.0.1:{port}/v1", "gpt-4o-mini", "unused")
    else:
        print("LiteLLM's proxy: not measured (litellm is not installed here; pip install 'litellm[proxy]', "
              "or name a Python that has it with --litellm-python)")
    asked = {"named-type": "auto:documentation", "auto": "auto", "model": model}[args.ask]
    if baseline is not None:
        proxies["baseline"] = (baseline + "/v1", asked, token)
    proxies["modelwise"] = (base + "/v1", asked, token)
    try:
        asyncio.run(run(args, proxies))
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
