"""Comparisons that do not flatter: `models` lists the best first (by the task's score with --task, by
quality otherwise, unrated last); `whatif` replays under the daily budget each decision was made under
unless another is asked for; `savings` compares with the best-rated reachable model (or the config's
baseline) and says which. The CLI as a subprocess."""

from __future__ import annotations

import json

from tests.conftest import BRIEF_REGISTRY, run_cli


def _registry_with_an_unrated_model(tmp_path) -> str:
    data = json.loads(BRIEF_REGISTRY.read_text())
    data["models"].insert(
        0,
        {
            "id": "abliteration/uncensored-7b",
            "name": "Uncensored 7B",
            "provider": "abliteration",
            "capabilities": ["code_generation", "documentation"],
            "costPer1kTokens": 0.0001,
            "performance": {"latency": 900},
            "availability": 0.9,
        }
    )
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_models_lists_the_best_first_and_the_unrated_last(cli_env, tmp_path) -> None:
    env = dict(cli_env, MODELWISE_REGISTRY=_registry_with_an_unrated_model(tmp_path))
    r = run_cli("models", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["id"] for x in rows][-1] == "abliteration/uncensored-7b"
    rated = [x["quality"] for x in rows if x["quality"] is not None]
    assert rated == sorted(rated, reverse=True) and len(rated) == len(rows) - 1

    r = run_cli("models", "--task", "code_generation", "--json", env=env)
    rows = json.loads(r.stdout)
    scores = [x["score"] for x in rows]
    assert None not in scores and scores == sorted(scores, reverse=True)
    dry = json.loads(
        run_cli("route", "code_generation", "x", "--dry-run", "--all-candidates", "--json", env=env).stdout
    )
    ranked = [c["model"] for c in sorted(dry["candidates"], key=lambda c: c["rank"])]
    assert [x["id"] for x in rows] == [m for m in ranked if m in {x["id"] for x in rows}]  # route's order
    human = run_cli("models", "--task", "code_generation", env=env).stdout.splitlines()
    assert "score" in human[0] and human[1].startswith(rows[0]["id"])
    # An explicit order still wins.
    rows = json.loads(run_cli("models", "--sort", "id", "--json", env=env).stdout)
    assert rows[0]["id"] == "abliteration/uncensored-7b"


def test_whatif_replays_under_the_recorded_daily_budget_unless_asked(cli_env) -> None:
    config = cli_env["MODELWISE_CONFIG"]
    with open(config, "w") as fh:
        fh.write('timezone = "UTC"\ndaily_budget = 0.05\n')
    for _ in range(5):  # degraded, then refused, under a $0.05 day
        run_cli("route", "code_generation", "Parser for invoices", env=cli_env)
    with open(config, "w") as fh:  # the budget was raised since
        fh.write('timezone = "UTC"\ndaily_budget = 10.0\n')
    same = "0.4,0.3,0.2,0.1"  # the weights the decisions were made with: only the budget could differ
    r = run_cli("whatif", "--weights", same, "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["decisions"] == 5 and out["changed"] == 0
    assert out["replayed"]["cost"] == out["recorded"]["cost"]
    assert out["settings"]["dailyBudgetFrom"] == "recorded"
    assert out["settings"]["recordedDailyBudgets"] == [0.05]
    human = run_cli("whatif", "--weights", same, env=cli_env).stdout
    assert "the daily budget each decision was made under ($0.0500)" in human
    # Asked for: replayed under it, and said so.
    asked = run_cli("whatif", "--weights", same, "--daily-budget", "10", "--json", env=cli_env)
    asked = json.loads(asked.stdout)
    assert asked["changed"] > 0 and asked["settings"]["dailyBudgetFrom"] == "asked"
    assert asked["settings"]["dailyBudget"] == 10.0


def test_savings_compares_with_the_best_rated_model_or_the_configs_baseline(cli_env, tmp_path) -> None:
    data = json.loads(BRIEF_REGISTRY.read_text())
    data["models"].append(  # the dearest of all, and a poor one: no user would pick it
        {
            "id": "gilded-1", "name": "Gilded 1", "provider": "acme",
            "capabilities": ["code_generation", "documentation"], "costPer1kTokens": 0.6,
            "performance": {"latency": 900, "quality": 0.5}, "availability": 0.99,
        }
    )
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps(data))
    env = dict(cli_env, MODELWISE_REGISTRY=str(registry))
    run_cli("route", "documentation", "Write the README", env=env)
    s = json.loads(run_cli("savings", "--json", env=env).stdout)
    assert s["baseline"]["byTaskType"] == {"documentation": "gpt-4o"}  # the best-rated, not gilded-1
    assert "best-rated" in s["baseline"]["rule"]
    assert "best-rated reachable model per task type (documentation: gpt-4o)" in run_cli(
        "savings", env=env
    ).stdout
    with open(cli_env["MODELWISE_CONFIG"], "a") as fh:
        fh.write('savings_baseline = "gpt-4o-mini"\n')
    s = json.loads(run_cli("savings", "--json", env=env).stdout)
    assert s["baseline"]["model"] == "gpt-4o-mini" and "savings_baseline" in s["baseline"]["rule"]
    human = run_cli("savings", env=env).stdout
    assert human.startswith("baseline: gpt-4o-mini, the config's savings_baseline")
    # The flag still wins, and an unknown configured baseline is bad input naming where it came from.
    assert json.loads(run_cli("savings", "--baseline", "gpt-4o", "--json", env=env).stdout)["baseline"][
        "model"
    ] == "gpt-4o"
    with open(cli_env["MODELWISE_CONFIG"], "w") as fh:
        fh.write('savings_baseline = "nope"\n')
    r = run_cli("savings", env=env)
    assert r.returncode == 2 and "savings_baseline" in r.stderr and "'nope'" in r.stderr
