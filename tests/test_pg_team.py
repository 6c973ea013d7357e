"""One budget for a team: CLI processes and two `modelwise serve` processes (standing in for machines)
route at once through one PostgreSQL ledger; one server is SIGKILLed mid-load. Plus what a user of a
PostgreSQL URL sees: no password anywhere, one-line errors, live updates across processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BRIEF_REGISTRY, run_cli
from tests.ledger_checks import admissions_over_budget
from tests.pg_support import PASSWORD, Backend
from tests.test_crash import start_server

SHARES = {"simple": 0.2, "medium": 0.5, "complex": 0.3}
TYPES = ["documentation", "debugging", "architecture", "refactoring", "boilerplate", "design"]


@pytest.fixture
def pg(pg_server, tmp_path) -> Backend:
    return Backend("postgresql", tmp_path, pg_server)


def _env(tmp_path: Path, url: str, config: str = "daily_budget = 0.6\n") -> dict[str, str]:
    cfg = tmp_path / "team.toml"
    cfg.write_text(config)
    return {**os.environ, "MODELWISE_LEDGER": url, "MODELWISE_CONFIG": str(cfg),
            "MODELWISE_REGISTRY": str(BRIEF_REGISTRY), "MODELWISE_CACHE": str(tmp_path / "cache")}


def test_eight_cli_and_two_servers_share_one_budget(pg, tmp_path):
    env = _env(tmp_path, pg.location)
    servers = [start_server(env) for _ in range(2)]
    acked: list[dict] = []  # every answer a client got: {id, status, request, via}
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def cli_loop(w: int) -> None:
        for i in range(5):
            r = subprocess.run(
                [sys.executable, "-m", "modelwise", "route", TYPES[(w + i) % len(TYPES)], f"cli {w}.{i}",
                 "--json", "--agent", f"cli-{w}"],
                capture_output=True, text=True, env=env, timeout=120,
            )
            if r.returncode not in (0, 3):
                errors.append(r.stderr)
                return
            a = json.loads(r.stdout)
            with lock:
                acked.append({"id": a["decisionId"], "status": a["status"], "request": None, "via": "cli"})

    def http_loop(port: int, c: int) -> None:
        # both servers get the same request ids: whichever admits one first, the other replays it
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for i in range(60):
                if stop.is_set() and port == servers[0][1]:
                    return
                body = {"type": TYPES[i % len(TYPES)], "description": f"http {i}", "agent": f"http-{c}",
                        "requestId": f"team-{c % 2}-{i}"}
                try:
                    r = client.post("/route", json=body)
                except httpx.TransportError:
                    return  # its server was killed: what it answered before stays acknowledged
                if r.status_code not in (200, 402):
                    errors.append(f"{r.status_code} {r.text}")
                    return
                a = r.json()
                with lock:
                    acked.append({"id": a["decisionId"], "status": a["status"], "request": body["requestId"],
                                  "via": f"http:{port}"})

    threads = [threading.Thread(target=cli_loop, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=http_loop, args=(servers[s][1], 2 * s + c))
                for s in range(2) for c in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill the first server once it has answered some
        with lock:
            if sum(a["via"] == f"http:{servers[0][1]}" for a in acked) >= 15:
                break
        time.sleep(0.01)
    servers[0][0].send_signal(signal.SIGKILL)
    servers[0][0].wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    killed_port = servers[0][1]
    assert any(a["via"] == f"http:{killed_port}" for a in acked)
    assert sum(a["via"] == "cli" for a in acked) == 40

    with pg.connect() as conn:
        rows = conn.execute("SELECT id, day, tier, reserved, status, request_id FROM decisions").fetchall()
        # every acknowledged decision is there, once; one decision per request id across both servers
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids))
        assert {a["id"] for a in acked} <= set(ids), "an acknowledged decision is missing"
        by_request: dict[str, set[str]] = {}
        for a in acked:
            if a["request"]:
                by_request.setdefault(a["request"], set()).add(a["id"])
        assert all(len(v) == 1 for v in by_request.values()), "one request id, two decisions"
        request_ids = [r[5] for r in rows if r[5] is not None]
        assert len(request_ids) == len(set(request_ids))
        # never over the day or a tier, at any admission; and the budget was really contended
        over = admissions_over_budget(conn, 0.6, SHARES)
        assert not over, f"admitted over budget: {over[:3]}"
        assert any(r[4] == "refused" for r in rows) and any(r[4] != "refused" for r in rows)
    # both surfaces agree on the stats: the CLI and the surviving server
    cli_stats = json.loads(run_cli("stats", "--all", "--json", env=env).stdout)
    with httpx.Client(base_url=f"http://127.0.0.1:{servers[1][1]}", timeout=30) as client:
        http_stats = client.get("/stats", params={"all": "true"}).json()
    servers[1][0].terminate()
    servers[1][0].wait(timeout=30)
    print(f"{len(rows)} decisions ({sum(r[4] == 'refused' for r in rows)} refused), {len(acked)} answers, "
          f"{sum(a['via'] == f'http:{killed_port}' for a in acked)} from the killed server; {cli_stats}")
    assert cli_stats["costStatistics"] == http_stats["costStatistics"]
    assert cli_stats["costStatistics"]["totalTasks"] == sum(r[4] != "refused" for r in rows)


def test_a_url_password_is_never_shown(pg, tmp_path):
    env = _env(tmp_path, pg.location)
    out = run_cli("locate", "--json", env=env)
    assert out.returncode == 0 and PASSWORD not in out.stdout + out.stderr
    assert json.loads(out.stdout)["ledger"].startswith("postgresql://modelwise:***@127.0.0.1:")
    assert not Path("postgresql:").exists() and not (tmp_path / "postgresql:").exists()
    r = run_cli("route", "documentation", "write docs", "--json", env=env)
    assert r.returncode == 0, r.stderr
    for args in (("stats", "--json"), ("locate",), ("serve", "--help")):
        res = run_cli(*args, env=env)
        assert PASSWORD not in res.stdout + res.stderr, args
    serve = subprocess.Popen([sys.executable, "-m", "modelwise", "serve", "--port", "0"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = serve.stderr.readline()  # "modelwise: serving on ... (..., ledger URL); ctrl+c stops"
        assert "serving on" in first and "***@127.0.0.1" in first and PASSWORD not in first, first
    finally:
        serve.terminate()
        rest = serve.communicate(timeout=30)[1]
    assert PASSWORD not in rest
    # the config's ledger key with the password in an environment variable named by password_env
    url = pg.location.replace(f":{PASSWORD}@", "@")
    cfg = tmp_path / "pw.toml"
    cfg.write_text(f'ledger = "{url}"\npassword_env = "TEAM_LEDGER_PW"\n')
    env2 = {k: v for k, v in env.items() if k != "MODELWISE_LEDGER"}
    env2.update(MODELWISE_CONFIG=str(cfg), TEAM_LEDGER_PW=PASSWORD)
    res = run_cli("stats", "--json", env=env2)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["costStatistics"]["totalTasks"] == 1
    # PGPASSWORD, read by libpq itself
    res = run_cli("stats", "--json", "--ledger", url, env={**env, "PGPASSWORD": PASSWORD})
    assert res.returncode == 0, res.stderr


def _one_line(res: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    err = res.stderr.strip()
    assert res.returncode == code, (res.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert PASSWORD not in err and "wrong-pw" not in err
    for n in needles:
        assert n in err, err
    return err


def test_one_line_errors_for_a_bad_server_login_database_or_schema(pg, pg_server, tmp_path):
    env = _env(tmp_path, pg.location)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cases = [
        (f"postgresql://modelwise:{PASSWORD}@127.0.0.1:{closed}/x", 1, "cannot reach"),
        (pg.location.replace(PASSWORD, "wrong-pw"), 2, "refused the login"),
        (pg_server.url("no_such_db"), 2, "does not exist"),
    ]
    for url, code, needle in cases:
        _one_line(run_cli("route", "documentation", "x", "--ledger", url, env=env), code, needle)
    assert run_cli("route", "documentation", "x", env=env).returncode == 0
    with pg.connect() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 'now')")
    _one_line(run_cli("stats", "--json", env=env), 2, "schema 99", "upgrade modelwise")


def test_appends_only(pg, tmp_path):
    env = _env(tmp_path, pg.location)
    did = json.loads(run_cli("route", "documentation", "x", "--json", env=env).stdout)["decisionId"]
    assert run_cli("record", did, "--success", env=env).returncode == 0
    import psycopg

    with pg.connect() as conn:
        for sql in ("UPDATE decisions SET reserved = 0", "DELETE FROM outcomes", "TRUNCATE decisions CASCADE",
                    "UPDATE outcomes SET actual_cost = 0"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
                conn.execute(sql)


def test_another_process_write_is_seen_within_a_second(pg, tmp_path):
    """What the console's watcher polls (data_version) moves when another process commits: LISTEN/NOTIFY."""
    from modelwise.ledger import open_ledger

    env = _env(tmp_path, pg.location)
    assert run_cli("route", "documentation", "first", env=env).returncode == 0
    ledger = open_ledger(pg.location)
    try:
        before = ledger.data_version()
        assert ledger.data_version() == before  # nothing written: no change
        assert run_cli("route", "documentation", "second", env=env).returncode == 0
        deadline = time.monotonic() + 1.0
        while ledger.data_version() == before:
            assert time.monotonic() < deadline, "the write was not seen within a second"
            time.sleep(0.05)
        assert ledger._listener is not None  # seen through a notification, not by polling
        assert len(list(ledger.decisions())) == 2
    finally:
        ledger.close()


def test_a_dropped_connection_costs_no_request(pg, tmp_path):
    """The database server drops every connection (a restart, a failover): a running `serve` answers the
    next requests on new connections instead of failing each of its threads once."""
    env = _env(tmp_path, pg.location, "daily_budget = 100\n")
    server, port = start_server(env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for i in range(8):
                assert client.post("/route", json={"type": "documentation", "description": f"a {i}"}
                                   ).status_code == 200
            assert client.get("/stats").status_code == 200
            database = pg.location.rsplit("/", 1)[1]
            with pg.server.admin() as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                ).fetchone()[0]
            assert killed >= 1
            for i in range(8):
                r = client.post("/route", json={"type": "documentation", "description": f"b {i}"})
                assert r.status_code == 200, r.text
                assert client.get("/stats").status_code == 200
            assert client.get("/stats").json()["costStatistics"]["totalTasks"] == 16
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.clock
def test_the_budget_day_is_the_zone_the_database_recorded(pg, tmp_path):
    """The first creator records its zone; every other machine keeps its budget days in it, whatever its
    own TZ, and a config naming another zone is refused."""
    from tests.conftest import in_zone

    first = _env(tmp_path, pg.location, 'timezone = "Asia/Kolkata"\n')
    assert run_cli("route", "documentation", "first", env=first).returncode == 0
    other_cfg = tmp_path / "other.toml"
    other_cfg.write_text("")
    other = in_zone(dict(first, MODELWISE_CONFIG=str(other_cfg)), "America/New_York")
    s = json.loads(run_cli("stats", "--json", env=other).stdout)
    assert s["period"]["timezone"] == "Asia/Kolkata" and s["costStatistics"]["totalTasks"] == 1
    other_cfg.write_text('timezone = "Europe/Paris"\n')
    r = run_cli("route", "documentation", "x", env=other)
    assert r.returncode == 2 and "Asia/Kolkata" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with pg.connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()[0] == "Asia/Kolkata"
        days = {d for (d,) in conn.execute("SELECT day FROM decisions")}
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with pg.connect() as conn:
        ts = conn.execute("SELECT ts_unix FROM decisions").fetchone()[0]
    assert days == {datetime.fromtimestamp(ts, ZoneInfo("Asia/Kolkata")).date().isoformat()}


def test_closing_while_another_thread_reads_never_crashes(pg, tmp_path):
    """The console closes the service as it exits while a worker thread may still be reading: the ledger
    closes that thread's connection only once its statement is done (freeing it mid-call crashed libpq,
    a segmentation fault seen in CI), and the thread's next statement fails cleanly."""
    import threading

    from modelwise.ledger import open_ledger

    ledger = open_ledger(pg.location)
    started, outcome = threading.Event(), []

    def reader() -> None:
        conn = ledger._conn()
        started.set()
        conn.execute("SELECT pg_sleep(0.4)").fetchall()
        outcome.append("first done")
        try:
            ledger.decisions(limit=1).__next__()
        except StopIteration:
            outcome.append("read again")  # a fresh connection: the ledger was closed, not broken
        except Exception as exc:  # noqa: BLE001 - a clean error is what the test wants
            outcome.append(type(exc).__name__)

    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    time.sleep(0.1)  # the reader is inside pg_sleep now
    ledger.close()
    t.join(10)
    assert outcome and outcome[0] == "first done", outcome


def test_an_unacknowledged_batch_commits_without_waiting_for_the_wal_flush(pg):
    """On PostgreSQL a batch of only unacknowledged writes (a gateway's settlements) commits with
    synchronous_commit off; any other batch with the server's setting (on, as a real server runs; the
    test server runs with it off, so this connection turns it on for its session first)."""
    from modelwise.ledger import open_ledger

    ledger = open_ledger(pg.location)
    try:
        ledger._conn().raw.execute("SET synchronous_commit TO on")
        ledger._conn().raw.commit()

        def setting() -> str:
            return ledger._conn().raw.execute("SHOW synchronous_commit").fetchone()[0]

        assert ledger.run_batch([setting], durable=False) == ["off"]
        assert ledger.run_batch([setting]) == ["on"]  # SET LOCAL lasted only its transaction
    finally:
        ledger.close()
