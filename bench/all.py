"""Every benchmark of docs/design.md, "Performance budget", in one run, as one table of figure, budget and
ratio (figure / budget).

    python bench/all.py [--quick] [--only route,cli,console,stats,http,whatif] [--markdown FILE]

Each script in bench/ exposes a `run(...)` (http: `figures(...)`) that returns its figures; this one
calls them in turn (their progress goes to stderr), then prints the machine and the table. --quick
takes fewer samples and shorter runs (same ledger of 1,000,000 decisions for stats: it is built once
and kept in the temp folder). --markdown also writes the table as Markdown."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt, machine, print_table  # noqa: E402

ORDER = ("route", "cli", "console", "stats", "http", "whatif")


def collect(only: tuple[str, ...], quick: bool) -> list[dict]:
    rows: list[dict] = []
    for name in ORDER:
        if name not in only:
            continue
        t = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stderr):
            if name == "route":
                import route

                got = route.run(quick=quick)
            elif name == "cli":
                import cli

                got = cli.run(quick=quick)
            elif name == "console":
                import console

                got = console.run(quick=quick)
            elif name == "stats":
                import stats

                got = stats.run(quick=quick)
            elif name == "http":
                import http as http_bench  # bench/http.py (first on sys.path), not the stdlib's http

                got = http_bench.figures(quick=quick)
            else:
                import whatif

                got = whatif.run(quick=quick)
        for r in got:
            r["bench"] = name
        rows += got
        print(f"[{name}] {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict], info: dict[str, str], quick: bool) -> str:
    out = [
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['python']}; SQLite {info['sqlite']}; "
        f"{info['os']}; {info['date']}; load average at the end {info['load']}"
        + ("; --quick" if quick else ""),
        "",
        "| figure | value | budget | ratio | within | min – max | notes |",
        "| --- | ---: | ---: | ---: | :---: | ---: | --- |",
    ]
    for r in rows:
        spread = (
            "" if not r["spread"] else f"{fmt(r['spread'][0], r['unit'])} – {fmt(r['spread'][1], r['unit'])}"
        )
        within = "" if r["within"] is None else ("yes" if r["within"] else "**no**")
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        out.append(
            f"| {r['name']} | {fmt(r['value'], r['unit'])} | {fmt(r['budget'], r['unit'])} | {ratio} "
            f"| {within} "
            f"| {spread} | {r['note']} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    ap.add_argument("--only", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown")
    args = ap.parse_args()
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = set(only) - set(ORDER)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    rows = collect(only, args.quick)
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores; {info['python']}; SQLite {info['sqlite']}; "
        f"{info['os']}; "
        f"{info['date']}; load {info['load']}"
    )
    print_table(rows)
    for r in rows:
        if r["note"]:
            print(f"  {r['name']}: {r['note']}")
    if args.markdown:
        args.markdown.write_text(markdown(rows, info, args.quick))
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0 if all(r["within"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
