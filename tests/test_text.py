"""Text that says what is true: the budget pane's alerts under their heading, the CLI's help for
`stats`, each warning once, and an unknown capability named as bad input (the CLI as a subprocess)."""

from __future__ import annotations

import json

from textual.widgets import Static

from modelwise.tui.app import ModelwiseApp
from tests.conftest import run_cli
from tests.tui_support import settle


async def test_budget_alerts_are_one_a_line_under_one_heading(make_service) -> None:
    config = 'timezone = "UTC"\ndaily_budget = 0.05\nalert_threshold = 0.4\n'
    svc = make_service(config=config)
    for _ in range(10):  # past 40 %, then refused: two alerts or more
        svc.route_task("code_generation", "Parser for invoices")
    alerts = svc.budget_status()["alerts"]
    assert len(alerts) >= 2
    svc.close()
    app = ModelwiseApp(make_service(config=config), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = str(app.query_one("#alerts", Static).render())
    lines = text.splitlines()
    assert lines[0] == "alerts today" and text.count("alerts today") == 1
    assert len(lines) == 1 + len(alerts)
    for line, alert in zip(lines[1:], alerts, strict=True):
        assert line.endswith(alert["message"])


def test_stats_help_says_what_the_statistics_are(cli_env) -> None:
    out = run_cli("--help", env=cli_env).stdout + run_cli("stats", "--help", env=cli_env).stdout
    assert "brief" not in out
    assert "spend, average cost, latency, success rate" in " ".join(out.split())


def test_each_warning_is_printed_once(cli_env, tmp_path) -> None:
    with open(cli_env["MODELWISE_CONFIG"], "w") as fh:
        fh.write('timezone = "UTC"\ndaily_budget = 0.02\n')
    r = run_cli("route", "code_generation", "write a parser", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "[degraded]" in r.stdout
    both = r.stdout + r.stderr
    assert "floor dropped, degraded to GPT-4o Mini" in both
    for line in both.splitlines():
        sentence = line.strip().removeprefix("warning: ")
        assert both.count(sentence) == 1, sentence


def test_an_unknown_capability_is_bad_input_naming_the_known_ones(cli_env, tmp_path) -> None:
    r = run_cli("route", "code_generation", "x", "--capability", "telepathy", env=cli_env)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    (line,) = r.stderr.splitlines()
    assert "unknown capability 'telepathy'" in line and "code_generation" in line and "debugging" in line
    assert r.stdout == ""
    assert not (tmp_path / "cli-ledger.sqlite3").exists()  # nothing written
    # A capability some model has is still a constraint, not an error.
    ok = run_cli("route", "code_generation", "x", "--capability", "debugging", "--json", env=cli_env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "routed"
