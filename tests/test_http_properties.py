"""Bad input over HTTP at scale (hypothesis): generated bodies for POST /route, /route/batch and
/outcomes and query strings for GET /stats, /models and /decisions, valid-ish and garbage (wrong types,
huge numbers, NaN-like strings, unicode, nested junk, missing and extra fields, bytes that are not JSON).
Never a 5xx or a traceback; every 4xx is JSON `{"detail": one line}` naming the field or the body; a
rejected request writes nothing to the ledger.

In-process through the ASGI app (the Guard included), with group commit as `modelwise serve` runs it;
the live uvicorn is tested in tests/test_server.py."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.conftest import BRIEF_REGISTRY, LedgerWatch

TASK_TYPES = ["documentation", "code_generation", "architecture", "debugging", "design"]
TASK_KEYS = ["type", "description", "budget", "agent", "constraints", "requestId", "dryRun", "weights"]
OUTCOME_KEYS = ["decisionId", "outcome", "latencyMs", "inputTokens", "outputTokens", "cachedTokens",
                "cacheWriteTokens", "cost"]

# numbers at and past every edge: huge, tiny, negative, integral floats, and the strings people send
numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 1, 0.5, 1e308, -1e308, 5e-324, 2**63, 2**64, 10**12, 10**12 + 1, 1.0]),
)
nan_like = st.sampled_from(
    ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "0x10", "", " ", "null", "½"]
)
text = st.text(max_size=30) | st.sampled_from(["\x00", "\u202e", "💸" * 5, "a" * 300, "dec_", "\ud7ff"])
scalars = st.none() | st.booleans() | numbers | nan_like | text
junk = st.recursive(scalars,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                    max_leaves=8)

plausible_task = {
    "type": st.sampled_from(TASK_TYPES) | text | junk,
    "description": text | junk,
    "budget": numbers | nan_like | junk,
    "agent": text | junk,
    "constraints": st.fixed_dictionaries(
        {}, optional={"minQuality": numbers | junk, "maxLatencyMs": numbers | junk,
                      "capabilities": st.lists(text, max_size=3) | junk, "extra": junk}
    ) | junk,
    "requestId": text | junk,
    "dryRun": st.booleans() | junk,
    "weights": st.dictionaries(
        st.sampled_from(["capability", "performance", "availability", "cost", "taste"]),
        numbers | junk,
        max_size=5,
    ) | junk,
}
tasks = st.fixed_dictionaries({}, optional=plausible_task) | st.fixed_dictionaries(
    {}, optional={**plausible_task, "colour": junk, "Type": junk}
)
valid_tasks = st.fixed_dictionaries(
    {"type": st.sampled_from(TASK_TYPES)},
    optional={
        "description": st.text(max_size=200),
        "budget": st.floats(0.0001, 5),
        "agent": st.text(min_size=1, max_size=20),
        "constraints": st.fixed_dictionaries({}, optional={"minQuality": st.floats(0, 1),
                                                           "maxLatencyMs": st.floats(1, 10_000)}),
        "requestId": st.text(min_size=1, max_size=8),
        "dryRun": st.booleans(),
        "weights": st.dictionaries(st.sampled_from(["capability", "performance", "availability", "cost"]),
                                   st.floats(0, 10), max_size=4),
    },
)
route_bodies = valid_tasks | tasks | junk  # a third well-formed, so the accepting paths are exercised too
raw_bodies = st.binary(max_size=40) | st.sampled_from(
    [b"", b"{", b'{"type": ', b"\xff\xfe{}", b'{"type": "documentation"}' * 2]
)


def _dumps(body) -> bytes:
    # allow_nan: the JSON that clients really send sometimes carries NaN and Infinity literals
    return json.dumps(body, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    from modelwise.server import create_app
    from modelwise.service import TokenOptimizationService

    tmp = tmp_path_factory.mktemp("http-properties")
    cfg = tmp / "config.toml"
    cfg.write_text('daily_budget = 1000.0\ntimezone = "UTC"\n')  # tiny task budgets are still refused (402)
    svc = TokenOptimizationService(registry=BRIEF_REGISTRY, ledger=tmp / "ledger.sqlite3", config=cfg)
    svc.enable_group_commit()
    ids = [
        svc.route_task(t, "seed", agent="seed")["decisionId"]
        for t in ("documentation", "debugging", "design")
    ]
    watch = LedgerWatch(tmp / "ledger.sqlite3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette would rather have httpx2 (a deprecation warning)
        from starlette.testclient import TestClient

        client = TestClient(
            create_app(svc), raise_server_exceptions=False, headers={"content-type": "application/json"}
        )
    with client:
        yield client, watch, ids, svc, []  # open and settled decision ids
    watch.close()
    svc.close()


def check(response, watch: LedgerWatch, before, names, count: bool = True) -> None:
    """The properties every answer has."""
    if count:  # --hypothesis-show-statistics: how many got through
        event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    if 400 <= response.status_code < 500 and response.status_code != 402:  # a 402 refusal is recorded
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"detail"}, body
        detail = body["detail"]
        assert detail and "\n" not in detail and len(detail) <= 500, detail
        if response.status_code == 422:  # it says what is wrong: a field, the body, the task or the query
            assert any(n in detail for n in (*names, "body", "JSON", "task", "query parameter")), detail
        assert watch.version() == before, f"a rejected request wrote to the ledger: {detail}"


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(route_bodies)
@example({"type": "documentation",
          "weights": {"cost": False, "capability": 0, "performance": 0, "availability": 0}})
@example({"type": "documentation", "budget": "0.5"})
@example({"type": "documentation", "weights": {"capability": 1e308, "performance": 1e308}})
@example({"type": "documentation", "description": "\ud800"})
@SETTINGS
def test_route_bodies(http, body):
    client, watch, *_ = http
    before = watch.version()
    r = client.post("/route", content=_dumps(body))
    check(r, watch, before, TASK_KEYS + ["colour", "Type", "weights", "constraints"])
    if r.status_code in (200, 402):
        assert r.json()["status"] in ("routed", "degraded", "refused", "dry-run")
        assert (r.status_code == 402) == (r.json()["status"] == "refused")


@given(st.lists(valid_tasks, max_size=4) | st.lists(valid_tasks | tasks, max_size=4) | junk)
@SETTINGS
def test_batch_bodies(http, body):
    client, watch, *_ = http
    before = watch.version()
    r = client.post("/route/batch", content=_dumps(body))
    check(r, watch, before, TASK_KEYS + ["colour", "Type"])
    if r.status_code == 200:
        assert len(r.json()) == len(body)


@given(raw_bodies, st.sampled_from(["/route", "/route/batch", "/outcomes"]))
@example(b'\x08"\xff\xfe\xfd\xfc', "/outcomes")  # FastAPI answered 400 "error parsing the body"
@SETTINGS
def test_bytes_that_are_not_json(http, raw, path):
    client, watch, *_ = http
    before = watch.version()
    r = client.post(path, content=raw)
    check(r, watch, before, [])
    assert r.status_code in (200, 402, 422)


OPEN, SETTLED = "<an open decision>", "<a settled decision>"  # put in at run time: the pool changes
_outcome_fields = {
    "decisionId": st.sampled_from([OPEN, SETTLED]) | text | junk,
    "outcome": st.sampled_from(["success", "failure", "error", "great"]) | junk,
    "latencyMs": numbers | nan_like | junk,
    "inputTokens": numbers | junk,
    "outputTokens": numbers | junk,
    "cachedTokens": numbers | junk,
    "cacheWriteTokens": numbers | junk,
    "cost": numbers | nan_like | junk,
}
valid_outcomes = st.fixed_dictionaries(
    {"decisionId": st.just(OPEN), "outcome": st.sampled_from(["success", "failure", "error"])},
    optional={"latencyMs": st.floats(0, 1e6), "inputTokens": st.integers(0, 10**6),
              "outputTokens": st.integers(0, 10**6), "cost": st.floats(0, 10)},
)
outcome_bodies = valid_outcomes | st.fixed_dictionaries({}, optional={**_outcome_fields, "note": junk}) | junk


@given(outcome_bodies)
@example({"decisionId": OPEN, "outcome": "success", "inputTokens": 10**29})  # was a 500 (OverflowError)
@example({"decisionId": OPEN, "outcome": "success", "cost": 1e308})  # two of them summed to inf
@SETTINGS
def test_outcome_bodies(http, body):
    client, watch, ids, svc, settled = http
    if not ids:  # settled ones leave the pool; keep open decisions to settle
        for t in ("documentation", "design"):
            r = svc.route_task(t, "more", agent="seed")
            if r["status"] != "refused":
                ids.append(r["decisionId"])
    if isinstance(body, dict) and body.get("decisionId") in (OPEN, SETTLED):
        pick = ids[-1] if body["decisionId"] == OPEN or not settled else settled[-1]
        body = {**body, "decisionId": pick}
    before = watch.version()
    r = client.post("/outcomes", content=_dumps(body))
    check(r, watch, before, OUTCOME_KEYS + ["note", "decision", "cached tokens", "cache-write tokens"])
    if r.status_code == 200:  # settled once: the decision leaves the pool of open ones
        ids.remove(body["decisionId"])
        settled.append(body["decisionId"])
        assert r.json()["outcome"] == body["outcome"] and r.json()["actualCost"] is not None


times = st.sampled_from(["7d", "24h", "30m", "2w", "today", "yesterday", "2026-11-26", "9999999d", "²d",
                         "٣d", "9999-12-31", "0001-01-01", "1e308d", "-1d", "2026-02-30",
                         "2026-11-26T10:00:00Z"]) | text
QUERIES = {
    "/stats": {"since": times, "until": times, "by": st.sampled_from(["agent", "model"]) | text,
               "all": st.sampled_from(["true", "false", "1", "yes", "maybe"]) | text},
    "/models": {"task": st.sampled_from(TASK_TYPES) | text,
                "sort": st.sampled_from(["cost", "quality", "vibes"]) | text,
                "limit": st.sampled_from(["0", "1", "-1", "1e3", "99999999999999999999999"]) | text},
    "/decisions": {"since": times, "limit": st.sampled_from(["1", "0", "100000", "100001", "x"]) | text,
                   "agent": text},
}


@given(st.sampled_from(sorted(QUERIES)), st.data())
@SETTINGS
def test_query_strings(http, path, data):
    client, watch, *_ = http
    params = data.draw(st.fixed_dictionaries({}, optional={**QUERIES[path], "sinse": text}))
    params = {k: v.replace("\x00", "") for k, v in params.items()}  # a URL cannot carry NUL
    before = watch.version()
    try:
        r = client.get(path, params=params)
    except UnicodeEncodeError:  # a lone surrogate cannot be put in a URL at all; nothing was sent
        return
    check(r, watch, before, [*QUERIES[path], "sinse"])
    assert watch.version() == before  # reading never writes


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/stats", {"since": "9999999d"}, "since"),  # these were 500s (OverflowError, ValueError)
        ("/stats", {"since": "²d"}, "since"),
        ("/stats", {"until": "9999-12-31"}, "until"),
        ("/decisions", {"since": "1e308d"}, "since"),
        ("/stats", {"sinse": "7d"}, "sinse"),
    ],
)
def test_known_bad_queries(http, path, params, needle):
    client, watch, *_ = http
    before = watch.version()
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    check(r, watch, before, [needle], count=False)
    assert "cannot read the time" in r.json()["detail"] or needle in r.json()["detail"]


def test_huge_token_counts_are_named_not_a_500(http):
    client, watch, _, svc, _ = http
    decision = svc.route_task("documentation", "settle me", budget=1.0)["decisionId"]
    for tokens in (10**29, 2**63, 10**12 + 1):  # 2**63 and more were a 500 (SQLite's OverflowError)
        before = watch.version()
        r = client.post(
            "/outcomes", json={"decisionId": decision, "outcome": "success", "inputTokens": tokens}
        )
        assert r.status_code == 422 and r.json()["detail"].startswith("inputTokens:"), r.text
        assert watch.version() == before
    r = client.post("/outcomes", json={"decisionId": decision, "outcome": "success", "inputTokens": 10**12})
    assert r.status_code == 200, r.text


def test_405_says_what_is_allowed(http):
    client, *_ = http
    r = client.put("/route", json={})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
