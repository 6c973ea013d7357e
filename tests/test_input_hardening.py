"""Inputs that used to crash or mislead: JSON and TOML nested deeper than the parser recurses, config
numbers given as booleans or strings, and refusals that say which budget ran out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import BRIEF_REGISTRY, run_cli

DEEP = 100_000


def one_line_exit_2(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr
    return r.stderr


# -- nesting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * DEEP + "]" * DEEP,
        '[{"type": "math", "constraints": ' + "[" * DEEP + "]" * DEEP + "}]",
        '{"type": "math"}\n{"type": "math", "weights": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}\n",
    ],
    ids=["the-array", "inside-a-task", "a-jsonl-line"],
)
def test_deeply_nested_batch_file_is_bad_input(cli_env, tmp_path, text):
    f = tmp_path / "tasks.json"
    f.write_text(text)
    one_line_exit_2(run_cli("batch", str(f), env=cli_env), str(f), "nested too deeply")
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


def test_deeply_nested_registry_is_bad_input(cli_env, tmp_path):
    reg = tmp_path / "registry.json"
    reg.write_text('{"models": ' + "[" * DEEP + "]" * DEEP + "}")
    for args in (("route", "math", "x"), ("models",)):
        one_line_exit_2(run_cli("--registry", str(reg), *args, env=cli_env), str(reg), "nested too deeply")
    r = run_cli("registry", "validate", str(reg), env=cli_env)
    assert r.returncode == 2 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


def test_deeply_nested_config_is_bad_input(cli_env):
    cfg = Path(cli_env["MODELWISE_CONFIG"])
    cfg.write_text("theme = " + "[" * DEEP + "]" * DEEP + "\n")
    one_line_exit_2(run_cli("route", "math", "x", env=cli_env), str(cfg), "nested too deeply")
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


# -- numbers in the config ---------------------------------------------------------------------------

NUMERIC_KEYS = [
    ("", "daily_budget"),
    ("", "alert_threshold"),
    ("", "cost_ceiling_per_1k"),
    ("", "unrated_quality"),
    ("weights", "cost"),
    ("tiers.simple", "share"),
    ("tiers.simple", "floor_percentile"),
    ("task_budgets", "math"),
    ("tokens.math", "context"),
    ("tokens.math", "output"),
    ("learning", "prior_strength"),
]


@pytest.mark.parametrize(("section", "key"), NUMERIC_KEYS)
@pytest.mark.parametrize("value", ["true", "false", '"10"', '"0.5"'])
def test_config_numbers_are_numbers(tmp_path, section, key, value):
    from modelwise.core.errors import ConfigError
    from modelwise.loading import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text((f"[{section}]\n" if section else "") + f"{key} = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, explicit=True)
    message = str(err.value)
    where = f"{section}.{key}" if section else key
    assert message.startswith(f"{cfg}: {where}: must be a number, not a "), message
    assert "\n" not in message


@pytest.mark.parametrize(("value", "kind"), [("true", "boolean"), ('"10"', "string")])
def test_daily_budget_true_or_a_string_exits_2(cli_env, value, kind):
    cfg = Path(cli_env["MODELWISE_CONFIG"])
    cfg.write_text(f"daily_budget = {value}\n")
    one_line_exit_2(run_cli("route", "math", "x", env=cli_env), str(cfg), "daily_budget", kind)
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()


def test_config_numbers_still_take_integers_and_floats(tmp_path):
    from modelwise.loading import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "daily_budget = 3\nalert_threshold = 0.5\n[tokens.math]\noutput = 2000\n[learning]\nenabled = false\n"
    )
    settings, _ = load_settings(cfg, explicit=True)
    assert settings.daily_budget == 3.0 and settings.alert_threshold == 0.5
    assert settings.tokens_for("math")[1] == 2000 and settings.learning_enabled is False


# -- what ran out ------------------------------------------------------------------------------------


def _route(env: dict[str, str], task_type: str) -> dict:
    r = run_cli("route", task_type, "do it", "--json", env=env)
    assert r.returncode in (0, 3), r.stderr
    return json.loads(r.stdout)


def test_a_tier_running_out_is_named_in_the_reason_and_the_alert(cli_env):
    Path(cli_env["MODELWISE_CONFIG"]).write_text("daily_budget = 0.01\n")
    env = dict(cli_env, MODELWISE_REGISTRY=str(BRIEF_REGISTRY))
    r = _route(env, "architecture")  # the complex tier: 30% of $0.01, less than any capable model costs
    assert r["status"] == "refused"
    assert r["reason"].startswith("the complex tier's $0.003000 allocation is exhausted"), r["reason"]
    assert "daily budget" not in r["reason"]
    audit = run_cli("audit", "--json", env=env)
    alerts = json.loads(audit.stdout)["alerts"]
    assert len(alerts) == 1 and "the complex tier's $0.003000 allocation is exhausted" in alerts[0]["message"]
    assert "daily budget exhausted" not in alerts[0]["message"]


def test_the_daily_budget_running_out_is_named_as_such(cli_env):
    # one tier holding the whole day: what is left of it is what is left of the daily budget
    Path(cli_env["MODELWISE_CONFIG"]).write_text(
        "daily_budget = 0.01\n[tiers.simple]\nshare = 0\n[tiers.medium]\nshare = 0\n"
        "[tiers.complex]\nshare = 1\n"
    )
    env = dict(cli_env, MODELWISE_REGISTRY=str(BRIEF_REGISTRY))
    r = _route(env, "architecture")
    assert r["status"] == "refused"
    assert r["reason"].startswith("the $0.0100 daily budget is exhausted ($0.0100 left today)"), r["reason"]
