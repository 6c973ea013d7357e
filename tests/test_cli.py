"""The command line as a user runs it (a subprocess): outputs, shapes and exit codes; every bad input
exits 2 with one line naming what is wrong and leaves the ledger as it was."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _digest(path: Path) -> str | None:
    if not path.exists():
        return None
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_no_arguments_prints_help_or_opens_console():
    r = run_cli("--help")
    assert r.returncode == 0 and "route" in r.stdout


def test_route_json_shape(cli_env):
    r = run_cli(
        "route", "documentation", "Write the README", "0.1", "--json", "--agent", "docs-bot", env=cli_env
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in (
        "decisionId", "requestId", "taskType", "tier", "agent", "selectedModel", "selectedModelName",
        "estimatedCost", "estimatedTokens", "score", "status", "reason", "warnings", "budget", "weights",
        "margin", "flip", "candidates",
    ):
        assert key in out
    assert out["selectedModel"] == "gpt-4o-mini" and out["agent"] == "docs-bot"
    assert set(out["budget"]) == {"task", "dailyRemaining", "tierRemaining"}
    assert set(out["weights"]) == {"capability", "performance", "availability", "cost"}
    c = out["candidates"][0]
    assert {"rank", "model", "name", "eligible", "reason", "capability", "performance", "availability",
            "cost", "total", "estimatedCost"} <= set(c)
    assert out["flip"]["model"] == "claude-sonnet-4"


def test_route_text_and_explain(cli_env):
    r = run_cli("route", "debugging", "Fix the bug", env=cli_env)
    assert r.returncode == 0 and "Claude Sonnet 4" in r.stdout
    e = run_cli("explain", "debugging", "Fix the bug", env=cli_env)
    assert e.returncode == 0 and "would win if cost weighed 0.04 instead of 0.1" in e.stdout


def test_weights_flag_changes_the_winner(cli_env):
    r = run_cli(
        "route", "debugging", "x", "--weights", "0.4,0.3,0.2,0.01", "--json", "--dry-run", env=cli_env
    )
    assert json.loads(r.stdout)["selectedModel"] == "gpt-4o"


BAD_INPUTS = [
    (["route", "poetry", "x"], "unknown task type 'poetry'; known types: documentation"),
    (["route", "debugging", "x", "-1"], "budget must be"),
    (["route", "debugging", "x", "abc"], "budget must be a number"),
    (["route", "debugging", "x", "nan"], "finite"),
    (["route", "debugging", "x", "inf"], "finite"),
    (["route", "debugging", "x", "0"], "budget must be positive"),
    (["route", "debugging", "x", "--weights", "1,2"], "four numbers"),
    (["route", "debugging", "x", "--weights", "0,0,0,0"], "all be zero"),
    (["route", "debugging", "x", "--weights", "1,-1,1,1"], "negative"),
    (["route", "debugging", "x", "--min-quality", "2"], "minQuality"),
    (["route"], "the following arguments are required"),
    (["record", "dec_unknown", "--success"], "unknown decision id"),
    (["record", "dec_unknown"], "one of the arguments --success --failure --error is required"),
    (["export", "xml"], "unknown export format 'xml'"),
    (["stats", "--since", "last tuesday"], "cannot read the time"),
    (["models", "--sort", "vibes"], "cannot sort by 'vibes'"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(cli_env, args, message):
    ledger = Path(cli_env["MODELWISE_LEDGER"])
    run_cli("route", "documentation", "seed", env=cli_env)  # a ledger with one decision in it
    before = _digest(ledger)
    r = run_cli(*args, env=cli_env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert _digest(ledger) == before


def test_bad_input_does_not_create_a_ledger(cli_env):
    r = run_cli("route", "poetry", "x", env=cli_env)
    assert r.returncode == 2 and not Path(cli_env["MODELWISE_LEDGER"]).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('[{"id": "a", "costPer1kTokens": -1}]', "model #0 (id 'a'): costPer1kTokens"),
        ('[{"id": "a", "costPer1kTokens": 0.001, "performance": {"quality": 1.5}}]', "performance.quality"),
        ('[{"id": "a"}]', "has no price"),
        (
            '[{"id": "a", "costPer1kTokens": 0.001}, {"id": "a", "costPer1kTokens": 0.002}]',
            "model #1 (id 'a'): id: duplicate",
        ),
        ('[{"id": "a", "pricing": {"inputPer1M": 2.5e-06, "outputPer1M": 1e-05}}]', "per-token price"),
        ('{"models": 3}', "expected a JSON array"),
    ],
)
def test_malformed_registry_exits_2(cli_env, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = run_cli("--registry", str(bad), "route", "documentation", "x", env=cli_env)
    assert r.returncode == 2
    assert str(bad) in r.stderr and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("daily_budget = -1", "daily_budget"),
        ("daily_budget = 'ten'", "daily_budget"),
        ("cost_scale = 'cubic'", "cost_scale"),
        ("[weights]\ncapability = 0\nperformance = 0\navailability = 0\ncost = 0", "all be zero"),
        ("colour = 'red'", "colour"),
        ("timezone = 'Mars/Olympus'", "unknown time zone"),
        ("[tiers.simple]\nshare = 0.9", "shares add up to"),
        ("[task_budgets]\npoetry = 1.0", "unknown task type"),
        ("this is = not toml =", "not valid TOML"),
    ],
)
def test_bad_config_exits_2(cli_env, config, message):
    Path(cli_env["MODELWISE_CONFIG"]).write_text(config)
    r = run_cli("route", "documentation", "x", env=cli_env)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


def test_config_changes_routing(cli_env):
    Path(cli_env["MODELWISE_CONFIG"]).write_text(
        "[weights]\ncost = 0.01\n[tiers.simple]\nfloor_percentile = 100\n"
        "[tokens.documentation]\ncontext = 10\noutput = 20\n"
    )
    r = json.loads(run_cli("route", "documentation", "abcd", "--json", "--dry-run", env=cli_env).stdout)
    assert r["estimatedTokens"] == {"input": 11, "output": 20}
    assert r["selectedModel"] == "gpt-4o"  # the p100 floor leaves only the best-rated capable model


@pytest.mark.clock
def test_refusal_exits_3_and_is_recorded(cli_env):
    Path(cli_env["MODELWISE_CONFIG"]).write_text("daily_budget = 0.001\n")
    r = run_cli("route", "architecture", "x", "--json", env=cli_env)
    assert r.returncode == 3 and json.loads(r.stdout)["status"] == "refused"
    out = json.loads(run_cli("export", "json", env=cli_env).stdout)
    assert out[0]["status"] == "refused" and out[0]["estimatedCost"] == 0


@pytest.mark.clock
def test_record_and_stats(cli_env):
    d = json.loads(run_cli("route", "debugging", "x", "--json", env=cli_env).stdout)
    r = run_cli("record", d["decisionId"], "--success", "--latency-ms", "1200", "--input-tokens", "1000",
                "--output-tokens", "1000", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["actualCost"] == pytest.approx(2000 * 3.0 / 1e6)  # Claude Sonnet 4 at $0.003/1k both ways
    s = json.loads(run_cli("stats", "--all", "--json", env=cli_env).stdout)
    assert s["costStatistics"]["totalCost"] == pytest.approx(rec["actualCost"])
    assert s["performanceStatistics"]["successRate"] == 1.0
    assert s["performanceStatistics"]["averageLatency"] == 1200


def test_export_json_and_csv_without_secrets(cli_env, tmp_path):
    secret = "deploy with AKIAIOSFODNN7EXAMPLE and ghp_" + "x" * 36 + " then mail jane.doe@corp.example"
    run_cli("route", "debugging", secret, env=cli_env)
    run_cli("route", "documentation", "docs", "--agent", "writer", env=cli_env)
    out = json.loads(run_cli("export", "json", env=cli_env).stdout)
    assert [set(o) for o in out] == [{
        "decisionId", "timestamp", "taskType", "tier", "agent", "selectedModel", "estimatedCost",
        "actualCost", "status", "score", "outcome", "latencyMs", "description",
    }] * 2
    target = tmp_path / "out.csv"
    r = run_cli("export", "csv", "--output", str(target), env=cli_env)
    assert r.returncode == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 2 and rows[1]["agent"] == "writer"
    text = target.read_text() + json.dumps(out)
    for needle in ("AKIAIOSFODNN7EXAMPLE", "ghp_xxxx", "jane.doe@corp.example"):
        assert needle not in text
    assert "[REDACTED:aws-access-key]" in text and "[REDACTED:email]" in text
    anon = json.loads(run_cli("export", "json", "--anonymize", env=cli_env).stdout)
    assert all(a["description"] is None for a in anon) and anon[1]["agent"].startswith("agent-")


def test_models_and_locate(cli_env):
    r = run_cli("models", "--task", "architecture", "--sort", "quality", "--json", env=cli_env)
    rows = json.loads(r.stdout)
    assert [m["id"] for m in rows] == ["gpt-4o", "claude-sonnet-4"]  # mini is not capable of architecture
    loc = json.loads(run_cli("locate", "--json", env=cli_env).stdout)
    assert loc["ledger"] == cli_env["MODELWISE_LEDGER"] and loc["registry"] == cli_env["MODELWISE_REGISTRY"]


def test_request_id_from_cli(cli_env):
    a = json.loads(run_cli("route", "debugging", "x", "--request-id", "ci-7", "--json", env=cli_env).stdout)
    b = json.loads(run_cli("route", "debugging", "x", "--request-id", "ci-7", "--json", env=cli_env).stdout)
    assert a["decisionId"] == b["decisionId"]
    assert len(json.loads(run_cli("export", "json", env=cli_env).stdout)) == 1
