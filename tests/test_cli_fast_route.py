"""The hand-read fast path of `modelwise route` (cli.fast_route_args) yields exactly argparse's namespace
for every command line it accepts, and leaves every other line to argparse."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwise import cli
from modelwise.core.errors import BadInput


def _argparse(argv: list[str]) -> str:
    try:
        return _shown(cli.build_parser().parse_args(argv))
    except (BadInput, SystemExit) as exc:
        return repr(exc)


def _shown(ns) -> str:
    """The namespace as comparable text (so a NaN value compares equal to itself)."""
    return repr(sorted(vars(ns).items()))


ACCEPTED = [
    ["route", "documentation", "Write the README"],
    ["route", "documentation", "Write the README", "--json"],
    ["route", "code_generation", "x", "0.25", "--json", "--dry-run"],
    ["route", "--json", "code_generation", "x", "0.25"],
    ["route", "--agent", "bot", "--request-id", "r1", "refactoring", "", "--all-candidates"],
    ["route", "a", "b", "--weights", "0.4,0.3,0.2,0.1", "--min-quality", "0.5", "--max-latency", "1e3"],
    ["route", "a", "b", "--capability", "vision", "--capability", "math", "--ledger", "l.db"],
    ["route", "a", "b", "--registry", "r.json", "--config", "c.toml", "--agent", "x", "--agent", "y"],
    ["route", "a", "b", "--min-quality", "nan", "--max-latency", " 12 "],
    ["route", "a", "b c d", "not-a-number"],
]

REJECTED = [
    [],
    ["stats"],
    ["--ledger", "l.db", "route", "a", "b"],  # a global option before the command
    ["route"],
    ["route", "a"],
    ["route", "a", "b", "c", "d"],
    ["route", "a", "b", "--json", "0.5"],  # argparse: unrecognized argument
    ["route", "a", "--json", "b"],  # positionals split by an option
    ["route", "a", "b", "--js"],  # argparse's abbreviations
    ["route", "a", "b", "--agent=x"],
    ["route", "a", "b", "--agent"],
    ["route", "a", "b", "--agent", "-x"],
    ["route", "a", "b", "--min-quality", "high"],
    ["route", "a", "b", "-h"],
    ["route", "a", "b", "--help"],
    ["route", "a", "b", "--"],
    ["route", "-", "b"],
    ["route", "a", "-0.5"],
]


@pytest.mark.parametrize("argv", ACCEPTED)
def test_fast_path_matches_argparse(argv):
    fast = cli.fast_route_args(argv)
    assert fast is not None
    assert _shown(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", REJECTED)
def test_anything_unusual_goes_to_argparse(argv):
    assert cli.fast_route_args(argv) is None


TOKENS = st.sampled_from(
    [
        "route",
        "stats",
        "a",
        "b",
        "",
        "0.5",
        "-1",
        "-",
        "--",
        "x y",
        "--json",
        "--dry-run",
        "--all-candidates",
        "--agent",
        "--request-id",
        "--weights",
        "--min-quality",
        "--max-latency",
        "--capability",
        "--registry",
        "--ledger",
        "--config",
        "--js",
        "--agent=z",
        "-h",
        "1e3",
        "nan",
        "abc",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=9).map(lambda t: ["route", *t]))
def test_any_line_the_fast_path_accepts_argparse_reads_the_same(argv):
    fast = cli.fast_route_args(argv)
    if fast is not None:
        assert _shown(fast) == _argparse(argv)


def test_a_plain_route_imports_no_argparse(cli_env):
    code = (
        "import sys, io, contextlib, modelwise.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = c.main(['route', 'documentation', 'x', '--dry-run', '--json'])\n"
        "print(rc, 'argparse' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **cli_env}
    )
    assert out.stdout.split() == ["0", "False"], out.stderr


def test_a_recorded_route_in_utc_loads_neither_openssl_nor_zoneinfo(cli_env, tmp_path):
    """A cold `route` that records, on a machine and ledger in UTC, takes the description's digest from
    the interpreter's own SHA-256 and the day from the stdlib's UTC: hashlib would load OpenSSL and
    zoneinfo its zone files' search path, ~2 ms each of a process an agent starts for every call."""
    code = (
        "import sys, io, contextlib, modelwise.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = c.main(['route', 'documentation', 'token sk-abc123def456ghi789jkl0', '--json'])\n"
        "print(rc, *sorted(m for m in ('hashlib', '_hashlib', 'zoneinfo') if m in sys.modules))"
    )
    (tmp_path / "cli-config.toml").write_text('store_descriptions = "hash"\n')
    env = {**os.environ, **cli_env, "TZ": "UTC"}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
            for _ in range(2)]  # the first validates the registry and config (pydantic) and caches them
    assert runs[0].stdout.split()[0] == "0", runs[0].stderr
    assert runs[1].stdout.split() == ["0"], runs[1].stderr
    with sqlite3.connect(cli_env["MODELWISE_LEDGER"]) as conn:
        stored = [r[0] for r in conn.execute("SELECT description FROM decisions")]
        zone = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
    digest = "sha256:" + hashlib.sha256(b"token sk-abc123def456ghi789jkl0").hexdigest()
    assert stored == [digest, digest] and zone == ("UTC",)
