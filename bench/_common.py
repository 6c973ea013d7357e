"""What the bench scripts share: a figure record, the environment of a cold CLI process (compiled
bytecode, a temporary config, ledger and cache) and the machine they ran on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def figure(
    name: str,
    value: float,
    unit: str,
    budget: float | None = None,
    *,
    higher_is_better: bool = False,
    spread: tuple[float, float] | None = None,
    note: str = "",
) -> dict:
    """One measured figure. `ratio` is figure / budget; `within` says whether the
    figure meets its budget (≤ for times, ≥ for throughputs). `spread` is (min, max) of the samples."""
    ratio = None if budget is None else value / budget
    within = None if budget is None else (value >= budget if higher_is_better else value <= budget)
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "budget": budget,
        "ratio": ratio,
        "within": within,
        "spread": spread,
        "note": note,
    }


def cold_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """The environment of a user's cold `modelwise` process: a temporary ledger, config and cache over the
    shipped registry, and the package's bytecode compiled (as pip leaves an install). This sandbox sets
    PYTHONDONTWRITEBYTECODE, which would make every process recompile every module."""
    env = dict(os.environ)
    env.update(
        MODELWISE_LEDGER=str(tmp / "ledger.sqlite3"),
        MODELWISE_CONFIG=str(tmp / "config.toml"),
        MODELWISE_CACHE=str(tmp / "cache"),
        MODELWISE_REGISTRY=str(ROOT / "model_registry.json"),
    )
    env.update(overrides)
    cfg = Path(env["MODELWISE_CONFIG"])
    if not cfg.exists():
        cfg.write_text("daily_budget = 1000000\n")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall
    import importlib.util

    pkg = Path(importlib.util.find_spec("modelwise").origin).parent
    compileall.compile_dir(str(pkg), quiet=1)
    return env


def wall(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0, 3)) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) of one process, in ms."""
    before = os.times()
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000.0
    after = os.times()
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()}")
    cpu = (after.children_user - before.children_user + after.children_system - before.children_system) * 1000
    return elapsed, cpu


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "-"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load,
    }


def print_table(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'figure':<64} {'value':>12} {'budget':>12} {'ratio':>6}  ok   spread (min-max)", file=file)
    for r in rows:
        print(
            f"{r['name']:<64} {fmt(r['value'], r['unit']):>12} {fmt(r['budget'], r['unit']):>12} "
            f"{'' if r['ratio'] is None else format(r['ratio'], '.2f'):>6}  "
            f"{'' if r['within'] is None else ('yes' if r['within'] else 'NO'):<4} "
            f"{_spread(r)}",
            file=file,
        )


def _spread(r: dict) -> str:
    return "" if not r["spread"] else f"{fmt(r['spread'][0], r['unit'])} - {fmt(r['spread'][1], r['unit'])}"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "/s":
        return f"{value:,.0f}/s"
    digits = 1 if value >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def source_dir(given: str) -> str:
    """The folder to put on PYTHONPATH for `--baseline-src DIR`: a checkout (DIR/src/modelwise) or its
    src/ itself (DIR/modelwise). Anything else stops the bench: a path without the package would have
    the "baseline" import the installed modelwise, which is this tree's, and compare the tree with itself."""
    path = Path(given).resolve()
    for src in (path / "src", path):
        if (src / "modelwise" / "__init__.py").is_file():
            return str(src)
    raise SystemExit(f"--baseline-src {given}: no modelwise package in it or in its src/")
