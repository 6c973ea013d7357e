"""Secrets in task descriptions never reach the ledger, an export or a log line (the console's own
check lives with the console tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwise.core.redaction import redact
from tests.conftest import run_cli
from tests.secrets_corpus import SECRETS, description_with_all, secret_values


def test_corpus_has_at_least_25_formats():
    assert len({kind for kind, _ in SECRETS}) >= 25


@pytest.mark.parametrize(("kind", "text"), SECRETS, ids=[k for k, _ in SECRETS])
def test_each_format_is_redacted(kind, text):
    value = secret_values()[[k for k, _ in SECRETS].index(kind)]
    out = redact(f"please use {text} for the job")
    assert value not in out, out
    assert "[REDACTED:" in out
    assert out.startswith("please use ") and out.endswith(" for the job")


def test_ordinary_text_is_kept():
    text = "Refactor the parser in src/parse.py: split tokenize() into 3 steps, see issue #42 (v1.2.3)."
    assert redact(text) == text


def _ledger_bytes(path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def test_no_secret_reaches_ledger_export_or_output(cli_env, tmp_path):
    desc = description_with_all()
    outputs = []
    for args in (
        ("route", "debugging", desc, "--json"),
        ("route", "debugging", desc),
        ("route", "documentation", desc, "--agent", "ci"),
        ("explain", "debugging", desc),
        ("route", "debugging", desc, "--dry-run", "--json"),
        ("route", "nope", desc),  # a bad input's error line
    ):
        r = run_cli(*args, env=cli_env)
        outputs.append(r.stdout + r.stderr)
    d = json.loads(outputs[0])
    r = run_cli("record", d["decisionId"], "--success", "--json", env=cli_env)
    outputs.append(r.stdout + r.stderr)
    for fmt in ("json", "csv"):
        target = tmp_path / f"export.{fmt}"
        r = run_cli("export", fmt, "--output", str(target), env=cli_env)
        assert r.returncode == 0
        outputs.append(target.read_text())
        outputs.append(run_cli("export", fmt, env=cli_env).stdout)
    stored = _ledger_bytes(Path(cli_env["MODELWISE_LEDGER"]))
    exported = json.loads(outputs[-3] if outputs[-3].startswith("[") else outputs[-4])
    assert any("[REDACTED:" in (e["description"] or "") for e in exported)
    for value in secret_values():
        assert value.encode() not in stored, value
        for text in outputs:
            assert value not in text, (value, text[:200])
