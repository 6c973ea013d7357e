"""Strings from the ledger, a registry or the command line never reach a terminal raw: every human
output of the CLI shows control characters (C0, DEL, C1, bidi overrides) as visible escapes, and JSON
output escapes them too while decoding to the same strings."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BRIEF_REGISTRY, run_cli

AGENT = "ag\x1b]0;pwned\x07\u009b2J\u202ex\u2066\x7fz"
DESCRIPTION = "desc \x1b[31mred\u202e\r\x08 tail"
# what a terminal acts on: C0 but newline and tab, DEL, C1, bidi embeddings, overrides and isolates
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def no_raw_controls(text: str) -> None:
    found = RAW.search(text)
    if found is not None:
        at = found.start()
        raise AssertionError(f"raw {found.group()!r} at {at}: {text[max(0, at - 40) : at + 40]!r}")


@pytest.fixture
def routed(cli_env):
    r = run_cli("route", "documentation", DESCRIPTION, "--agent", AGENT, env=cli_env)
    assert r.returncode == 0, r.stderr
    no_raw_controls(r.stdout + r.stderr)
    return cli_env


@pytest.mark.parametrize("args", [("stats", "--by", "agent"), ("audit",)], ids=lambda a: a[0])
def test_ledger_strings_are_escaped_on_output(routed, args):
    r = run_cli(*args, env=routed)
    assert r.returncode == 0, r.stderr
    no_raw_controls(r.stdout + r.stderr)
    assert "ag\\x1b]0;pwned\\x07\\x9b2J\\u202ex\\u2066\\x7fz" in r.stdout, r.stdout


@pytest.mark.parametrize(
    ("args", "agent_of"),
    [
        (("stats", "--by", "agent", "--json"), lambda d: next(iter(d["byAgent"]))),
        (("export", "json"), lambda d: d[0]["agent"]),
        (("route", "math", "again", "--agent", AGENT, "--json"), lambda d: d["agent"]),
    ],
    ids=["stats", "export", "route"],
)
def test_json_output_is_escaped_and_lossless(routed, args, agent_of):
    r = run_cli(*args, env=routed)
    assert r.returncode == 0, r.stderr
    no_raw_controls(r.stdout)  # DEL, C1 and bidi as \\uXXXX, like the encoder's C0 escapes
    assert agent_of(json.loads(r.stdout)) == AGENT  # the same string once decoded


def test_a_batch_prints_agents_escaped(cli_env, tmp_path):
    f = tmp_path / "tasks.json"
    f.write_text(json.dumps([{"type": "documentation", "agent": AGENT}, {"type": "math", "agent": "ok"}]))
    r = run_cli("batch", str(f), env=cli_env)
    assert r.returncode == 0, r.stderr
    no_raw_controls(r.stdout + r.stderr)
    assert "\\x1b]0;pwned" in r.stdout


def test_registry_strings_are_escaped(cli_env, tmp_path):
    reg = json.loads(BRIEF_REGISTRY.read_text())
    reg["models"][0]["name"] = "Evil\x1b]0;pwned\x07 \u202eModel"
    reg["models"][0]["provider"] = "prov\x9b2J"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(reg))
    env = dict(cli_env, MODELWISE_REGISTRY=str(path))
    for args in (("models",), ("route", "code_generation", "x"), ("route", "architecture", "x"),
                 ("explain", "code_generation", "x"), ("stats",)):
        r = run_cli(*args, env=env)
        assert r.returncode in (0, 3), (args, r.stderr)
        no_raw_controls(r.stdout + r.stderr)
    assert "prov\\x9b2J" in run_cli("models", env=env).stdout


def test_values_echoed_in_errors_are_escaped(cli_env):
    for args in (("route", "docu\x1b[2Jmentation", "x"), ("stats", "--since", "\x1b]0;t\x07"),
                 ("models", "--task", "\u202emath"), ("route", "math", "x", "--weights", "\x9b1,2,3,4"),
                 ("serve", "--host", "\x1b[2J", "--port", "0")):
        r = run_cli(*args, env=cli_env)
        assert r.returncode == 2, (args, r.stderr)
        no_raw_controls(r.stdout + r.stderr)


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the CLI with stdout on a pseudo-terminal; returns what the terminal received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", *args], stdout=slave, stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    return out.decode().replace("\r\n", "\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_export_csv_is_escaped_on_a_terminal_and_raw_into_a_pipe(routed, tmp_path):
    shown = _on_a_terminal(["export", "csv"], routed)
    no_raw_controls(shown)
    assert "ag\\x1b]0;pwned" in shown
    piped = run_cli("export", "csv", env=routed).stdout  # data: the stored string as it is
    assert AGENT in piped
    out = tmp_path / "export.csv"
    assert run_cli("export", "csv", "--output", str(out), env=routed).returncode == 0
    assert AGENT in Path(out).read_text(encoding="utf-8")
