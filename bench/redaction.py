"""Redaction time at 10 kB, 100 kB and 1 MB, for ordinary text and for adversarial inputs, as milliseconds
and as ratios against baselines measured in the same run over the same text (`str.lower()` and one
`re.search` for a pattern that is never found). Times are the process's CPU time (best of a few runs):
on a shared machine wall time mostly measures the other processes; the wall time is printed beside it.

Run: python bench/redaction.py [--sizes 10000,100000,1000000] [--timeout 30] [--json]. A case that takes
longer than --timeout seconds is stopped and reported as such (today's backtracking redactor needs that)."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import re
import statistics
import sys
import time
from collections.abc import Callable

SIZES = (10_000, 100_000, 1_000_000)


def _prose(n: int) -> str:
    rng = random.Random(12)
    words = (
        "refactor the parser so that tokenize returns spans and the caller keeps offsets; see issue 42 "
        "in src/parse.py (v1.2.3, 2026-11-30) and compare with https://example.com/docs/page?x=1 before "
        "merging into main at commit 9fceb02d0ae598e95dc970b74767f19372d61af8 for $19.99 per seat"
    ).split()
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
        if rng.random() < 0.05:
            out.append("\n")
    return " ".join(out)[:n]


def _code(n: int) -> str:
    block = (
        "def connect(host: str, password: str | None = None) -> Connection:\n"
        "    token = os.environ.get('API_TOKEN')\n"
        "    key = cache_key(user.id, 'profile')\n"
        "    url = f'postgresql://{user}@{host}:5432/app'\n"
        "    return Client(host=host, password=password, timeout=30, sort_key=len)\n\n"
    )
    return (block * (n // len(block) + 1))[:n]


def _with_secrets(n: int) -> str:
    block = (
        "deploy with AKIAIOSFODNN7EXAMPLE and aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
        "then psql postgresql://app:S3cr3t@db:5432/prod, mail ops@corp.example.com, "
        "card 4111 1111 1111 1111, "
        "token=ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R ; "
    )
    return (block * (n // len(block) + 1))[:n]


def _tokens(n: int) -> str:
    """Distinct random 32-character tokens, one a line: every one is a finding."""
    rng = random.Random(5)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join("".join(rng.choice(alphabet) for _ in range(32)) + "\n" for _ in range(n // 33 + 1))[:n]


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def _base64ish(n: int) -> str:
    rng = random.Random(3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rng.choice(alphabet) for _ in range(n))


CASES: dict[str, Callable[[int], str]] = {
    "prose": _prose,
    "code": _code,
    "secrets": _with_secrets,
    "a.": _repeat("a."),
    "a@": _repeat("a@"),
    "colons": _repeat(":"),
    "slashes": _repeat("/"),
    "equals": _repeat("="),
    "a=": _repeat("password=a"),
    "url-ish": _repeat("a://b:c"),
    "whitespace": _repeat(" \t\n"),
    "digits": _repeat("4 1 1 1 "),
    "base64": _base64ish,
    "tokens": _tokens,
    "b64-lines": _repeat("QUJDREVGR0hJSktMTU5PUFFS\n"),
    "begin-key": _repeat("-----BEGIN RSA PRIVATE KEY-----\n"),
    "dashes": lambda n: ("begin " + "-" * n)[:n],
    "eyJ": _repeat("eyJ"),
    "key-names": _repeat("-H 'X-Api-Key: "),
    "zero-width": _repeat("sk-\u200bA"),
    "full-width": _repeat("\uff41\uff0e"),
}


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds), the best of `repeat` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return min(cpu), min(wall)


def _one(case: str, size: int, queue: mp.Queue) -> None:
    from modelwise.core import redaction

    def redact(text: str) -> str:
        # no help from the caches of an earlier repetition (names and tokens repeat across them)
        for cached in (getattr(redaction, "looks_random", None), getattr(redaction, "name_strength", None)):
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
        return redaction.redact(text)

    text = CASES[case](size)
    repeat = 5 if size <= 100_000 else 2
    never = re.compile("zq;never")
    lower = _best(text.lower, repeat * 4)[0]
    search = _best(lambda: never.search(text), repeat * 4)[0]
    took, wall = _best(lambda: redact(text), repeat)
    queue.put({"case": case, "size": size, "ms": took * 1000, "wall_ms": wall * 1000,
               "vs_lower": took / max(lower, 1e-6), "vs_search": took / max(search, 1e-6)})


def measure(case: str, size: int, timeout: float) -> dict:
    queue: mp.Queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_one, args=(case, size, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"case": case, "size": size, "ms": None, "timeout": timeout}
    if proc.exitcode != 0:
        raise SystemExit(f"the {case} case at {size:,} characters failed (exit {proc.exitcode})")
    return queue.get(timeout=5)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for case in args.cases.split(","):
        skip = False
        for size in sizes:
            if skip:  # a smaller size already took too long: a larger one would too
                rows.append({"case": case, "size": size, "ms": None, "timeout": args.timeout})
                continue
            row = measure(case, size, args.timeout)
            skip = row["ms"] is None
            rows.append(row)
            if not args.json:
                if row["ms"] is None:
                    print(f"{case:>11} {size:>9,} chars  > {args.timeout:.0f} s (stopped)", flush=True)
                else:
                    print(
                        f"{case:>11} {size:>9,} chars  {row['ms']:9.1f} ms cpu "
                        f"{row['wall_ms']:9.1f} ms wall  "
                        f"{row['vs_lower']:8.0f}x str.lower  {row['vs_search']:8.0f}x re.search",
                        flush=True,
                    )
    done = [r for r in rows if r["ms"] is not None and r["size"] == max(sizes)]
    if done and not args.json:
        print(f"worst at {max(sizes):,} chars: {max(r['ms'] for r in done):.0f} ms; "
              f"median {statistics.median(r['ms'] for r in done):.0f} ms")
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
