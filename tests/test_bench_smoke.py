"""The bench scripts run (small and quick, no timing asserted), and bench/stats.py's batched build of a
ledger writes exactly what one transaction per decision and per outcome writes."""

from __future__ import annotations

import sqlite3
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from modelwise.service import TokenOptimizationService

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_bench():
    """bench/'s scripts import each other by file name; bench/http.py must never shadow the stdlib's http
    for the rest of the session, so the stdlib's is loaded first and bench/ leaves sys.path again."""
    import http.client  # noqa: F401

    sys.path.insert(0, str(BENCH))
    try:
        import _common  # noqa: F401
        import all as all_bench
        import cli as cli_bench
        import route as route_bench
        import stats as stats_bench
    finally:
        while str(BENCH) in sys.path:
            sys.path.remove(str(BENCH))
    return all_bench, cli_bench, route_bench, stats_bench


all_bench, cli_bench, route_bench, stats_bench = _load_bench()


def _tables(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {
            "decisions": conn.execute("SELECT * FROM decisions ORDER BY seq").fetchall(),
            "outcomes": conn.execute("SELECT * FROM outcomes ORDER BY decision_id").fetchall(),
            "rollup": [
                tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                for row in conn.execute("SELECT * FROM rollup ORDER BY day, tier, agent, model_id, status")
            ],
        }


def test_batched_build_writes_what_single_transactions_write(tmp_path):
    registry = stats_bench.ROOT / "model_registry.json"
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    end = date(2026, 11, 26)
    ledgers, tpl = [], None
    for name in ("batched", "single"):
        svc = TokenOptimizationService(registry=registry, ledger=tmp_path / f"{name}.sqlite3", config=cfg)
        tpl = tpl or stats_bench.templates(svc, small=True)
        records = stats_bench.generate(svc, 400, 4, end, 0.4, tpl=tpl)
        if name == "batched":
            assert stats_bench.write(svc.ledger, records, batch=64) == 400
        else:
            led = svc.ledger
            for rec, settle in records:
                led.admit(rec.day, None, lambda spent, rec=rec: rec)
                if settle is not None:
                    ts = rec.ts_unix + 30.0
                    iso = datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")
                    led.settle(rec.id, iso, ts, lambda dec, spent, s=settle: s)
        figures = [
            svc.statistics(all_days=True, by="agent"),
            svc.statistics(since="2026-11-25", until="2026-11-26"),
        ]
        svc.close()
        ledgers.append((tmp_path / f"{name}.sqlite3", figures))
    (a, stats_a), (b, stats_b) = ledgers
    ta, tb = _tables(a), _tables(b)
    assert len(ta["decisions"]) == 400 and ta["outcomes"] and ta["rollup"]
    assert ta == tb
    for x, y in zip(stats_a, stats_b, strict=True):
        x["costStatistics"].pop("budgetRemaining")
        y["costStatistics"].pop("budgetRemaining")
        assert x.keys() == y.keys()
        assert x["costStatistics"] == pytest.approx(y["costStatistics"])
        assert x["performanceStatistics"]["modelUsage"] == y["performanceStatistics"]["modelUsage"]
        assert x["refused"] == y["refused"] and x["outcomes"] == y["outcomes"]


def test_route_bench_returns_figures_and_all_writes_markdown():
    rows = route_bench.run(decisions=200)
    assert [r["budget"] for r in rows] == [100.0, 20.0]
    assert all(r["unit"] == "µs" and r["value"] > 0 and r["ratio"] == r["value"] / r["budget"] for r in rows)
    text = all_bench.markdown(
        rows, {k: "x" for k in ("cpu", "cores", "python", "sqlite", "os", "date", "load")}, True
    )
    assert text.count("\n| one decision") == 2


def test_inference_bench_reports_accuracy_and_times_both_trees():
    """bench/inference.py prints the corpus table and, with --baseline-src, both trees' µs per request
    and their ratio (here the same tree twice, one round each way)."""
    import subprocess

    root = BENCH.parent
    out = subprocess.run([sys.executable, str(BENCH / "inference.py"), "--rounds", "2", "--passes", "1",
                          "--baseline-src", str(root)], capture_output=True, text=True, check=True,
                         timeout=300, cwd=root).stdout
    assert "all types" in out and "held-out" in out
    times = {line.split(":")[0]: line for line in out.splitlines() if "us per request" in line}
    assert set(times) == {"baseline", "this tree"}
    assert "(median of 2 rounds" in times["this tree"]
    assert "this tree, each request seen before (an agent's next turn): " in out
    ratio = float(out.rsplit("this tree / baseline: ", 1)[1].split()[0])
    assert 0.2 < ratio < 5


def test_a_baseline_is_a_checkout_or_its_src_and_nothing_else(tmp_path):
    """`--baseline-src` (bench/http.py, bench/guard.py) takes a checkout or its src/; a folder without
    the package stops the bench, which would otherwise serve the installed modelwise (this tree's) as the
    baseline and compare the tree with itself."""
    source_dir = sys.modules["_common"].source_dir
    root = BENCH.parent
    assert source_dir(str(root)) == str(root / "src")
    assert source_dir(str(root / "src")) == str(root / "src")
    with pytest.raises(SystemExit, match="no modelwise package"):
        source_dir(str(tmp_path))


def test_the_cli_bench_times_the_baseline_tree_it_was_given(tmp_path, monkeypatch):
    """`bench/cli.py --baseline-src DIR` runs DIR's modelwise, not the installed one (this tree's): a
    stand-in package there counts its runs, and this tree's real `route` runs beside it."""
    package = tmp_path / "base" / "src" / "modelwise"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(
        "import os\nwith open(os.environ['MW_BENCH_MARK'], 'a') as fh:\n    fh.write('baseline\\n')\n"
    )
    mark = tmp_path / "mark"
    monkeypatch.setenv("MW_BENCH_MARK", str(mark))
    got = cli_bench.compare(str(tmp_path / "base"), runs=2)
    assert mark.read_text().splitlines() == ["baseline"] * 3  # the warm-up run and two timed ones
    assert got["this_wall"] > 0 and got["wall_ratio"] == got["this_wall"] / got["baseline_wall"]


def test_the_cli_bench_runs_a_route_as_a_user_would_with_home(tmp_path, monkeypatch):
    """`bench/cli.py --home`: each process with a HOME of its own and no MODELWISE_* or XDG_* variable,
    so it finds its config, ledger and cache in the user folders (here a real route records there)."""
    import subprocess

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    env = cli_bench.user_env(tmp_path)
    assert env["HOME"] == str(tmp_path)
    assert not [k for k in env if k.startswith(("MODELWISE_", "XDG_"))]
    assert "daily_budget" in (tmp_path / ".config" / "modelwise" / "config.toml").read_text()
    out = subprocess.run([sys.executable, "-m", "modelwise", *cli_bench.ARGS], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / ".local" / "share" / "modelwise").glob("*.sqlite3"))
    assert not (tmp_path / "elsewhere").exists()
