"""Secrets in task descriptions never reach the ledger, an export or a log line (the console's own
check lives with the console tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwise.core.redaction import KINDS, find_secrets, redact, redact_identifier
from tests.conftest import run_cli
from tests.secrets_corpus import CORPUS, NEGATIVES, SECRETS, description_with_all, secret_values


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


# -- the wide corpus -----------------------------------------------------------------------------------


def test_the_wide_corpus_is_wide():
    assert len(CORPUS) >= 500
    assert len({c.kind for c in CORPUS}) >= 50
    assert len(NEGATIVES) >= 90


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}-{c.kind}" for i, c in enumerate(CORPUS)])
def test_every_payload_is_gone_and_named(case):
    out = redact(case.text)
    for payload in case.payloads:
        assert payload not in out, (payload, out)
    # the redactor names what it found: the expected kind is among the findings over the payloads
    kinds = set()
    for payload in case.payloads:
        at = case.text.find(payload)
        kinds |= {f.kind for f in find_secrets(case.text) if f.start < at + len(payload) and at < f.end}
    assert case.kind in kinds, (case.kind, kinds)


@pytest.mark.parametrize("text", NEGATIVES, ids=[f"neg-{i}" for i in range(len(NEGATIVES))])
def test_ordinary_prose_and_code_survive(text):
    assert redact(text) == text, find_secrets(text)


def test_findings_map_back_to_the_original_text():
    # detected on a normalised copy (zero-width characters removed, full-width letters folded), replaced
    # in the original: the text around a finding is byte for byte what was given
    token = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6k"
    text = "naïve café ① " + token[:9] + "\u200b\u00ad" + token[9:] + " ｅｎｄ"
    out = redact(text)
    assert out == "naïve café ① [REDACTED:github-token] ｅｎｄ"
    full = "".join(chr(ord(c) + 0xFEE0) for c in token)
    assert redact(f"«{full}»") == "«[REDACTED:github-token]»"


def test_identifiers_keep_a_stable_distinct_marker():
    one, other = SECRETS[6][1], SECRETS[8][1]  # two GitHub tokens
    a = redact_identifier("bot-" + one)
    assert a == redact_identifier("bot-" + one)
    assert a != redact_identifier("bot-" + other)
    assert a.startswith("bot-[REDACTED:github-token:") and one not in a
    assert redact_identifier("nightly-ci") == "nightly-ci"
    # a request id is random by design: no bare high-entropy guess on identifiers
    assert redact_identifier("req-Zx81Hq0PmA2kLw9TnB4cV7dR3sE6fG5y") == "req-Zx81Hq0PmA2kLw9TnB4cV7dR3sE6fG5y"


def test_no_corpus_payload_reaches_the_ledger(make_service):
    """Every case routed (in batches, through the service, into the real SQLite file) and the file's
    bytes, WAL included, hold none of the payloads, as the agent and the request id neither."""
    svc = make_service(config="daily_budget = 100000.0\n")
    chunk = 40
    for i in range(0, len(CORPUS), chunk):
        cases = CORPUS[i:i + chunk]
        svc.route_task("documentation", "\n----\n".join(c.text for c in cases))
    svc.route_task("documentation", "x", agent="ops@corp.example.com",
                   request_id="req-" + SECRETS[6][1])
    stored = _ledger_bytes(svc.paths.ledger)
    assert b"[REDACTED:" in stored
    leaked = [p for c in CORPUS for p in c.payloads if p and p.encode() in stored]
    assert not leaked, leaked[:5]
    assert b"ops@corp.example.com" not in stored and SECRETS[6][1].encode() not in stored


ADVERSARIAL = {
    "a.": "a." * 25_000,
    "a@": "a@" * 25_000,
    "colons": ":" * 50_000,
    "slashes": "/" * 50_000,
    "url-ish": "a://b:c" * 7_000,
    "assignments": "password=a" * 5_000,
    "flags": " -p" * 15_000 + " mysql login",
    "begin": "-----BEGIN RSA PRIVATE KEY-----\n" * 1_500,
    "digits": "4 1 1 1 " * 6_000,
    "base64": ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 1_500),
    "zero-width": "sk-\u200bA" * 10_000,
    "full-width": "\uff41\uff0e" * 25_000,
    "quotes": 'password="' + "password='" * 5_000,
    "dashes": "begin " + "-" * 50_000,
    "key-dashes": "-----BEGIN PRIVATE KEY-----" + "-" * 50_000,
    "eyJ": "eyJ" * 15_000,
    "hooks": "http://a/hooks/" * 3_000,
    "names": "-H 'X-Api-Key: " * 3_000,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_inputs_are_redacted_sensibly(name):
    """Inputs built to make backtracking patterns blow up (the bench times them; here the results): the
    text around any finding is unchanged and nothing is lost or duplicated."""
    text = ADVERSARIAL[name]
    found = find_secrets(text)
    out = redact(text)
    assert all(a.end <= b.start for a, b in zip(found, found[1:], strict=False))
    kept = sum(f.end - f.start for f in found)
    assert len(out) == len(text) - kept + sum(len(f"[REDACTED:{f.kind}]") for f in found)
    if name in ("a.", "colons", "slashes", "digits", "full-width"):
        assert out == text  # nothing there is a secret
    if name == "begin":
        assert out.startswith("[REDACTED:private-key]")


def test_every_kind_found_is_a_known_kind():
    found = {f.kind for c in CORPUS for f in find_secrets(c.text)}
    assert found <= set(KINDS), found - set(KINDS)
    assert {c.kind for c in CORPUS} <= set(KINDS)


_TOKENS = [c for c in CORPUS if c.kind in ("github-token", "openai-key", "stripe-key", "slack-token",
                                           "gitlab-token", "huggingface-token", "aws-access-key")
           and c.payloads == (c.text,) and c.text.isascii()]
_HIDDEN = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(_TOKENS),
    cuts=st.lists(st.tuples(st.integers(min_value=1, max_value=200), st.sampled_from(_HIDDEN)), max_size=4),
    wide=st.booleans(),
    prose=st.sampled_from(["use {} now", "{}", "token:{}.", "«{}»", "x {}\ny"]),
)
def test_hidden_and_wide_characters_do_not_hide_a_token(case, cuts, wide, prose):
    """Zero-width characters and soft hyphens anywhere in a token, full-width letters, or both: the
    token's visible characters are gone from the output, and the prose around it is unchanged."""
    token = case.text
    shown = "".join(chr(ord(c) + 0xFEE0) for c in token) if wide else token
    hidden = shown
    for at, ch in sorted(cuts, reverse=True):
        at = at % len(hidden)
        hidden = hidden[:at] + ch + hidden[at:]
    before, after = prose.split("{}")
    out = redact(before + hidden + after)
    visible = "".join(c for c in out if c not in _HIDDEN)
    assert shown not in visible and shown[4:] not in visible, out
    assert out.startswith(before) and out.endswith(after), out
