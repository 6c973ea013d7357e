"""The validated config's cache: read back from the cache, the settings are the ones the config gave,
nested records and all; a cache whose key does not match is never used."""

from __future__ import annotations

import marshal

from modelwise.core.settings import GatewaySettings, InferenceRule, Settings, Tier, Weights
from modelwise.loading import _cache_file, load_settings

RICH = """\
daily_budget = 7.5
timezone = "Europe/Paris"
store_descriptions = "hash"
theme = "ledger-green"
synchronous = "normal"
[weights]
capability = 0.5
cost = 0.3
[tiers.simple]
share = 0.15
floor_percentile = 10
[task_budgets]
debugging = 0.75
[tokens]
debugging = { context = 4000, output = 1200 }
[keymap]
"route.record" = "f9"
[server]
allowed_hosts = ["modelwise.internal"]
[providers.proxy]
base_url = "https://llm.example.com/v1"
api = "openai"
api_key_env = "PROXY_KEY"
models = ["gpt-5.2"]
upstream_ids = { "gpt-5.2" = "gpt-5.2-2026" }
[gateway]
attempts = 2
cooldown_seconds = 12.5
[[gateway.rules]]
name = "on-call"
task_type = "debugging"
keywords = ["pagerduty", "sev1"]
where = "user"
"""


def _load(path, cache):
    return load_settings(path, True, cache)


def test_settings_read_back_from_the_cache_are_the_configs(tmp_path, monkeypatch):
    cfg, cache = tmp_path / "config.toml", tmp_path / "cache"
    cfg.write_text(RICH)
    first, where = _load(cfg, cache)
    assert _cache_file(cache, cfg, "config").exists()

    def not_parsed(*_args):
        raise AssertionError("the config was validated again instead of read from the cache")

    monkeypatch.setattr("modelwise.files.config.settings_from_dict", not_parsed)
    again, where_again = _load(cfg, cache)
    assert again == first and where_again == where
    rule = InferenceRule("on-call", "debugging", None, ("pagerduty", "sev1"), "user")
    assert again.gateway.rules == (rule,) and again.gateway.cooldown_seconds == 12.5
    assert isinstance(again.weights, Weights) and isinstance(again.gateway, GatewaySettings)
    assert all(isinstance(t, Tier) for t in again.tiers)
    assert again.tier_for("debugging") == first.tier_for("debugging")
    assert again.tokens["debugging"] == (4000, 1200) and again.providers == first.providers
    # what it compares beside the fields: the derived index and the settings the config left alone
    assert again.tier_for("documentation").share == 0.15 and again.prior_strength == Settings().prior_strength


def test_a_cache_with_another_key_is_not_used(tmp_path):
    cfg, cache = tmp_path / "config.toml", tmp_path / "cache"
    cfg.write_text("daily_budget = 3.0\n")
    _load(cfg, cache)
    path = _cache_file(cache, cfg, "config")
    stamp, data, where = marshal.loads(path.read_bytes())
    data["daily_budget"] = 99.0
    # the same file stamp but another shape of the settings (an older version's fields)
    other = (stamp[0], stamp[1][:-1], *stamp[2:])
    path.write_bytes(marshal.dumps((other, data, where)))
    assert _load(cfg, cache)[0].daily_budget == 3.0
    path.write_bytes(marshal.dumps((stamp, data, where)))  # the key matches: the cache is what is read
    assert _load(cfg, cache)[0].daily_budget == 99.0
