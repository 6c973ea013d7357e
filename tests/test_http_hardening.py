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
