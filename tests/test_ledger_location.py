"""Where the ledger is: a postgresql:// URL is a database, never a file path, and its password never shows."""

from __future__ import annotations

import json
import os

from modelwise.ledger import is_url
from modelwise.ledger_url import LedgerUrl
from modelwise.paths import resolve
from tests.conftest import run_cli


def test_the_password_is_redacted_wherever_the_url_is_shown():
    u = LedgerUrl("postgresql://alice:Zq%40x:Yv@db.example:5433/team?sslmode=require&password=Wk9")
    for text in (str(u), repr(u), f"{u}", json.dumps({"ledger": str(u)})):
        assert "Zq" not in text and "Yv" not in text and "Wk9" not in text
    assert str(u) == "postgresql://alice:***@db.example:5433/team?sslmode=require&password=***"
    assert str(LedgerUrl("postgres://bob@db/x")) == "postgres://bob@db/x"
    assert LedgerUrl("postgresql://bob@db/x").database() == "x"
    assert is_url("postgresql://h/db") and is_url("POSTGRES://h/db") and is_url(u)
    assert not is_url("/var/lib/ledger.sqlite3") and not is_url("postgresql.sqlite3")


def test_a_url_from_a_flag_a_variable_or_the_config_is_not_a_path(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    url = "postgresql://alice:secret@db/team"
    for flag, env, conf in ((url, None, {}), (None, url, {}), (None, None, {"ledger": url})):
        if env:
            monkeypatch.setenv("MODELWISE_LEDGER", env)
        else:
            monkeypatch.delenv("MODELWISE_LEDGER", raising=False)
        paths = resolve(cfg, True, None, flag, {**conf, "password_env": "PW"})
        assert isinstance(paths.ledger, LedgerUrl) and paths.ledger.url == url
        assert paths.ledger.password_env == "PW"
        # not joined to the config's folder, and without its password
        assert paths.to_json()["ledger"] == "postgresql://alice:***@db/team"


def test_locate_never_creates_a_postgresql_folder_nor_prints_the_password(tmp_path, cli_env):
    env = dict(cli_env, MODELWISE_LEDGER="postgresql://alice:hunter2@127.0.0.1:1/team")
    r = run_cli("locate", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert "hunter2" not in r.stdout + r.stderr
    assert json.loads(r.stdout)["ledger"] == "postgresql://alice:***@127.0.0.1:1/team"
    assert not any(name.startswith("postgres") for name in os.listdir(os.getcwd()))
    cfg = tmp_path / "bad.toml"
    cfg.write_text('password_env = "not a name"\n')
    r = run_cli("locate", env=dict(env, MODELWISE_CONFIG=str(cfg)))
    assert r.returncode == 2 and "password_env" in r.stderr
