"""The CLI's `--json` objects are the wire contract (modelwise.wire) the HTTP service applies at run time:
the CLI prints them without importing pydantic, and these tests hold them to the same models. And the
server refuses to send an answer that breaks its contract."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from modelwise.wire import DecisionOut, ModelRow, RouteOut, StatsOut
from tests.conftest import run_cli


def _json(env: dict[str, str], *args: str):
    r = run_cli(*args, "--json", env=env)
    assert r.returncode in (0, 3), r.stderr
    return json.loads(r.stdout)


def test_cli_json_objects_validate_against_the_wire_models(cli_env) -> None:
    routed = _json(cli_env, "route", "code_generation", "Create a React component")
    RouteOut.model_validate(routed)
    RouteOut.model_validate(_json(cli_env, "route", "documentation", "Write the notes", "--dry-run"))
    StatsOut.model_validate(_json(cli_env, "stats"))
    TypeAdapter(list[ModelRow]).validate_python(_json(cli_env, "models", "--task", "code_generation"))
    r = run_cli("record", routed["decisionId"], "--success", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    DecisionOut.model_validate(json.loads(r.stdout))


def test_an_answer_that_breaks_its_contract_is_a_500_never_sent(make_service) -> None:
    from fastapi.testclient import TestClient

    from modelwise.server import create_app

    svc = make_service()
    real = svc.statistics

    def broken(*a, **kw):
        out = real(*a, **kw)
        out["costStatistics"]["totalTasks"] = "many"  # not an integer: the contract says one
        return out

    svc.statistics = broken
    with TestClient(create_app(svc), base_url="http://127.0.0.1") as client:
        r = client.get("/stats")
        assert r.status_code == 500, r.text
        assert "costStatistics.totalTasks" in r.json()["detail"]
        assert "many" not in r.text
        svc.statistics = real
        assert client.get("/stats").status_code == 200
