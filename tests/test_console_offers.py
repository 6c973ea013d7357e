"""The console lists the highlighted model's offers: provider, price per million tokens in and out,
latency, and whether a provider that is on can call it (routing's choice marked)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable

from modelwise.core.offers import offer_rows
from modelwise.core.settings import Settings
from modelwise.tui.app import ModelwiseApp
from tests.tui_support import settle, wait_for

TYPES = list(Settings().task_types)


def _model(mid: str, name: str, provider: str, quality: float, offers: list[dict]) -> dict:
    return {
        "id": mid, "name": name, "provider": provider, "capabilities": TYPES,
        "pricing": {"inputPer1M": 3.0, "outputPer1M": 15.0},
        "performance": {"quality": quality, "latency": 900}, "availability": 0.99, "offers": offers,
    }


def _offer(provider: str, upstream: str, inp: float | None, out: float | None, latency: float | None = None):
    o: dict = {"provider": provider, "upstreamId": upstream}
    if inp is None:
        o["priceUnknown"] = True
    else:
        o["pricing"] = {"inputPer1M": inp, "outputPer1M": out}
    if latency is not None:
        o["latency"] = latency
    return o


def registry(tmp_path: Path) -> Path:
    path = tmp_path / "offers.json"
    path.write_text(json.dumps({"schemaVersion": 2, "models": [
        _model("llama-4-maverick", "Llama 4 Maverick", "meta", 0.9, [
            _offer("groq", "meta-llama/llama-4-maverick", 0.2, 0.6, 450),
            _offer("together_ai", "meta-llama/Llama-4-Maverick", 0.27, 0.85, 700),
            _offer("deepinfra", "meta-llama/Llama-4-Maverick-17B", None, None),
        ]),
        _model("gpt-4o", "GPT-4o", "openai", 0.5, [_offer("openai", "gpt-4o", 2.5, 10.0, 1500)]),
    ]}))
    return path


def test_offer_rows_say_which_offer_is_reachable(make_service, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "test-key")
    svc = make_service(registry=registry(tmp_path))
    rows = offer_rows(svc.registry.get("llama-4-maverick"), svc.reach)
    assert [(r["provider"], r["reachable"], r["chosen"]) for r in rows] == [
        ("groq", True, True), ("together_ai", False, False), ("deepinfra", False, False),
    ]
    assert rows[1]["why"] == "TOGETHER_API_KEY not set"
    assert rows[2]["inputPer1M"] is None and rows[2]["why"] == "no [providers.deepinfra] in the config"
    assert (rows[0]["inputPer1M"], rows[0]["outputPer1M"], rows[0]["latencyMs"]) == (0.2, 0.6, 450)


def test_offer_rows_without_any_provider_say_routing_is_advisory(make_service, tmp_path) -> None:
    svc = make_service(registry=registry(tmp_path))
    rows = offer_rows(svc.registry.get("gpt-4o"), svc.reach)
    assert [(r["provider"], r["reachable"], r["why"]) for r in rows] == [
        ("openai", False, "no provider on (routing is advisory)")
    ]


async def test_registry_pane_lists_the_highlighted_models_offers(make_service, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    app = ModelwiseApp(make_service(registry=registry(tmp_path)), cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.run_action("show_pane('registry')")
        await settle(pilot)
        table = app.query_one("#registry-table", DataTable)
        box = app.query_one("#registry-offers")
        await wait_for(pilot, lambda: "Llama 4 Maverick" in str(box.render()))
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "llama-4-maverick"
        lines = [line.split() for line in str(box.render()).splitlines()]
        assert lines[0][:5] == ["offers", "of", "Llama", "4", "Maverick:"]
        assert "3, 1 reachable" in " ".join(lines[0])
        assert lines[1] == ["✓", "groq", "$0.2", "/", "$0.6", *"450 ms ★ routing calls this one".split()]
        assert lines[2][:7] == ["✗", "together_ai", "$0.27", "/", "$0.85", "700", "ms"]
        assert " ".join(lines[2]).endswith("TOGETHER_API_KEY not set")
        assert lines[3][:5] == ["✗", "deepinfra", "unknown", "/", "unknown"]

        await pilot.press("down")  # the next model: its own offers
        await wait_for(pilot, lambda: "GPT-4o" in str(box.render()))
        lines = [line.split() for line in str(box.render()).splitlines()]
        assert lines[1][:7] == ["✓", "openai", "$2.50", "/", "$10.00", "1,500", "ms"]
        assert len(lines) == 2
