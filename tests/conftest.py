"""Shared fixtures: every test runs with its own config, data and cache folders, never the user's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
BRIEF_REGISTRY = FIXTURES / "brief_registry.json"


# Under libfaketime (CI reruns the clock tests at hard instants), every process a test starts keeps the
# clock of the run instead of starting again at the faked instant, so all of them agree on the time.
if os.environ.get("FAKETIME"):
    os.environ.setdefault("FAKETIME_DONT_RESET", "1")


def in_zone(env: dict[str, str], tz: str) -> dict[str, str]:
    """`env` for a subprocess whose `TZ` is `tz`, on this process's clock. libfaketime reads an absolute
    start (`@2027-03-28 01:59:30`) in each process's own zone, so a child in another zone would start at
    another instant: give it the same instant written in its zone."""
    out = dict(env, TZ=tz)
    spec = os.environ.get("FAKETIME", "")
    if spec.startswith("@"):
        import time
        from zoneinfo import ZoneInfo

        start = time.mktime(time.strptime(spec[1:].strip(), "%Y-%m-%d %H:%M:%S"))
        out["FAKETIME"] = "@" + datetime.fromtimestamp(start, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    return out


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs at temporary folders and forget any MODELWISE_* variable and any provider key
    variable of the machine (a test sets the keys it needs)."""
    home = tmp_path_factory.mktemp("home")
    from modelwise.core.providers import KEY_VARIABLES

    for var in list(os.environ):
        if var.startswith("MODELWISE_") or var in KEY_VARIABLES:
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    return home


class FixedClock:
    """A controllable clock: `clock()` returns the current instant, `advance(seconds)` moves it."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def make_service(tmp_path: Path, clock: FixedClock) -> Callable[..., object]:
    """Build a TokenOptimizationService over a temporary ledger; `config` is TOML text."""
    from modelwise.service import TokenOptimizationService

    made = []

    def make(
        registry: Path | str = BRIEF_REGISTRY, config: str | None = None, ledger: Path | None = None, **kw
    ):
        cfg = tmp_path / f"config-{len(made)}.toml"
        cfg.write_text(config or "")
        svc = TokenOptimizationService(
            registry=registry,
            ledger=ledger or tmp_path / "ledger.sqlite3",
            config=cfg,
            clock=kw.pop("clock", clock),
            **kw,
        )
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60):
    """Run `python -m modelwise ARGS` as a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "modelwise", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: the brief's registry, a temporary ledger and an empty config."""
    cfg = tmp_path / "cli-config.toml"
    cfg.write_text("")
    return {
        "MODELWISE_REGISTRY": str(BRIEF_REGISTRY),
        "MODELWISE_LEDGER": str(tmp_path / "cli-ledger.sqlite3"),
        "MODELWISE_CONFIG": str(cfg),
    }


def assert_within_budget(rows: list[dict], budget: float, shares: dict[str, float] | None = None) -> None:
    """Decisions' reservations within the daily budget and each tier's share, per budget day: a run that
    crosses midnight spends on two days, each within its own."""
    for day in {r["day"] for r in rows}:
        on_day = [r for r in rows if r["day"] == day]
        assert sum(r["reserved"] for r in on_day) <= budget + 1e-9, day
        for tier, share in (shares or {}).items():
            spent = sum(r["reserved"] for r in on_day if r["tier"] == tier)
            assert spent <= budget * share + 1e-9, (day, tier, spent)


def load_json(text: str):
    return json.loads(text)


class LedgerWatch:
    """A ledger as another process sees it: `PRAGMA data_version` moves with every commit made by any
    other connection (a server's writer thread included); the row counts say what was written."""

    def __init__(self, path: Path | str):
        import sqlite3

        self.conn = sqlite3.connect(path)

    def version(self) -> tuple[int, int, int]:
        (v,) = self.conn.execute("PRAGMA data_version").fetchone()
        (d,) = self.conn.execute("SELECT count(*) FROM decisions").fetchone()
        (o,) = self.conn.execute("SELECT count(*) FROM outcomes").fetchone()
        return v, d, o

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server for the session (tests/pg_support.py); skips when it cannot be had."""
    from tests.pg_support import PgServer

    server = PgServer()
    why = server.start()
    if why is not None:
        server.stop()
        pytest.skip(f"no PostgreSQL server for the tests: {why}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    """The ledger backend a test runs against: a fresh SQLite file, or a fresh database on `pg_server`."""
    from tests.pg_support import Backend

    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    return Backend(request.param, tmp_path, server)
