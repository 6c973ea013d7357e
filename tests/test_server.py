"""The HTTP service through a real uvicorn on a free loopback port: every endpoint, every error status,
the token, the OpenAPI document, and the budget under 200 parallel requests."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from modelwise.server import (
    Candidate,
    DecisionOut,
    Error,
    Health,
    ModelRow,
    RouteOut,
    StatsOut,
)
from modelwise.service import utc_now
from tests.live import serving

TOKEN = "s3cret-token-for-tests"


def strict(model, data: dict) -> None:
    """The answer validates against its documented model, and the model names every key it has."""
    model.model_validate(data)
    assert set(data) <= set(model.model_fields) | {"from"}, set(data) - set(model.model_fields)


def one_line_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    Error.model_validate(body)
    assert "\n" not in body["detail"] and "Traceback" not in r.text
    return body["detail"]


@pytest.fixture
def svc(make_service):
    return make_service()


@pytest.fixture
def url(svc):
    with serving(svc) as base:
        yield base


@pytest.fixture
def client(url):
    with httpx.Client(base_url=url, timeout=30, headers={"content-type": "application/json"}) as c:
        yield c


def test_health_and_route_answer_the_route_json(client, svc):
    h = client.get("/health")
    assert h.status_code == 200
    Health.model_validate(h.json())
    assert h.json()["models"] == 3

    r = client.post(
        "/route",
        json={
            "type": "documentation",
            "description": "Generate README",
            "agent": "Planner",
            "requestId": "r-1",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    strict(RouteOut, body)
    for c in body["candidates"]:
        strict(Candidate, c)
    # the brief's worked example: GPT-4o Mini wins documentation at 0.9515
    assert body["selectedModel"] == "gpt-4o-mini" and body["score"] == pytest.approx(0.9515)
    assert body["status"] == "routed" and body["agent"] == "Planner" and body["tier"] == "simple"
    # the same JSON as the CLI's route --json: same keys, and it is the decision stored in the ledger
    stored = svc.decision(body["decisionId"])
    assert stored["agent"] == "Planner" and stored["estimatedCost"] == body["estimatedCost"]

    again = client.post("/route", json={"type": "documentation", "description": "x", "requestId": "r-1"})
    assert again.status_code == 200 and again.json()["decisionId"] == body["decisionId"]
    assert again.json()["replayed"] is True
    assert svc.ledger.count_decisions() == 1


def test_route_json_matches_the_cli(client, cli_env):
    from tests.conftest import run_cli

    cli = run_cli("route", "code_review", "Review PR 7", "--json", "--dry-run", env=cli_env)
    assert cli.returncode == 0, cli.stderr
    http = client.post("/route", json={"type": "code_review", "description": "Review PR 7", "dryRun": True})
    assert http.status_code == 200
    a, b = json.loads(cli.stdout), http.json()
    assert set(a) == set(b)
    for key in (
        "selectedModel",
        "estimatedCost",
        "estimatedTokens",
        "score",
        "status",
        "wouldBe",
        "candidates",
    ):
        assert a[key] == b[key], key


def test_dry_run_records_nothing(client, svc):
    r = client.post("/route", json={"type": "architecture", "description": "Design it", "dryRun": True})
    assert r.status_code == 200
    assert r.json()["status"] == "dry-run" and r.json()["decisionId"] is None
    assert not svc.ledger_exists() or svc.ledger.count_decisions() == 0


def test_batch_answers_in_order_and_validates_first(client, svc):
    tasks = [
        {"type": "documentation", "description": "Generate README", "agent": "Planner"},
        {"type": "code_generation", "description": "Create API endpoint", "budget": 0.5, "agent": "Executor"},
        {"type": "architecture", "description": "Design the pipeline", "agent": "Critic"},
    ] * 5
    r = client.post("/route/batch", json=tasks)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [o["taskType"] for o in out] == [t["type"] for t in tasks]
    assert [o["agent"] for o in out] == [t["agent"] for t in tasks]
    for o in out:
        strict(RouteOut, o)
    assert svc.ledger.count_decisions() == 15

    bad = [*tasks, {"type": "architectur"}]
    detail = one_line_error(client.post("/route/batch", json=bad), 422)
    assert detail.startswith("task 15:") and "unknown task type" in detail
    assert svc.ledger.count_decisions() == 15  # nothing of the invalid batch was routed
    one_line_error(client.post("/route/batch", json={"type": "documentation"}), 422)


def test_outcomes_settle_and_stats_by_agent(client, svc):
    ids = {}
    for agent, task in (
        ("Planner", "architecture"),
        ("Executor", "code_generation"),
        ("Critic", "code_review"),
    ):
        r = client.post("/route", json={"type": task, "description": f"{agent} task", "agent": agent})
        assert r.status_code == 200
        ids[agent] = r.json()["decisionId"]
    o = client.post(
        "/outcomes",
        json={"decisionId": ids["Executor"], "outcome": "success", "latencyMs": 900, "cost": 0.01},
    )
    assert o.status_code == 200, o.text
    strict(DecisionOut, o.json())
    assert o.json()["outcome"] == "success" and o.json()["actualCost"] == 0.01
    o = client.post(
        "/outcomes",
        json={"decisionId": ids["Planner"], "outcome": "failure", "inputTokens": 1000, "outputTokens": 500},
    )
    assert o.status_code == 200
    assert o.json()["actualCost"] == pytest.approx(1500 * 0.005 / 1000)
    # a second outcome for the same decision is a bad input
    one_line_error(client.post("/outcomes", json={"decisionId": ids["Planner"], "outcome": "success"}), 422)
    one_line_error(client.post("/outcomes", json={"decisionId": ids["Critic"], "outcome": "great"}), 422)

    s = client.get("/stats", params={"by": "agent"})
    assert s.status_code == 200
    body = s.json()
    strict(StatsOut, body)
    assert set(body["byAgent"]) == {"Planner", "Executor", "Critic"}
    cost = body["costStatistics"]
    assert sum(a["totalTasks"] for a in body["byAgent"].values()) == cost["totalTasks"] == 3
    assert sum(a["totalCost"] for a in body["byAgent"].values()) == pytest.approx(cost["totalCost"])
    assert body["byAgent"]["Executor"]["totalCost"] == pytest.approx(0.01)
    assert body["performanceStatistics"]["successRate"] == 0.5
    assert body == svc.statistics(by="agent")
    assert "byAgent" not in client.get("/stats").json()
    one_line_error(client.get("/stats", params={"by": "model"}), 422)
    one_line_error(client.get("/stats", params={"since": "last tuesday"}), 422)
    assert client.get("/stats", params={"all": "true"}).json()["period"] == {
        "from": None, "to": None, "timezone": svc.zone_name
    }


def test_models_and_decisions(client, svc):
    rows = client.get("/models", params={"task": "architecture", "sort": "cost"}).json()
    assert [r["id"] for r in rows] == ["claude-sonnet-4", "gpt-4o"]  # gpt-4o-mini cannot do architecture
    for r in rows:
        strict(ModelRow, r)
    assert len(client.get("/models", params={"limit": 1}).json()) == 1
    one_line_error(client.get("/models", params={"sort": "vibes"}), 422)
    one_line_error(client.get("/models", params={"task": "nope"}), 422)
    one_line_error(client.get("/models", params={"limit": -1}), 422)

    made = []
    for i, agent in enumerate(["a", "b", "a", "c", "a"]):
        made.append(
            client.post(
                "/route", json={"type": "documentation", "description": f"t{i}", "agent": agent}
            ).json()
        )
    got = client.get("/decisions", params={"agent": "a"}).json()
    assert [d["decisionId"] for d in got] == [
        made[4]["decisionId"],
        made[2]["decisionId"],
        made[0]["decisionId"],
    ]
    for d in got:
        strict(DecisionOut, d)
    assert len(client.get("/decisions", params={"limit": 2}).json()) == 2
    assert len(client.get("/decisions", params={"since": "1h"}).json()) == 5
    one_line_error(client.get("/decisions", params={"limit": 0}), 422)
    one = client.get(f"/decisions/{made[1]['decisionId']}")
    assert one.status_code == 200 and one.json()["agent"] == "b" and "candidates" in one.json()["detail"]


def test_unknown_decision_is_404(client):
    assert "unknown decision" in one_line_error(
        client.post("/outcomes", json={"decisionId": "dec_nope", "outcome": "success"}), 404
    )
    client.post("/route", json={"type": "documentation"})  # the ledger exists now
    one_line_error(client.post("/outcomes", json={"decisionId": "dec_nope", "outcome": "error"}), 404)
    one_line_error(client.get("/decisions/dec_nope"), 404)
    one_line_error(client.get("/no/such/path"), 404)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"type": "poetry"}, "unknown task type"),
        ({"description": "no type"}, "type"),
        ({"type": "documentation", "colour": "red"}, "colour"),
        ({"type": "documentation", "budget": -1}, "budget"),
        ({"type": "documentation", "budget": 0}, "budget"),
        ({"type": "documentation", "constraints": {"minQuality": 2}}, "minQuality"),
        (
            {
                "type": "documentation",
                "weights": {"capability": 0, "performance": 0, "availability": 0, "cost": 0},
            },
            "zero",
        ),
        ({"type": "documentation", "agent": ""}, "agent"),
        ({"type": 7}, "type"),
        ([1, 2], "body"),
    ],
)
def test_invalid_input_is_422_with_one_line(client, svc, body, needle):
    detail = one_line_error(client.post("/route", json=body), 422)
    assert needle in detail
    assert not svc.ledger_exists() or svc.ledger.count_decisions() == 0


def test_malformed_json_and_form_content_type(client, svc):
    json_type = {"content-type": "application/json"}
    assert "not valid JSON" in one_line_error(
        client.post("/route", content=b'{"type": ', headers=json_type), 422
    )
    # `curl -d` sends a form content type, which a web page may send anywhere without asking: refused
    r = client.post(
        "/route",
        content=b'{"type": "documentation"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "application/json" in one_line_error(r, 415)
    assert not svc.ledger_exists() or svc.ledger.count_decisions() == 0


def test_body_over_one_mebibyte_is_413(client, svc):
    big = b'{"type": "documentation", "description": "' + b"x" * (1024 * 1024) + b'"}'
    assert "larger than" in one_line_error(client.post("/route", content=big), 413)

    def stream():  # no Content-Length: the size is counted as it streams
        yield b'{"type": "documentation", "description": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    r = client.post("/route", content=stream())
    assert r.request.headers.get("transfer-encoding") == "chunked"
    one_line_error(r, 413)
    # just under the limit is fine (the service caps descriptions at 1,000,000 characters)
    ok = b'{"type": "documentation", "description": "' + b"z" * 999_000 + b'"}'
    assert client.post("/route", content=ok).status_code == 200
    assert svc.ledger.count_decisions() == 1


def test_budget_refusal_is_402_with_the_route_json(make_service):
    svc = make_service(config="daily_budget = 0.01\n")
    with serving(svc) as base, httpx.Client(base_url=base) as c:
        first = c.post("/route", json={"type": "documentation", "description": "fits"})
        assert first.status_code == 200
        r = c.post("/route", json={"type": "architecture", "description": "too dear for 0.01 a day"})
        assert r.status_code == 402, r.text
        body = r.json()
        strict(RouteOut, body)
        assert body["status"] == "refused" and body["selectedModel"] is None and body["decisionId"]
        assert svc.decision(body["decisionId"])["status"] == "refused"  # a refusal is recorded too


def test_token_rules(make_service):
    svc = make_service()
    with serving(svc, token=TOKEN) as base, httpx.Client(base_url=base) as c:
        assert c.get("/health").status_code == 200  # never needs the token
        for path in ("/stats", "/models", "/decisions", "/openapi.json", "/docs"):
            r = c.get(path)
            one_line_error(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
        one_line_error(c.post("/route", json={"type": "documentation"}), 401)
        one_line_error(
            c.post("/route", json={"type": "documentation"}, headers={"Authorization": "Bearer wrong"}), 401
        )
        one_line_error(
            c.post("/route", json={"type": "documentation"}, headers={"Authorization": TOKEN}), 401
        )
        one_line_error(c.get("/stats", headers={"Authorization": f"Basic {TOKEN}"}), 401)
        one_line_error(c.get("/stats", headers={"Authorization": f"Bearer {TOKEN}x"}), 401)
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/stats", headers=good).status_code == 200
        assert c.get("/stats", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        r = c.post("/route", json={"type": "documentation"}, headers=good)
        assert r.status_code == 200
        # a 401 is answered before the body is read: an oversized unauthenticated body is still 401
        one_line_error(c.post("/route", content=b"x" * (2 * 1024 * 1024)), 401)
        assert svc.ledger.count_decisions() == 1


def test_openapi_documents_every_endpoint_and_model(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    expected = {
        "/route": {"post"},
        "/route/batch": {"post"},
        "/outcomes": {"post"},
        "/stats": {"get"},
        "/models": {"get"},
        "/decisions": {"get"},
        "/decisions/{decision_id}": {"get"},
        "/health": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    schemas = doc["components"]["schemas"]
    for name in (
        "TaskIn",
        "ConstraintsIn",
        "WeightsIn",
        "OutcomeIn",
        "RouteOut",
        "Candidate",
        "BudgetOut",
        "Tokens",
        "Flip",
        "DecisionOut",
        "StatsOut",
        "CostStatistics",
        "PerformanceStatistics",
        "AgentStatistics",
        "ModelRow",
        "Observed",
        "Health",
        "Error",
    ):
        assert name in schemas, name
    route = paths["/route"]["post"]
    assert route["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskIn")
    assert route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RouteOut")
    assert route["responses"]["402"]["content"]["application/json"]["schema"]["$ref"].endswith("/RouteOut")
    for status in ("401", "413", "422"):
        assert route["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "404" in paths["/outcomes"]["post"]["responses"]
    assert set(schemas["TaskIn"]["properties"]) == {
        "type",
        "description",
        "budget",
        "agent",
        "constraints",
        "requestId",
        "dryRun",
        "weights",
        "anyProvider",
    }
    # what the service checks beyond pydantic is documented too (schemathesis generates from it)
    assert "documentation" in schemas["TaskIn"]["properties"]["type"]["enum"]
    models = {p["name"]: p["schema"] for p in paths["/models"]["get"]["parameters"]}
    assert "cost" in models["sort"]["enum"]
    assert models["task"]["enum"] == schemas["TaskIn"]["properties"]["type"]["enum"]
    # a server without a token documents no security; one with a token documents it on every route
    # but /health
    assert "securitySchemes" not in doc["components"] and "security" not in paths["/stats"]["get"]


def test_openapi_documents_the_token_when_there_is_one(make_service):
    with serving(make_service(), token=TOKEN) as base:
        doc = httpx.get(base + "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = doc["paths"]
    assert "security" not in paths["/health"]["get"]
    for path, ops in paths.items():
        if path != "/health":
            assert all(op["security"] == [{"bearer": []}] for op in ops.values()), path


def test_unknown_query_parameter_is_named(client):
    detail = one_line_error(client.get("/stats", params={"sinse": "7d"}), 422)
    assert "sinse" in detail and "since" in detail
    assert "limit" in one_line_error(client.get("/models", params={"limit": "1", "x": "1"}), 422)
    one_line_error(client.get("/health", params={"x": "1"}), 422)


@pytest.mark.clock
@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-transaction-each"])
def test_parallel_routes_never_overspend(make_service, tmp_path, cli_env, group_commit, backend):
    """200 requests at once (plus CLI processes on the same ledger) against a $0.20 day: the budget and
    every tier's allocation hold, and every answered decision is in the ledger exactly once."""
    import subprocess
    import sys

    budget = 0.2
    config = f"daily_budget = {budget}\n"
    ledger_path = backend.location
    # One clock for every process: the CLI subprocesses read the real one (under CI's faketime runs, the
    # faked one), so the server does too, instead of the fixture's fixed instant.
    svc = make_service(config=config, ledger=ledger_path, clock=utc_now)
    cfg = tmp_path / "cli-shared.toml"
    cfg.write_text(config)
    env = dict(cli_env, MODELWISE_LEDGER=str(ledger_path), MODELWISE_CONFIG=str(cfg))
    types = ["documentation", "code_generation", "architecture", "refactoring", "design", "boilerplate"]
    n = 200
    answers: list[httpx.Response | None] = [None] * n
    start = threading.Barrier(n + 1)
    with serving(svc, group_commit=group_commit) as base:
        import os

        clis = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelwise",
                    "route",
                    "code_generation",
                    f"cli task {i}",
                    "--json",
                    "--agent",
                    "cli",
                ],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]

        def one(i: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                start.wait()
                answers[i] = c.post(
                    "/route",
                    json={
                        "type": types[i % len(types)],
                        "description": f"task {i}",
                        "agent": f"agent-{i % 3}",
                    },
                )

        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            start.wait()
            for f in futures:
                f.result()
        cli_out = [p.communicate(timeout=60) for p in clis]
        assert all(p.returncode in (0, 3) for p in clis), cli_out

    assert all(a is not None and a.status_code in (200, 402) for a in answers), {
        a.status_code for a in answers if a
    }
    acknowledged = [a.json()["decisionId"] for a in answers if a.status_code == 200]
    refused = [a.json()["decisionId"] for a in answers if a.status_code == 402]
    assert acknowledged and refused, "the day's budget should both admit and refuse some of 200 tasks"

    from modelwise.ledger import open_ledger

    ledger = open_ledger(ledger_path)
    try:
        rows = list(ledger.decisions())
    finally:
        ledger.close()
    http_rows = [r for r in rows if r["agent"] != "cli"]
    assert len(http_rows) == n and len(rows) == n + len(clis)
    ids = [r["id"] for r in http_rows]
    assert len(set(ids)) == n
    assert sorted(r["id"] for r in http_rows if r["status"] != "refused") == sorted(acknowledged)
    assert sorted(r["id"] for r in http_rows if r["status"] == "refused") == sorted(refused)
    # The budget is per budget day; a run that straddles midnight spends on two days, each within it.
    shares = {"simple": 0.2, "medium": 0.5, "complex": 0.3}
    days = {r["day"] for r in rows}
    for day in days:
        on_day = [r for r in rows if r["day"] == day]
        assert sum(r["reserved"] for r in on_day) <= budget + 1e-9, day
        for tier, share in shares.items():
            tier_spent = sum(r["reserved"] for r in on_day if r["tier"] == tier)
            assert tier_spent <= budget * share + 1e-9, (day, tier)
    # and it did spend: the check is not vacuous
    assert max(sum(r["reserved"] for r in rows if r["day"] == d) for d in days) > budget * 0.5


def test_route_on_its_own_path_answers_as_fastapi_would(client, svc, monkeypatch):
    """POST /route skips FastAPI's routing and middlewares (server._direct); what they would answer it
    still answers: a failure inside is the one-line 500 and is logged, a ModelwiseError its own status,
    a query string goes FastAPI's way (its unknown parameter named), and none of them records anything."""
    from modelwise.core.errors import LedgerError
    from modelwise.server import create_app

    assert "/route" in create_app(svc).fastapi.state.direct
    task = json.dumps({"type": "debugging", "description": "fix the flaky login test"})
    r = client.post("/route?dryrun=1", content=task)
    assert one_line_error(r, 422) == "unknown query parameter(s) dryrun (it takes none)"

    def broken(*_a, **_k):
        raise RuntimeError("the ranking broke")

    for name in ("submit_task", "route_mapping"):
        monkeypatch.setattr(svc, name, broken)
    assert one_line_error(client.post("/route", content=task), 500) == "internal error: RuntimeError"

    def unwritable(*_a, **_k):
        raise LedgerError("ledger l.sqlite3: the disk is full\nsecond line")

    for name in ("submit_task", "route_mapping"):
        monkeypatch.setattr(svc, name, unwritable)
    assert one_line_error(client.post("/route", content=task), 503) == (
        "ledger l.sqlite3: the disk is full second line")
    stats = client.get("/stats").json()
    assert stats["costStatistics"]["totalTasks"] == 0 and stats["refused"] == 0
