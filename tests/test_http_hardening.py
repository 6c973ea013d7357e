"""The HTTP service against forged requests, through a real `modelwise serve` or uvicorn on loopback:
Host, Origin and Content-Type rules, large and chunked bodies, tokens kept out of the access log, and
file descriptors that stay bounded under repeated batches."""

from __future__ import annotations

import os

import httpx
import pytest

from modelwise.server import MAX_BODY, Error
from tests.live import serving
from tests.test_serve_cli import start_serve, stop

BATCH = [{"type": "documentation"}, {"type": "math"}, {"type": "debugging"}, {"type": "knowledge"}]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_batch_calls_leave_no_descriptor_behind(cli_env):
    proc, base = start_serve(cli_env)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            for _ in range(3):  # warm-up: the server's own thread pool and writer open what they keep
                assert c.post("/route/batch", json=BATCH).status_code == 200
            before = _fds(proc.pid)
            for _ in range(60):
                r = c.post("/route/batch", json=BATCH)
                assert r.status_code == 200, r.text
            after = _fds(proc.pid)
            assert c.get("/stats").json()["costStatistics"]["totalTasks"] == 63 * len(BATCH)
    finally:
        stop(proc)
    # each batch routes on short-lived worker threads: none may leave its SQLite connection open
    assert after <= before + 8, (before, after)


TOKEN = "tok-q7Hc2mZx9-in-the-url"


def test_a_token_in_the_query_string_is_neither_accepted_nor_logged(cli_env):
    proc, base = start_serve(dict(cli_env, MODELWISE_TOKEN=TOKEN), "--access-log")
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            # only the Authorization header authenticates: a token in the URL is a 401 like none at all
            for name in ("token", "access_token", "key", "api_key"):
                r = c.get(f"/stats?{name}={TOKEN}")
                assert r.status_code == 401, (name, r.text)
                assert TOKEN not in r.text
            good = {"Authorization": f"Bearer {TOKEN}"}
            # with the header too, the unknown parameter is a 422 naming it, never echoing its value
            r = c.get(f"/stats?since=7d&Access_Token={TOKEN}&sig={TOKEN}", headers=good)
            assert r.status_code == 422 and TOKEN not in r.text
            assert c.get("/stats?since=7d", headers=good).status_code == 200
    finally:
        out, err = stop(proc)
    logs = proc.first + out + err  # type: ignore[attr-defined]
    assert '"GET /stats?since=7d HTTP/1.1" 200' in logs  # the access log was on
    assert "/stats?token=*** " in logs and "access_token=***" in logs and "Access_Token=***&sig=***" in logs
    assert TOKEN not in logs  # neither from the query string nor from the Authorization header


# -- Host, Origin and Content-Type ------------------------------------------------------------------

JSON = {"content-type": "application/json"}
TASK = b'{"type": "documentation", "description": "forged?"}'


def refused(r: httpx.Response, status: int, *needles: str) -> str:
    """A one-line JSON error with `status`, naming what it refused."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    detail = Error.model_validate(r.json()).detail
    assert "\n" not in detail
    for needle in needles:
        assert needle in detail, detail
    return detail


def recorded(svc) -> int:
    return svc.ledger.count_decisions() if svc.ledger_exists() else 0


@pytest.fixture
def served(make_service):
    svc = make_service()
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield svc, c


def test_a_rebinding_host_is_refused_on_every_path(served):
    svc, c = served
    evil = {"Host": "rebind.attacker.example"}
    for path in ("/health", "/decisions", "/stats", "/openapi.json"):
        refused(c.get(path, headers=evil), 421, "'rebind.attacker.example'", "allowed_hosts")
    refused(c.post("/route", content=TASK, headers={**JSON, **evil}), 421, "rebind.attacker.example")
    refused(c.get("/health", headers={"Host": "127.0.0.1.attacker.example:80"}), 421)
    refused(c.get("/health", headers={"Host": "localhost.attacker.example"}), 421)
    refused(c.get("/health", headers={"Host": "localhost:x"}), 421)
    # checked before the body is read: an oversized body with a forged Host is a 421, not a 413
    refused(c.post("/route", content=b"x" * (2 * MAX_BODY), headers={**JSON, **evil}), 421)
    assert recorded(svc) == 0
    # loopback names, any port and any case, and the address the connection reached
    loopback = ("localhost", "localhost:1", "LocalHost:3000", "127.0.0.1", "127.0.0.1:9", "[::1]", "[::1]:80")
    for host in loopback:
        assert c.get("/health", headers={"Host": host}).status_code == 200, host
    assert c.post("/route", content=TASK, headers={**JSON, "Host": "localhost:3000"}).status_code == 200
    assert recorded(svc) == 1


def test_the_bound_address_and_configured_hosts_are_accepted(make_service):
    svc = make_service(config='[server]\nallowed_hosts = ["Box.LAN", "10.1.2.3"]\n')
    # 127.0.0.2 is loopback but not a loopback name: accepted as the address this server listens on
    with serving(svc, host="127.0.0.2") as base, httpx.Client(base_url=base, timeout=30) as c:
        port = base.rsplit(":", 1)[1]
        assert c.get("/health").status_code == 200  # Host: 127.0.0.2:<port>
        for host in ("box.lan", f"box.lan:{port}", "BOX.lan:8080", "10.1.2.3:1", "localhost"):
            assert c.get("/health", headers={"Host": host}).status_code == 200, host
        for host in ("evil.box.lan", "box.lan.evil", "127.0.0.3", "10.1.2.4"):
            refused(c.get("/decisions", headers={"Host": host}), 421, host)


def test_a_forged_host_is_refused_with_a_token_too(make_service):
    svc = make_service()
    with serving(svc, token="t0ken") as base, httpx.Client(base_url=base, timeout=30) as c:
        auth = {"Authorization": "Bearer t0ken"}
        refused(c.get("/decisions", headers={**auth, "Host": "rebind.attacker.example"}), 421)
        refused(c.get("/decisions", headers={**auth, "Origin": "https://evil.example"}), 403)
        refused(c.post("/route", content=TASK, headers={**auth, "content-type": "text/plain"}), 415)
        assert c.get("/decisions", headers=auth).status_code == 200
        assert recorded(svc) == 0


def test_the_reproduction_a_web_page_cannot_spend_the_budget(served):
    svc, c = served
    # curl 127.0.0.1:3000/route -H 'Origin: https://evil.example' -H 'Content-Type: text/plain' -d ...
    r = c.post(
        "/route",
        content=b'{"type":"architecture"}',
        headers={"Origin": "https://evil.example", "content-type": "text/plain"},
    )
    refused(r, 403, "'https://evil.example'", "allowed_origins")
    assert recorded(svc) == 0


def test_cross_origin_requests_are_refused(served):
    svc, c = served
    port = str(c.base_url).rstrip("/").rsplit(":", 1)[1]
    for origin in ("https://evil.example", "http://localhost:5173", f"http://127.0.0.1:{int(port) + 1}",
                   "null", f"http://localhost:{port}"):  # the last: not the Host this request named
        refused(c.post("/route", content=TASK, headers={**JSON, "Origin": origin}), 403, repr(origin))
        refused(c.get("/decisions", headers={"Origin": origin}), 403)
        refused(c.get("/health", headers={"Origin": origin}), 403)
    refused(c.options("/route", headers={"Origin": "https://evil.example",
                                         "Access-Control-Request-Method": "POST"}), 403)
    assert recorded(svc) == 0
    # the server's own pages (/docs) send Origin: http://<the Host they reached>
    same = {"Origin": f"http://127.0.0.1:{port}"}
    r = c.post("/route", content=TASK, headers={**JSON, **same})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert recorded(svc) == 1


def test_an_allowed_origin_gets_cors_answers(make_service):
    svc = make_service(config='[server]\nallowed_origins = ["http://LOCALHOST:5173", "https://app.example:443"]\n')
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as c:
        pre = c.options(
            "/route",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "content-type" in pre.headers["access-control-allow-headers"]
        r = c.post("/route", content=TASK, headers={**JSON, "Origin": "http://localhost:5173"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://localhost:5173"
        r = c.get("/stats", headers={"Origin": "https://app.example"})  # the default port is not written
        assert r.status_code == 200 and r.headers["vary"] == "Origin"
        refused(c.get("/stats", headers={"Origin": "http://localhost:5174"}), 403)
        two = [("Origin", "http://localhost:5173"), ("Origin", "https://x.example")]
        refused(c.get("/stats", headers=two), 403, "more than one Origin")
        assert recorded(svc) == 1


def test_only_json_content_types_record(served):
    svc, c = served
    accepted = ["application/json", "application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"']
    for ctype in accepted:
        assert c.post("/route", content=TASK, headers={"content-type": ctype}).status_code == 200, ctype
    # the same body as a type a page may send without asking the server first records nothing
    refused(c.post("/route", content=TASK, headers={"content-type": "text/plain"}), 415, "'text/plain'")
    # no body at all needs no type (an empty body is then the usual invalid-JSON 422)
    assert c.post("/route", content=b"").status_code == 422
    assert recorded(svc) == len(accepted)


@pytest.mark.parametrize(
    "ctype",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonp",
        "application/json-seq",
        None,
    ],
)
@pytest.mark.parametrize("path", ["/route", "/route/batch", "/outcomes"])
def test_other_content_types_are_refused_before_the_body_is_read(served, ctype, path):
    svc, c = served
    headers = {} if ctype is None else {"content-type": ctype}
    body = b"[" + TASK + b"]" if path == "/route/batch" else TASK
    r = c.post(path, content=body, headers=headers)
    refused(r, 415, "application/json", "none" if ctype is None else repr(ctype))
    # a body too big is still answered 415 at once (nothing is read), chunked or not
    refused(c.post(path, content=b"x" * (2 * MAX_BODY), headers=headers), 415)
    r = c.post(path, content=iter([b"x" * 65536] * 40), headers=headers)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    refused(r, 415)
    assert recorded(svc) == 0


def _padded(size: int) -> bytes:
    """A valid task of exactly `size` bytes (JSON whitespace after the object)."""
    body = b'{"type": "documentation", "description": "' + b"z" * 990_000 + b'"}'
    return body + b" " * (size - len(body))


def test_bodies_at_the_limit_by_length_and_chunked(served):
    svc, c = served
    assert c.post("/route", content=_padded(MAX_BODY), headers=JSON).status_code == 200
    refused(c.post("/route", content=_padded(MAX_BODY + 1), headers=JSON), 413, "larger than")

    def chunks(body: bytes):  # no Content-Length: the size is counted as it streams
        for i in range(0, len(body), 50_000):
            yield body[i : i + 50_000]

    r = c.post("/route", content=chunks(_padded(MAX_BODY)), headers=JSON)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert r.status_code == 200, r.text
    refused(c.post("/route", content=chunks(_padded(MAX_BODY + 1)), headers=JSON), 413)
    assert recorded(svc) == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/route/batch", b"[" * 100_000 + b"]" * 100_000),
        ("/route/batch", b'[{"type": "math", "constraints": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]"),
        ("/outcomes", b'{"decisionId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("/route", b'{"type": "math", "weights": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"),
    ],
    ids=["batch-array", "batch-task", "outcome", "route"],
)
def test_deeply_nested_bodies_are_invalid_input(served, path, body):
    svc, c = served
    refused(c.post(path, content=body, headers=JSON), 422, "not valid JSON")
    assert recorded(svc) == 0


def test_the_guard_counts_the_requests_in_flight_however_they_end():
    """`Guard.alone()` (group commit's sign that the loop has nothing else to serve) is true only while
    at most one request is being answered, and the count comes back down after answers, refusals and
    failures alike."""
    import asyncio

    from modelwise.server import Guard

    seen: list[tuple[int, bool]] = []
    gate = asyncio.Event()

    async def app(scope, receive, send):
        seen.append((guard.in_flight, guard.alone()))
        if scope["path"] == "/wait":
            await gate.wait()
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = Guard(app, None)

    def request(path, host=b"127.0.0.1:8765"):
        scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"host", host)],
                 "server": ("127.0.0.1", 8765)}

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            pass

        return guard(scope, receive, send)

    async def main():
        waiting = asyncio.ensure_future(request("/wait"))
        await asyncio.sleep(0)
        await request("/now")  # while the first is still in flight
        gate.set()
        await waiting
        await request("/alone")
        await request("/x", host=b"evil.example")  # refused by the Guard (421)
        with pytest.raises(RuntimeError):
            await request("/boom")
        return guard.in_flight

    assert asyncio.run(main()) == 0
    assert seen == [(1, True), (2, False), (1, True), (1, True)]
    assert guard.alone()
