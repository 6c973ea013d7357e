"""Tests of the registry importer against the vendored snapshots in data/ and the shipped registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from modelwise.files.registry import parse_registry
from modelwise.importers.registry_build import (
    CATEGORY_TASKS,
    Sources,
    build_registry,
    dump_registry,
    elo_to_quality,
    validate_registry_file,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHIPPED = ROOT / "model_registry.json"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built():
    return build_registry(Sources.from_dir(DATA))


@pytest.fixture(scope="module")
def prices() -> dict:
    path = next((DATA / "prices").glob("litellm-*model_prices*.json"))
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def arena() -> dict:
    path = next((DATA / "scores").glob("lmarena_*.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def _by_id(doc: dict) -> dict[str, dict]:
    return {m["id"]: m for m in doc["models"]}


def test_shipped_counts_and_schema(shipped):
    models = shipped["models"]
    assert len(models) >= 500
    priced = [m for m in models if not m.get("priceUnknown")]
    assert all(isinstance(m["pricing"]["inputPer1M"], float) for m in priced)
    assert all(isinstance(m["pricing"]["outputPer1M"], float) for m in priced)
    assert all(m["pricing"] is None for m in models if m.get("priceUnknown"))
    coding = [m for m in models if "code_generation" in m["performance"]["qualityByTask"]]
    assert len(coding) >= 200  # one row per underlying model (1,028 listings before schema 2)
    registry = parse_registry(shipped, str(SHIPPED))
    assert len(registry) == len(models)
    assert shipped["schemaVersion"] == 2
    assert all(m["offers"] for m in models)
    assert [m["id"] for m in models] == sorted(m["id"] for m in models)


def test_rebuild_is_byte_identical(built, tmp_path):
    out = tmp_path / "model_registry.json"
    out.write_text(dump_registry(built.doc), encoding="utf-8")
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_generated_at_comes_from_inputs(shipped, arena):
    assert shipped["generatedAt"] == arena["fetched_at"]
    files = {f["file"] for f in shipped["generatedFrom"]}
    assert any(f.startswith("litellm-") for f in files) and any(f.startswith("lmarena_") for f in files)


def _price_fields(pricing: dict, entry: dict) -> list[tuple[float, float, str]]:
    fields = [("inputPer1M", "input_cost_per_token"), ("outputPer1M", "output_cost_per_token"),
              ("cacheWritePer1M", "cache_creation_input_token_cost"),
              ("reasoningPer1M", "output_cost_per_reasoning_token")]
    out = [(pricing[ours], entry[theirs] * 1e6, ours) for ours, theirs in fields if ours in pricing]
    if "cacheReadPer1M" in pricing:
        theirs = entry.get("cache_read_input_token_cost", entry.get("input_cost_per_token_cache_hit"))
        out.append((pricing["cacheReadPer1M"], theirs * 1e6, "cacheReadPer1M"))
    for tier in pricing.get("tiers", []):
        k = tier["aboveTokens"] // 1000
        if f"input_cost_per_token_above_{k}k_tokens" in entry:
            out.append((tier["inputPer1M"], entry[f"input_cost_per_token_above_{k}k_tokens"] * 1e6, f"{k}k"))
    return out


def test_prices_equal_litellm_entries(shipped, prices):
    """The model's and every offer's prices (base, cache, reasoning, tiers) are the price map's."""
    checked = 0
    for m in shipped["models"]:
        for where in [m, *m["offers"]]:
            key = where["source"]["key"] if where is not m else m["source"]["prices"]["key"]
            if where.get("priceUnknown"):
                assert where["pricing"] is None
                continue
            for ours, expected, field in _price_fields(where["pricing"], prices[key]):
                assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12), (m["id"], key, field)
                checked += 1
    assert checked > 5000


def test_real_prices_of_known_models(shipped):
    by_id = _by_id(shipped)
    # `gpt-4o` is the alias of the snapshot it names (models.dev: same prices, limits and date)
    mini, full = by_id["gpt-4o-mini-2024-07-18"], by_id["gpt-4o-2024-08-06"]
    assert "gpt-4o" in full["aliases"] and "gpt-4o" not in by_id and "gpt-4o-mini" in mini["aliases"]
    assert (mini["pricing"]["inputPer1M"], mini["pricing"]["outputPer1M"]) == (0.15, 0.60)
    assert (full["pricing"]["inputPer1M"], full["pricing"]["outputPer1M"]) == (2.50, 10.00)
    assert mini["provider"] == full["provider"] == "openai"
    assert mini["source"]["prices"]["key"] == "gpt-4o-mini-2024-07-18"
    assert mini["offers"][0]["provider"] == "openai" and {o["provider"] for o in mini["offers"]} >= {"azure"}


def test_latest_alias_resolves_to_the_snapshot_it_names(shipped):
    by_id = _by_id(shipped)
    large = by_id["mistral-large-2512"]
    assert "mistral-large-latest" in large["aliases"] and large["name"] == "Mistral Large 3"
    assert (large["pricing"]["inputPer1M"], large["pricing"]["outputPer1M"]) == (0.5, 1.5)
    assert "2411" not in json.dumps(large["source"].get("quality", {}))  # not rated as Large 2.1 (2411)
    sonnet = by_id["claude-sonnet-4-5-20250929"]
    assert "claude-sonnet-4-5" in sonnet["aliases"] and sonnet["deprecationDate"] == "2026-11-30"


def test_long_context_tiers_and_cache_prices_kept(shipped):
    sonnet = _by_id(shipped)["claude-sonnet-4-5-20250929"]
    assert sonnet["pricing"]["cacheWritePer1M"] == 3.75 and sonnet["pricing"]["cacheReadPer1M"] == 0.3
    vertex = next(o for o in sonnet["offers"] if o["provider"].startswith("vertex_ai"))
    assert vertex["pricing"]["tiers"] == [{"aboveTokens": 200000, "inputPer1M": 6.0, "outputPer1M": 22.5,
                                           "cacheReadPer1M": 0.6, "cacheWritePer1M": 7.5}]
    tiered = [m for m in shipped["models"] if (m["pricing"] or {}).get("tiers")]
    assert len(tiered) >= 20


def test_zero_price_only_when_confirmed(shipped, prices):
    """A $0 listed by the price map is free only when models.dev agrees or the provider is local;
    otherwise the price is unknown (never $0)."""
    free = unknown = 0
    for m in shipped["models"]:
        for o in m["offers"]:
            entry = prices[o["source"]["key"]]
            zero = entry["input_cost_per_token"] == 0 or entry["output_cost_per_token"] == 0
            if o.get("priceUnknown"):
                assert zero, o
                unknown += 1
            elif o["pricing"]["inputPer1M"] == 0 or o["pricing"]["outputPer1M"] == 0:
                assert zero and o.get("free") is True and o["pricing"]["inputPer1M"] == 0, o
                free += 1
        if m.get("free"):
            assert m["pricing"]["inputPer1M"] == m["pricing"]["outputPer1M"] == 0
            why = m["source"]["prices"]["free"]
            assert why.startswith("models.dev") or "own machine" in why, why
        elif not m.get("priceUnknown"):
            assert m["pricing"]["inputPer1M"] > 0 or m["pricing"]["outputPer1M"] > 0, m["id"]
    assert free and unknown


def test_deprecation_dates_kept_from_the_price_map(shipped, prices, arena):
    """Deprecation is not judged at build time (routing judges it by today's date): models past the
    rating snapshot's date stay, with the date of the maker's own listing."""
    as_of = arena["fetched_at"][:10]
    by_id = _by_id(shipped)
    assert by_id["gpt-4.1-nano-2025-04-14"]["deprecationDate"] == "2026-10-23"
    assert any(m.get("deprecationDate", "9") < as_of for m in shipped["models"])
    for m in shipped["models"]:
        dates = set()
        for o in m["offers"]:
            listed = prices[o["source"]["key"]].get("deprecation_date")
            assert o.get("deprecationDate") == (listed[:10] if listed else None), o
            dates.add(o.get("deprecationDate"))
        assert m.get("deprecationDate") is None or m["deprecationDate"] in dates, m["id"]


def test_ids_unique_and_without_white_space(shipped):
    ids = [m["id"] for m in shipped["models"]]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if any(c.isspace() for c in i)]


def test_quality_always_has_provenance(shipped, arena):
    pages = {p.split("/", 1)[1]: {r[0]: r[1] for r in rows}
             for p, rows in arena["pages"].items() if p.startswith("text/")}
    for m in shipped["models"]:
        perf = m["performance"]
        if perf["quality"] is None and not perf["qualityByTask"]:
            assert "quality" not in m["source"]
            continue
        entries = m["source"]["quality"]["entries"]
        if perf["quality"] is not None:
            assert "overall" in entries
        for cat, name in entries.items():
            assert name in pages[cat], (m["id"], cat, name)


def test_higher_rating_never_lower_quality(shipped, arena):
    pages = {p.split("/", 1)[1]: {r[0]: r[1] for r in rows}
             for p, rows in arena["pages"].items() if p.startswith("text/")}
    task_of = {cat: tasks[0] for cat, tasks in CATEGORY_TASKS.items()}
    task_of["expert"] = CATEGORY_TASKS["hard_prompts"][0]
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in shipped["models"]:
        for cat, name in m["source"].get("quality", {}).get("entries", {}).items():
            perf = m["performance"]
            q = perf["quality"] if cat == "overall" else perf["qualityByTask"][task_of[cat]]
            points[cat].append((pages[cat][name], q))
    assert points["coding"]
    for cat, pts in points.items():
        pts.sort()
        for (r1, q1), (r2, q2) in zip(pts, pts[1:], strict=False):
            assert q2 >= q1, (cat, r1, q1, r2, q2)


def test_elo_mapping():
    assert elo_to_quality(1300, 1300) == 0.5
    assert elo_to_quality(1700, 1300) == pytest.approx(0.9091, abs=1e-4)
    assert elo_to_quality(1200, 1300) < elo_to_quality(1250, 1300) < elo_to_quality(1400, 1300)


def test_unrated_models_have_no_numbers(shipped):
    unrated = [m for m in shipped["models"] if m["performance"]["quality"] is None]
    assert unrated
    for m in unrated:
        assert "quality" not in m["source"] or "overall" not in m["source"]["quality"]["entries"]


def test_report_lists_matches_and_price_differences(built):
    report = built.report
    assert report["priceDifferences"], "expected some >5% differences between LiteLLM and models.dev"
    for d in report["priceDifferences"]:
        a, b = d["litellm"], d["modelsDev"]
        rel = max(abs(a[k] - b[k]) / max(abs(a[k]), abs(b[k])) for k in ("inputPer1M", "outputPer1M"))
        assert rel > 0.05
    assert report["arena"]["gpt-4o-2024-08-06"]["matched"]
    assert all(("matched" in v) != ("unmatched" in v) for v in report["arena"].values())
    assert sum(report["litellm"]["droppedCounts"].values()) + report["litellm"]["offers"] > 4000


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelwise", "registry", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_validate_shipped_ok():
    res = _cli("validate", str(SHIPPED))
    assert res.returncode == 0, res.stderr


def test_cli_validate_broken_file(tmp_path, shipped):
    doc = json.loads(json.dumps(shipped))
    doc["models"][3]["pricing"]["inputPer1M"] = -1
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    res = _cli("validate", str(bad))
    assert res.returncode == 2
    first = res.stderr.splitlines()[0]
    assert "broken.json" in first and doc["models"][3]["id"] in first and "inputPer1M" in first
    notjson = tmp_path / "notjson.json"
    notjson.write_text("{nope", encoding="utf-8")
    res = _cli("validate", str(notjson))
    assert res.returncode == 2 and "notjson.json" in res.stderr.splitlines()[0]
    assert validate_registry_file(tmp_path / "missing.json")


def test_cli_build_with_report(tmp_path):
    out, rep = tmp_path / "reg.json", tmp_path / "report.json"
    res = _cli("build", "--data", str(DATA), "--out", str(out), "--report", str(rep), "--json")
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == SHIPPED.read_bytes()
    summary = json.loads(res.stdout)
    assert summary["models"] >= 500 and summary["ratedCoding"] >= 200
    assert summary["offers"] > summary["models"]
    report = json.loads(rep.read_text(encoding="utf-8"))
    assert report["priceDifferences"] and "litellm" in report["priceDifferences"][0]


def test_cli_build_bad_input_writes_nothing(tmp_path):
    out = tmp_path / "reg.json"
    bad = tmp_path / "prices.json"
    bad.write_text("not json", encoding="utf-8")
    res = _cli("build", "--data", str(DATA), "--prices", str(bad), "--out", str(out))
    assert res.returncode == 2
    assert "prices.json" in res.stderr.splitlines()[0]
    assert not out.exists()
    res = _cli("build", "--data", str(tmp_path / "nowhere"), "--out", str(out))
    assert res.returncode == 2 and not out.exists()
