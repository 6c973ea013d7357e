"""The shared pieces the console relies on: the config writer, spend over time, the live breakdown,
theme files and their cache, and closing a worker thread's ledger connection."""

from __future__ import annotations

import threading
import tomllib
from datetime import UTC, datetime

import pytest

from modelwise.core.errors import BadInput, ConfigError
from modelwise.core.settings import Weights
from modelwise.loading import load_settings, update_config
from modelwise.paths import shipped_themes_dir
from modelwise.tui.format import flip_words
from modelwise.tui.themes import load_themes
from modelwise.tui.widgets.validators import BudgetValidator

# -- update_config -----------------------------------------------------------------------------------


def test_update_config_keeps_other_keys_and_validates(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# mine\ndaily_budget = 3.5\ntimezone = "Europe/Paris"\n\n[weights]\ncost = 0.2\n\n'
        '[tiers.simple]\nshare = 0.15\n\n[keymap]\n"route.record" = "f9"\n'
    )
    update_config(path, {"weights": {"performance": 0.45}, "theme": "ledger-green"})
    data = tomllib.loads(path.read_text())
    assert data == {
        "daily_budget": 3.5,
        "timezone": "Europe/Paris",
        "theme": "ledger-green",
        "weights": {"cost": 0.2, "performance": 0.45},
        "tiers": {"simple": {"share": 0.15}},
        "keymap": {"route.record": "f9"},
    }
    settings, _ = load_settings(path, True)
    assert settings.weights == Weights(0.4, 0.45, 0.2, 0.2)
    assert settings.theme == "ledger-green" and settings.keymap == {"route.record": "f9"}


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        (
            {"weights": {"capability": 0, "performance": 0, "availability": 0, "cost": 0}},
            "must not all be zero",
        ),
        ({"weights": {"cost": -1}}, "weights.cost"),
        ({"daily_budget": float("nan")}, "daily_budget"),
        ({"no_such_key": 1}, "no_such_key"),
    ],
)
def test_update_config_refuses_an_invalid_result_and_writes_nothing(tmp_path, updates, message) -> None:
    path = tmp_path / "config.toml"
    path.write_text("daily_budget = 2.0\n")
    with pytest.raises(ConfigError, match=message):
        update_config(path, updates)
    assert path.read_text() == "daily_budget = 2.0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_update_config_leaves_a_broken_file_alone(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("daily_budget = = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML, so it was not changed"):
        update_config(path, {"theme": "x"})
    assert path.read_text() == "daily_budget = = 2\n"


def test_update_config_creates_a_missing_file(tmp_path) -> None:
    path = tmp_path / "new" / "config.toml"
    update_config(path, {"theme": "modelwise-light"})
    assert tomllib.loads(path.read_text()) == {"theme": "modelwise-light"}


COMMENTED = """\
# My modelwise config: keep these notes.
daily_budget = 3.5  # dollars a day
timezone = "Europe/Paris"

# Quality first, but not at any price.
[weights]
cost = 0.20   # written as I like it
performance = 0.3 # changes below

[tiers.simple]
share = 0.15  # the cheap tier

[keymap]
"route.record" = "f9"
"""


def test_update_config_edits_in_place_keeping_comments_and_layout(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    path.chmod(0o640)
    update_config(
        path,
        {"theme": "ledger-green", "weights": {"cost": 0.2, "performance": 0.45, "capability": 0.4}},
    )
    # Byte for byte: only the changed value is rewritten (cost is unchanged, so stays "0.20"); new keys
    # follow their table's last key.
    assert path.read_text() == COMMENTED.replace(
        'timezone = "Europe/Paris"\n', 'timezone = "Europe/Paris"\ntheme = "ledger-green"\n'
    ).replace("performance = 0.3 # changes below\n", "performance = 0.45 # changes below\ncapability = 0.4\n")
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]
    settings, _ = load_settings(path, True)
    assert settings.weights == Weights(0.4, 0.45, 0.2, 0.2) and settings.theme == "ledger-green"


def test_update_config_keeps_windows_line_endings_and_inline_tables(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"# notes\r\nweights = {cost = 0.1}\r\n\r\n[tiers.simple]\r\nshare = 0.15\r\n")
    update_config(path, {"theme": "x", "weights": {"performance": 0.5}})
    text = path.read_bytes()
    assert text.count(b"\r\n") == text.count(b"\n") and text.startswith(b"# notes\r\n")
    assert tomllib.loads(text.decode()) == {
        "theme": "x", "weights": {"cost": 0.1, "performance": 0.5}, "tiers": {"simple": {"share": 0.15}}
    }


# -- spend over time ---------------------------------------------------------------------------------


@pytest.mark.clock
def test_spend_over_time_buckets_and_running_total(make_service, clock) -> None:
    svc = make_service(config='timezone = "UTC"')
    clock.now = datetime(2026, 11, 26, 0, 10, tzinfo=UTC)
    a = svc.route_task("documentation", "first")
    clock.now = datetime(2026, 11, 26, 1, 20, tzinfo=UTC)
    b = svc.route_task("code_generation", "second")
    svc.route_task("code_generation", "third")
    svc.record_outcome(a["decisionId"], "success", cost=0.5)
    clock.now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    sp = svc.spend_over_time(30)
    assert sp["day"] == "2026-11-26" and sp["start"] == "2026-11-26T00:00:00+00:00"
    assert len(sp["spent"]) == 5  # 00:00, 00:30, 01:00, 01:30, 02:00
    assert sp["spent"][0] == pytest.approx(0.5)  # the settled actual, not the estimate
    assert sp["spent"][2] == pytest.approx(2 * b["estimatedCost"])
    assert sp["cumulative"][-1] == pytest.approx(0.5 + 2 * b["estimatedCost"])
    assert sp["cumulative"][-1] == pytest.approx(svc.budget_status()["spent"])
    with pytest.raises(BadInput):
        svc.spend_over_time(0)


def test_spend_over_time_of_a_past_day_covers_the_whole_day(make_service) -> None:
    svc = make_service(config='timezone = "UTC"')
    sp = svc.spend_over_time(60, day="2026-11-20")
    assert len(sp["cumulative"]) == 24 and sp["cumulative"][-1] == 0.0


@pytest.mark.clock
def test_spend_over_time_follows_the_configured_zone(make_service, clock) -> None:
    svc = make_service(config='timezone = "Asia/Tokyo"')  # UTC+9: 12:00 UTC is 21:00 there
    sp = svc.spend_over_time(60)
    assert sp["start"] == "2026-11-26T00:00:00+09:00" and len(sp["spent"]) == 22


# -- the live breakdown ------------------------------------------------------------------------------


def test_breakdown_matches_a_dry_run_and_touches_no_ledger(make_service) -> None:
    svc = make_service()
    b = svc.breakdown("documentation", "write docs", None, None, spent_by_tier={})
    assert not svc.ledger_exists()
    r = svc.route_task("documentation", "write docs", dry_run=True)
    assert b["winner"]["model"] == r["selectedModel"] == "gpt-4o-mini"
    assert b["winner"]["total"] == pytest.approx(0.9515)
    assert b["margin"] == pytest.approx(r["margin"])
    assert b["flip"] == r["flip"]
    assert [c["model"] for c in b["candidates"]] == [c["model"] for c in r["candidates"]]
    assert b["eligible"] == 3 and b["models"] == 3
    with pytest.raises(BadInput, match="budget"):
        svc.breakdown("documentation", "", "-3")
    with pytest.raises(BadInput):
        svc.breakdown("no_such_type", "")


def test_breakdown_budget_check_uses_the_given_spend(make_service) -> None:
    svc = make_service()
    spent = {"simple": 2.0}  # the simple tier's whole allocation
    b = svc.breakdown("documentation", "write docs", None, None, spent_by_tier=spent)
    assert b["status"] == "refused" and b["winner"] is None
    assert b["reason"].startswith("the simple tier's $2.00 allocation is exhausted")


def test_flip_words() -> None:
    b = {
        "flip": {"model": "claude-sonnet-4", "weight": "cost", "value": 0.04},
        "runnerUp": {"model": "claude-sonnet-4", "name": "Claude Sonnet 4"},
        "weights": {"cost": 0.1},
    }
    assert flip_words(b) == "Claude Sonnet 4 would win if cost weighed 0.04 instead of 0.1"
    assert flip_words({"flip": None}) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("0.5", True),
        ("$2", True),
        (" 1e-3 ", True),
        ("-3", False),
        ("abc", False),
        ("nan", False),
        ("inf", False),
        ("0", False),
    ],
)
def test_budget_validator(value: str, ok: bool) -> None:
    result = BudgetValidator().validate(value)
    assert result.is_valid is ok
    if not ok:
        assert result.failure_descriptions and "budget" in result.failure_descriptions[0]


# -- themes ------------------------------------------------------------------------------------------


def test_shipped_themes_load_cleanly() -> None:
    themes, problems = load_themes([shipped_themes_dir()])
    assert problems == []
    names = {t.name: t for t in themes}
    assert {"modelwise-dark", "modelwise-light", "ledger-green"} <= set(names)
    assert names["modelwise-dark"].dark and not names["modelwise-light"].dark


def test_theme_cache_revalidates_a_changed_file(tmp_path) -> None:
    folder, cache = tmp_path / "themes", tmp_path / "cache"
    folder.mkdir()
    theme = folder / "mine.toml"
    theme.write_text('name = "mine"\nprimary = "#112233"\n')
    themes, problems = load_themes([folder], cache)
    assert [t.name for t in themes] == ["mine"] and problems == []
    assert (cache / "themes.marshal").exists()
    themes, problems = load_themes([folder], cache)  # from the cache
    assert [t.primary for t in themes] == ["#112233"] and problems == []
    theme.write_text('name = "mine"\nprimary = "#11223"\nsurprise = 1\n')
    themes, problems = load_themes([folder], cache)
    assert themes == [] and len(problems) == 1 and "mine.toml" in problems[0]
    theme.write_text('name = "mine"\nprimary = "rgb(1, 2, 3)"\n')
    themes, problems = load_themes([folder], cache)
    assert [t.primary for t in themes] == ["rgb(1, 2, 3)"] and problems == []


def test_a_user_theme_overrides_a_shipped_one_by_name(tmp_path) -> None:
    (tmp_path / "dark.json").write_text('{"name": "modelwise-dark", "primary": "red"}')
    themes, _ = load_themes([shipped_themes_dir(), tmp_path])
    assert {t.name: t.primary for t in themes}["modelwise-dark"] == "red"


# -- ledger connections of worker threads ------------------------------------------------------------


def test_release_closes_only_the_calling_threads_connection(make_service) -> None:
    svc = make_service()
    svc.route_task("documentation", "x")
    ledger = svc.ledger
    main_conn = ledger._conn()

    def worker() -> None:
        ledger.count_decisions()
        ledger.release()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger._all == [main_conn]
    assert ledger.count_decisions() == 1
