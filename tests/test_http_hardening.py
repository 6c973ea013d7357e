"""The HTTP service against forged requests, through a real `modelwise serve` or uvicorn on loopback:
Host, Origin and Content-Type rules, large and chunked bodies, tokens kept out of the access log, and
file descriptors that stay bounded under repeated batches."""

from __future__ import annotations

import os

import httpx
import pytest

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
