"""`modelwise batch FILE` as a subprocess: 1,000 tasks in input order, per-agent statistics that add up,
refusals (exit 3), malformed files (exit 2, nothing written) and the progress bar on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_json, run_cli

TYPES = [
    "documentation",
    "code_generation",
    "architecture",
    "refactoring",
    "code_review",
    "boilerplate",
    "design",
]
AGENTS = ["Planner", "Executor", "Critic", None]


def tasks(n: int) -> list[dict]:
    out = []
    for i in range(n):
        t = {"type": TYPES[i % len(TYPES)], "description": f"task number {i}", "requestId": f"t-{i:04d}"}
        if AGENTS[i % len(AGENTS)]:
            t["agent"] = AGENTS[i % len(AGENTS)]
        out.append(t)
    return out


def test_thousand_tasks_in_order_and_stats_by_agent_add_up(tmp_path, cli_env):
    Path(cli_env["MODELWISE_CONFIG"]).write_text("daily_budget = 1000\n")
    path = tmp_path / "tasks.jsonl"
    given = tasks(1000)
    path.write_text("\n".join(json.dumps(t) for t in given) + "\n\n")
    r = run_cli("batch", str(path), "--json", env=cli_env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # not a terminal: no progress bar
    out = load_json(r.stdout)
    assert len(out) == 1000
    assert [o["requestId"] for o in out] == [t["requestId"] for t in given]
    assert [o["taskType"] for o in out] == [t["type"] for t in given]
    assert [o["agent"] for o in out] == [t.get("agent") for t in given]
    assert all(o["status"] in ("routed", "degraded") for o in out)
    assert len({o["decisionId"] for o in out}) == 1000

    s = load_json(run_cli("stats", "--all", "--by", "agent", "--json", env=cli_env).stdout)
    cost = s["costStatistics"]
    assert cost["totalTasks"] == 1000
    assert cost["totalCost"] == pytest.approx(sum(o["estimatedCost"] for o in out))
    by = s["byAgent"]
    assert set(by) == {"Planner", "Executor", "Critic", "(none)"}
    assert sum(a["totalTasks"] for a in by.values()) == 1000
    assert sum(a["totalCost"] for a in by.values()) == pytest.approx(cost["totalCost"])
    for agent, a in by.items():
        mine = [o for o in out if (o["agent"] or "(none)") == agent]
        assert a["totalTasks"] == len(mine) == 250
        assert a["totalCost"] == pytest.approx(sum(o["estimatedCost"] for o in mine))
        assert sum(a["modelUsage"].values()) == 250

    # the same ids again replay: nothing new is reserved
    again = run_cli("batch", str(path), "--json", "--concurrency", "3", env=cli_env, timeout=120)
    assert again.returncode == 0
    assert [o["decisionId"] for o in load_json(again.stdout)] == [o["decisionId"] for o in out]
    stats = load_json(run_cli("stats", "--all", "--json", env=cli_env).stdout)
    assert stats["costStatistics"]["totalTasks"] == 1000


def test_json_array_and_the_human_table(tmp_path, cli_env):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks(7)))
    r = run_cli("batch", str(path), env=cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 7 and lines[0].split()[0] == "0" and lines[6].split()[0] == "6"
    assert "documentation" in lines[0] and "[Planner]" in lines[0]
    assert "7 tasks: 7 routed, 0 refused" in r.stderr


def test_refusals_exit_3_and_the_others_are_recorded(tmp_path, cli_env):
    cfg = Path(cli_env["MODELWISE_CONFIG"])
    cfg.write_text("daily_budget = 0.2\n")
    path = tmp_path / "tasks.json"
    path.write_text(
        json.dumps(
            [{"type": "architecture", "description": f"design {i}", "agent": "Planner"} for i in range(10)]
        )
    )
    r = run_cli("batch", str(path), "--json", env=cli_env)
    assert r.returncode == 3, r.stderr
    out = load_json(r.stdout)
    statuses = [o["status"] for o in out]
    assert "refused" in statuses and any(s in ("routed", "degraded") for s in statuses)
    s = load_json(run_cli("stats", "--all", "--by", "agent", "--json", env=cli_env).stdout)
    assert s["refused"] == statuses.count("refused")
    assert s["costStatistics"]["totalTasks"] == 10 - statuses.count("refused")
    assert s["costStatistics"]["totalCost"] <= 0.2 * 0.3 + 1e-9  # the complex tier's share of the day


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('[{"type": "documentation"}, {"type": "documentation"', "not valid JSON"),
        ('{"type": "documentation"}\n{"type": \n', "line 2"),
        ('{"type": "documentation"}', "expected a JSON array"),  # one object is JSONL of one line
        ("[]", "no tasks"),
        ("", "no tasks"),
        ('[{"type": "documentation"}, "just text"]', "task 1"),
        ('[{"type": "documentation"}, {"type": "poetry"}]', "task 1: unknown task type"),
        ('[{"type": "documentation", "budget": -2}]', "task 0: budget"),
        ('[{"type": "documentation", "colour": "red"}]', "task 0: unknown task key"),
        ('[{"type": "documentation", "dryRun": "yes"}]', "dryRun"),
        ('[{"type": "documentation", "constraints": {"minQuality": 5}}]', "minQuality"),
    ],
)
def test_malformed_file_exits_2_and_writes_nothing(tmp_path, cli_env, content, needle):
    path = tmp_path / "tasks.json"
    path.write_text(content)
    r = run_cli("batch", str(path), env=cli_env)
    if needle == "expected a JSON array":
        # a single JSON object is a JSONL file of one task: valid
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""
    assert not os.path.exists(cli_env["MODELWISE_LEDGER"])


def test_missing_file_and_bad_concurrency(tmp_path, cli_env):
    r = run_cli("batch", str(tmp_path / "nope.json"), env=cli_env)
    assert r.returncode == 2 and "cannot read" in r.stderr
    path = tmp_path / "t.json"
    path.write_text(json.dumps(tasks(2)))
    assert run_cli("batch", str(path), "--concurrency", "0", env=cli_env).returncode == 2
    assert not os.path.exists(cli_env["MODELWISE_LEDGER"])


def test_stdin(cli_env):
    r = run_cli("batch", "-", "--json", env=cli_env, input="\n".join(json.dumps(t) for t in tasks(3)))
    assert r.returncode == 0, r.stderr
    assert [o["requestId"] for o in load_json(r.stdout)] == ["t-0000", "t-0001", "t-0002"]


def test_progress_bar_on_a_terminal(tmp_path, cli_env):
    """stderr on a pseudo-terminal shows the progress bar; stdout (a pipe) still gets clean JSON."""
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks(300)))
    leader, follower = pty.openpty()
    stdout = open(tmp_path / "out.json", "w+")  # a file, not a pipe: nothing to drain while reading the pty
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", "batch", str(path), "--json"],
        env={**os.environ, **cli_env, "COLUMNS": "100", "TERM": "xterm"},
        stdout=stdout,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    os.close(leader)
    stdout.seek(0)
    out = stdout.read()
    stdout.close()
    assert proc.returncode == 0
    assert b"routing" in seen and b"/300" in seen
    assert [o["requestId"] for o in load_json(out)] == [f"t-{i:04d}" for i in range(300)]
