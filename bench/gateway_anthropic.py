"""The Anthropic side of the gateway's cost: the stand-in's Messages endpoint called directly, through
`modelwise serve`'s /v1/messages (its own format) and through /v1/chat/completions translated to Messages,
in one run: latency added with nothing queued (p50/p99), time to the first byte of a stream, requests per
second at 16 connections, with the ratios. Run: python bench/gateway_anthropic.py [--requests N]
[--seconds S] [--registry shipped|brief]"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("gateway_bench", HERE / "gateway.py")
assert _spec is not None and _spec.loader is not None
gb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gb)  # its helpers: _start, _wait_up, _latency, _throughput, _pct

ROOT = HERE.parent
ASK = b'"messages": [{"role": "user", "content": "Write a haiku about budgets."}]'
MESSAGES = b'{"model": "%s", "max_tokens": 256, ' + ASK + b"%s}"
CHAT = b'{"model": "%s", ' + ASK + b"%s}"


async def run(args: argparse.Namespace, direct: str, base: str, key: str, token: str, model: str) -> None:
    async with gb.aiohttp.ClientSession() as session:
        await gb._wait_up(base + "/health", session)
        for stream in (False, True):
            extra = b', "stream": true' if stream else b""
            anth = {"anthropic-version": "2023-06-01", "Content-Type": "application/json"}
            bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            auto = b"auto:documentation"
            targets = {
                "direct": (direct + "/messages", MESSAGES % (model.encode(), extra),
                           {**anth, "x-api-key": key}),
                "modelwise /v1/messages": (base + "/v1/messages", MESSAGES % (auto, extra),
                                           {**anth, "x-api-key": token}),
                "modelwise translated": (base + "/v1/chat/completions", CHAT % (auto, extra), bearer),
            }
            await gb._latency(session, targets, 30, stream)  # warm up
            lat = await gb._latency(session, targets, args.requests, stream)
            what = "time to first byte, streaming" if stream else "latency, non-streaming"
            d50, d99 = gb._pct(lat["direct"], 0.5) * 1000, gb._pct(lat["direct"], 0.99) * 1000
            print(f"{what}: direct p50 {d50:.2f} ms p99 {d99:.2f} ms")
            for name in targets:
                if name != "direct":
                    g50, g99 = gb._pct(lat[name], 0.5) * 1000, gb._pct(lat[name], 0.99) * 1000
                    print(f"  {name}: p50 {g50:.2f} ms p99 {g99:.2f} ms; added p50 {g50 - d50:.2f} ms "
                          f"p99 {g99 - d99:.2f} ms")
            if stream:  # Messages is held until its first content, so that another model can still take it
                native = {k: v for k, v in targets.items() if k != "modelwise translated"}
                lat = await gb._latency(session, native, args.requests, True, b"event: content_block_delta")
                d50 = gb._pct(lat["direct"], 0.5) * 1000
                g50 = gb._pct(lat["modelwise /v1/messages"], 0.5) * 1000
                g99 = gb._pct(lat["modelwise /v1/messages"], 0.99) * 1000
                print(f"time to the first content, streaming: direct p50 {d50:.2f} ms\n"
                      f"  modelwise /v1/messages: p50 {g50:.2f} ms p99 {g99:.2f} ms; "
                      f"added p50 {g50 - d50:.2f} ms")
            rates = await gb.interleaved_rates(targets, args.seconds, args.rounds, stream)
            kind = "streaming" if stream else "non-streaming"
            print(f"requests/s at 16 connections, {kind}: " + ", ".join(
                f"{name} {r:.0f}" + ("" if name == "direct" else f" (ratio {r / rates['direct']:.2f})")
                for name, r in rates.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=500, help="sequential requests per target (latency)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per throughput window")
    ap.add_argument("--rounds", type=int, default=3, help="throughput windows per target, taken in turn")
    gb.add_registry_option(ap)
    args = ap.parse_args()
    registry, model = gb.REGISTRIES[args.registry]
    model = gb.standin_model(registry, model)
    key, token = "sk-bench-standin", "tok-bench"
    tmp = Path(tempfile.mkdtemp(prefix="mw-gateway-anthropic-bench-"))
    # this tree's modelwise (its src/ first: not whichever the interpreter has installed)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "STANDIN_KEY": key}
    standin, direct = gb._start([sys.executable, "-m", "tests.standin_provider"], env, r"(http://\S+/v1)")
    cfg = tmp / "config.toml"
    cfg.write_text(
        "daily_budget = 1000000\n[task_budgets]\ndocumentation = 10\n"
        f'[providers.standin]\nbase_url = "{direct}"\napi_key_env = "STANDIN_KEY"\napi = "anthropic"\n'
        f'models = ["{model}"]\n'
    )
    env.update(MODELWISE_CONFIG=str(cfg), MODELWISE_LEDGER=str(tmp / "ledger.sqlite3"),
               MODELWISE_REGISTRY=str(registry))
    serve, base = gb._start([sys.executable, "-m", "modelwise", "serve", "--port", "0", "--token", token],
                            env, r"serving on (http://127\.0\.0\.1:\d+)")
    try:
        asyncio.run(run(args, direct, base, key, token, model))
    finally:
        for p in (serve, standin):
            p.terminate()
            p.wait(30)


if __name__ == "__main__":
    main()
