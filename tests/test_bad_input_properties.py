"""Bad input at scale (hypothesis): the registry loader, the config and the CLI's arguments either accept
an input or reject it with a typed one-line error; never a crash, a traceback or a write."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwise.cli import main
from modelwise.core.errors import ConfigError, RegistryError
from modelwise.files.config import settings_from_dict
from modelwise.files.registry import parse_registry
from tests.conftest import BRIEF_REGISTRY

json_scalars = (
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)

MODEL_KEYS = ["id", "name", "capabilities", "costPer1kTokens", "pricing", "performance", "availability",
              "provider", "contextWindow", "maxOutputTokens", "deprecationDate", "source"]

model_like = st.dictionaries(st.sampled_from(MODEL_KEYS), json_values, max_size=8) | json_values


@given(st.lists(model_like, max_size=5) | json_values)
@settings(max_examples=300, deadline=None)
def test_registry_loader_accepts_or_names_the_problem(doc):
    try:
        reg = parse_registry(doc, "fuzz.json")
    except RegistryError as exc:
        assert exc.problems and all(p.startswith("fuzz.json") for p in exc.problems)
        assert "\n" not in str(exc)
        return
    for m in reg.models:
        assert m.id and m.input_per_1m >= 0 and m.output_per_1m >= 0
        assert math.isfinite(m.input_per_1m) and math.isfinite(m.output_per_1m)
        assert m.quality is None or 0 <= m.quality <= 1
        assert 0 <= m.availability <= 1


@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": st.text(min_size=1, max_size=10), "costPer1kTokens": st.floats(-1, 20)},
            optional={
                "performance": st.fixed_dictionaries(
                    {}, optional={"quality": st.floats(-1, 2), "latency": st.floats(-10, 1e5)}
                )
            },
        ),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=200, deadline=None)
def test_near_valid_registries(doc):
    try:
        reg = parse_registry(doc, "near.json")
    except RegistryError as exc:
        assert "near.json: model #" in str(exc)
        return
    assert len(reg) == len(doc)
    assert all(m.input_per_1m == 0 or m.input_per_1m >= 0.001 for m in reg.models)  # per-token units caught


CONFIG_KEYS = ["daily_budget", "alert_threshold", "timezone", "cost_ceiling_per_1k", "cost_scale",
               "unrated_quality", "store_descriptions", "weights", "tiers", "task_budgets", "tokens",
               "learning", "theme", "keymap", "synchronous", "nonsense"]


@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values, max_size=5))
@settings(max_examples=300, deadline=None)
def test_config_accepts_or_names_the_key(data):
    try:
        s, _ = settings_from_dict(data, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ") and "\n" not in str(exc)
        return
    assert s.daily_budget >= 0 and sum(s.weights.as_tuple()) > 0
    assert sum(t.share for t in s.tiers) <= 1 + 1e-9


ARGS = st.lists(
    st.sampled_from(
        ["route", "explain", "record", "stats", "export", "models", "locate", "json", "csv", "documentation",
         "debugging", "poetry", "x", "-1", "nan", "0.5", "1e309", "--json", "--weights", "1,1,1,1", "0,0,0,0",
         "--min-quality", "--max-latency", "--dry-run", "--since", "7d", "--until", "--sort", "quality",
         "--limit", "-3", "--agent", "--request-id", "--success", "--cost", "dec_x", "--all", "--by", "agent",
         "--task", "--output", "--capability", "vision", ""]
    ),
    max_size=7,
)


@given(ARGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cli_never_crashes(tmp_path, args):
    ledger = tmp_path / "fuzz.sqlite3"
    os.environ["MODELWISE_LEDGER"] = str(ledger)
    os.environ["MODELWISE_REGISTRY"] = str(BRIEF_REGISTRY)
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    os.environ["MODELWISE_CONFIG"] = str(cfg)
    before = ledger.read_bytes() if ledger.exists() else None
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    except SystemExit as exc:  # --help and --version exit through argparse
        code = exc.code
    finally:
        for var in ("MODELWISE_LEDGER", "MODELWISE_REGISTRY", "MODELWISE_CONFIG"):
            os.environ.pop(var, None)
    assert code in (0, 2, 3), (args, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
        after = ledger.read_bytes() if ledger.exists() else None
        assert after == before or (before is None and after is None)
    if "--json" in args and code in (0, 3) and out.getvalue().strip():
        json.loads(out.getvalue())


def test_registry_file_problems_name_file_model_and_field(tmp_path):
    bad = tmp_path / "reg.json"
    bad.write_text(
        json.dumps(
            [{"id": "ok", "costPer1kTokens": 0.001}, {"id": "b", "costPer1kTokens": 0.001, "availability": 3}]
        )
    )
    from modelwise.loading import load_registry

    try:
        load_registry(Path(bad))
    except RegistryError as exc:
        assert str(exc) == f"{bad}: model #1 (id 'b'): availability: Input should be less than or equal to 1"
    else:
        raise AssertionError("loaded an invalid registry")
