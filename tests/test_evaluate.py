"""`modelwise evaluate`: reading outcome files, k-fold calibration, routing held-out prompts, the oracle,
the cost-weight sweep and the plot.

`tests/fixtures/outcomes_small.jsonl` is derived from the vendored
`data/outcomes/routellm_mmlu_gsm8k.jsonl.gz`:
every 100th MMLU prompt and every 10th GSM8K prompt in file order (141 + 132 prompts, both models each, 546
rows), with the optional `prompt` text dropped. `test_small_fixture_is_a_faithful_subset` checks that."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from modelwise.core.calibration import calibrated_quality
from modelwise.core.errors import BadInput
from modelwise.core.settings import Settings
from modelwise.evaluation import (
    EVALUATE_TIER,
    assign_folds,
    evaluation_settings,
    group_prompts,
    route_all,
)
from modelwise.importers.outcomes import read_outcomes
from tests.conftest import FIXTURES, run_cli

ROOT = Path(__file__).resolve().parent.parent
FULL = ROOT / "data" / "outcomes" / "routellm_mmlu_gsm8k.jsonl.gz"
SMALL = FIXTURES / "outcomes_small.jsonl"
GPT4, MIXTRAL = "gpt-4-1106-preview", "mixtral-8x7b-instruct"


@pytest.fixture(scope="module")
def routellm_registry(tmp_path_factory) -> Path:
    """The shipped registry's own GPT-4-1106-preview entry (Mixtral 8x7B under this id is not in it)."""
    shipped = json.loads((ROOT / "model_registry.json").read_text(encoding="utf-8"))
    entry = next(m for m in shipped["models"] if m["id"] == GPT4)
    path = tmp_path_factory.mktemp("reg") / "registry.json"
    path.write_text(json.dumps({"schemaVersion": 1, "models": [entry]}))
    return path


def _rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_small_fixture_is_a_faithful_subset():
    full = {(r["prompt_id"], r["model"]): r for r in _rows(FULL)}
    small = _rows(SMALL)
    assert len(small) == 546
    for r in small:
        assert r == {k: v for k, v in full[(r["prompt_id"], r["model"])].items() if k != "prompt"}


def test_evaluate_small_by_definition(make_service, routellm_registry):
    svc = make_service(registry=routellm_registry)
    r = svc.evaluate(SMALL, folds=5, sweep=3, seed=0)
    rows = _rows(SMALL)
    prompts: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for row in rows:
        prompts[row["prompt_id"]][row["model"]] = (row["score"], row["cost_usd"])
    n = len(prompts)
    assert r["prompts"] == n == 273 and r["taskTypes"] == ["knowledge", "math"]
    for m in (GPT4, MIXTRAL):
        assert r["models"][m]["quality"] == pytest.approx(
            sum(p[m][0] for p in prompts.values()) / n, abs=1e-6
        )
        assert r["models"][m]["cost"] == pytest.approx(sum(p[m][1] for p in prompts.values()), abs=1e-8)
    # the oracle: the cheapest model with the prompt's best score
    oq = oc = 0.0
    for p in prompts.values():
        best = max(s for s, _ in p.values())
        s, c = min((v for v in p.values() if v[0] == best), key=lambda v: v[1])
        oq += s
        oc += c
    assert r["oracle"]["quality"] == pytest.approx(oq / n, abs=1e-6)
    assert r["oracle"]["cost"] == pytest.approx(oc, abs=1e-8)
    # Mixtral is not in the registry: priced at its mean cost per token in the file
    mix = [row for row in rows if row["model"] == MIXTRAL]
    per_1m = sum(x["cost_usd"] for x in mix) / sum(x["input_tokens"] + x["output_tokens"] for x in mix) * 1e6
    assert r["models"][MIXTRAL]["inputPer1M"] == pytest.approx(per_1m, abs=1e-6)
    assert not r["models"][MIXTRAL]["inRegistry"] and r["models"][GPT4]["inputPer1M"] == 10.0
    # the sweep: cost weight 0 routes every prompt to the better model (GPT-4), weight 1 to the cheaper
    k0, k_half, k1 = r["sweep"]
    assert [p["costWeight"] for p in r["sweep"]] == [0.0, 0.5, 1.0]
    assert k0["picks"] == {GPT4: n} and (k0["quality"], k0["cost"]) == (
        r["models"][GPT4]["quality"],
        r["models"][GPT4]["cost"],
    )
    assert k1["picks"] == {MIXTRAL: n} and k1["cost"] == r["models"][MIXTRAL]["cost"]
    assert k_half["cost"] <= k0["cost"]
    # the router's numbers are its picks' recorded numbers
    assert sum(r["router"]["picks"].values()) == n and r["router"]["refused"] == 0
    by_type = r["routerByTaskType"]
    assert sum(t["cost"] for t in by_type.values()) == pytest.approx(r["router"]["cost"], abs=1e-8)
    # the calibration reported on the whole file is the Beta posterior of the registry prior
    cal = r["calibration"]["math"][GPT4]
    gpt_math = [row["score"] for row in rows if row["model"] == GPT4 and row["task_type"] == "math"]
    prior = cal["registryQuality"]
    assert cal["calibratedQuality"] == pytest.approx(
        (prior * 20 + sum(gpt_math)) / (20 + len(gpt_math)), abs=1e-6
    )
    assert r["calibration"]["math"][MIXTRAL]["registryQuality"] is None  # unrated: prior 0.5


def test_folds_calibrate_only_on_training_prompts(routellm_registry):
    data = read_outcomes(SMALL)
    prompts = group_prompts(data)
    fold_of = assign_folds(prompts, 4, seed=7)
    assert assign_folds(prompts, 4, seed=7) == fold_of  # reproducible
    assert sorted(Counter(fold_of.values()).values()) == [68, 68, 68, 69]  # 273 prompts dealt round-robin
    from modelwise.evaluation import model_specs
    from modelwise.loading import load_registry

    reg = load_registry(routellm_registry)
    settings = evaluation_settings(Settings(), data.task_types, set())
    specs = model_specs(data, reg, Settings().task_types)
    chosen, calibrations = route_all(prompts, fold_of, 4, specs, settings, Settings().weights)
    assert len(chosen) == len(prompts)
    for k, calib in enumerate(calibrations):
        train = [p for p in prompts if fold_of[p.id] != k]
        for t in ("knowledge", "math"):
            obs = calib.observed(MIXTRAL, t)
            mine = [p.results[MIXTRAL][0] for p in train if p.task_type == t]
            assert obs.successes + obs.failures == pytest.approx(len(mine))
            assert obs.successes == pytest.approx(sum(mine))
            assert calibrated_quality(0.5, 20, obs) == pytest.approx((10 + sum(mine)) / (20 + len(mine)))


def test_new_task_types_get_no_floor_and_registry_models_become_capable(make_service, tmp_path):
    f = tmp_path / "trivia.jsonl"
    lines = []
    for i in range(6):
        for model, score, cost in (("gpt-4o", 1.0, 0.01), ("cheap-model", float(i % 2), 0.0001)):
            lines.append(
                json.dumps(
                    {
                        "prompt_id": f"q{i}",
                        "task_type": "trivia",
                        "model": model,
                        "score": score,
                        "input_tokens": 10,
                        "output_tokens": 10,
                        "cost_usd": cost,
                    }
                )
            )
    f.write_text("\n".join(lines) + "\n")
    svc = make_service()
    r = svc.evaluate(f, folds=2, sweep=2)
    assert r["sweep"][0]["picks"] == {"gpt-4o": 6}  # capable of a type the registry cannot speak of
    assert r["models"]["cheap-model"]["inputPer1M"] == pytest.approx(0.0001 / 20 * 1e6)
    s = evaluation_settings(Settings(), ["trivia", "math"], set())
    assert s.tier_for("trivia").name == EVALUATE_TIER and s.tier_for("math").floor_percentile == 0
    kept = evaluation_settings(Settings(), ["trivia", "math"], {"math"})
    assert kept.tier_for("math").name == "medium" and kept.tier_for("math").floor_percentile == 50


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"prompt_id": "a"}', "missing task_type"),
        (
            '{"prompt_id": "a", "task_type": "t", "model": "m", "score": 2, "input_tokens": 1, '
            '"output_tokens": 1, "cost_usd": 0}',
            "score must be between 0 and 1",
        ),
        (
            '{"prompt_id": "a", "task_type": "t", "model": "m", "score": 1, "input_tokens": -1, '
            '"output_tokens": 1, "cost_usd": 0}',
            "input_tokens must be a whole number zero or more",
        ),
        (
            '{"prompt_id": "p1", "task_type": "other", "model": "x", "score": 1, "input_tokens": 1, '
            '"output_tokens": 1, "cost_usd": 0}',
            "has task_type 'other' here but 't' on line 1",
        ),
        (
            '{"prompt_id": "p1", "task_type": "t", "model": "m", "score": 1, "input_tokens": 1, '
            '"output_tokens": 1, "cost_usd": 0}',
            "a second row for prompt 'p1' and model 'm'",
        ),
    ],
)
def test_bad_lines_name_the_line(tmp_path, line, message):
    good = (
        '{"prompt_id": "p1", "task_type": "t", "model": "m", "score": 1, "input_tokens": 1, '
        '"output_tokens": 1, "cost_usd": 0}'
    )
    f = tmp_path / "bad.jsonl"
    f.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(BadInput, match=":3: ") as exc:
        read_outcomes(f)
    assert message in str(exc.value)


def test_cli_evaluate_json_plot_and_bad_file(cli_env, routellm_registry, tmp_path):
    png = tmp_path / "frontier.png"
    out = run_cli(
        "evaluate",
        str(SMALL),
        "--sweep",
        "5",
        "--json",
        "--plot",
        str(png),
        "--folds",
        "3",
        "--registry",
        str(routellm_registry),
        env=cli_env,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert set(r) >= {"router", "oracle", "models", "sweep"}
    assert set(r["router"]) >= {"quality", "cost"} and set(r["oracle"]) >= {"quality", "cost"}
    assert all(set(p) >= {"costWeight", "quality", "cost"} for p in r["sweep"]) and len(r["sweep"]) == 5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = run_cli("evaluate", str(SMALL), "--sweep", "3", "--registry", str(routellm_registry), env=cli_env)
    assert text.returncode == 0 and "oracle" in text.stdout and "cost-weight sweep" in text.stdout

    gz = tmp_path / "bad.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(SMALL.read_text().splitlines()[0] + "\n{oops\n")
    bad_png = tmp_path / "never.png"
    bad = run_cli("evaluate", str(gz), "--plot", str(bad_png), env=cli_env)
    assert bad.returncode == 2 and f"{gz}:2:" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not bad_png.exists()
    assert run_cli("evaluate", str(SMALL), "--folds", "1", env=cli_env).returncode == 2
    assert run_cli("evaluate", str(SMALL), "--weights", "1,2", env=cli_env).returncode == 2
    assert run_cli("evaluate", str(tmp_path / "missing.jsonl"), env=cli_env).returncode == 2


def test_full_routellm_file(make_service):
    """The vendored RouteLLM outcomes with the shipped registry: GPT-4 at cost weight 0, Mixtral at the
    default weights (its cost component, 0.95, outweighs GPT-4's calibrated quality lead)."""
    svc = make_service(registry=ROOT / "model_registry.json")
    r = svc.evaluate(FULL, folds=5, sweep=3)
    assert r["prompts"] == 15361 and r["rows"] == 30722
    gpt, mix = r["models"][GPT4], r["models"][MIXTRAL]
    assert gpt["quality"] == pytest.approx(0.810169, abs=1e-6) and gpt["cost"] == pytest.approx(
        22.20932, abs=1e-4
    )
    assert mix["quality"] == pytest.approx(0.677169, abs=1e-6) and mix["cost"] == pytest.approx(
        0.924535, abs=1e-4
    )
    assert r["sweep"][0]["picks"] == {GPT4: 15361}
    assert r["router"]["picks"] == {MIXTRAL: 15361}
    assert r["oracle"]["quality"] > gpt["quality"] and r["oracle"]["cost"] < gpt["cost"]


def test_switch_points_are_where_totals_tie(make_service, routellm_registry):
    """With equal availabilities, GPT-4 (cost component 0: $0.015 per 1k blended, above the $0.01
    ceiling) and Mixtral tie where 0.3 x (quality gap) = k x Mixtral's cost component."""
    svc = make_service(registry=routellm_registry)
    r = svc.evaluate(SMALL, folds=5, sweep=0)
    assert r["sweep"] == []
    mix_cost = 1 - (r["models"][MIXTRAL]["inputPer1M"] / 1000) / 0.01
    for t in ("knowledge", "math"):
        cal = r["calibration"][t]
        gap = cal[GPT4]["calibratedQuality"] - cal[MIXTRAL]["calibratedQuality"]
        (point,) = r["switchPoints"][t]
        assert (point["from"], point["to"]) == (GPT4, MIXTRAL)
        assert point["costWeight"] == pytest.approx(0.3 * gap / mix_cost, abs=1e-5)
