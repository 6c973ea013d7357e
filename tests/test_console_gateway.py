"""The console's gateway pane (tui.panes.gateway) shows what service.gateway_traffic reports: calls in
flight with the tokens streamed so far, actual against reserved, a fallback as such, spend by provider
and by agent; rows update in place as calls stream and settle."""

from __future__ import annotations

from textual.app import App, ComposeResult

from modelwise.tui.panes.gateway import GatewayPane


def _traffic(state: str = "in flight", out: int | None = 120) -> dict:
    calls = [
        {"decisionId": "dec_b", "timestamp": "2026-12-01T10:00:02.000Z", "model": "gpt-4o-mini",
         "modelName": "GPT-4o mini", "provider": "openai", "agent": "cline", "taskType": "debugging",
         "taskTypeFrom": "rule:stack-trace", "state": state, "outcome": None if state == "in flight" else
         "success", "reserved": 0.0031, "actualCost": None if state == "in flight" else 0.0012,
         "maxOutputTokens": 4000, "inputTokens": 900, "outputTokens": out, "latencyMs": None,
         "fallbackFrom": {"decisionId": "dec_a", "model": "gpt-4o", "provider": "azure", "why": "429"}},
        {"decisionId": "dec_a", "timestamp": "2026-12-01T10:00:01.000Z", "model": "gpt-4o",
         "modelName": "GPT-4o", "provider": "azure", "agent": "cline", "taskType": "debugging",
         "taskTypeFrom": "rule:stack-trace", "state": "failed", "outcome": "error", "reserved": 0.02,
         "actualCost": 0.0, "maxOutputTokens": 4000, "inputTokens": 900, "outputTokens": None,
         "latencyMs": 12.0, "fallbackFrom": None},
    ]
    return {"day": "2026-12-01", "calls": calls, "inFlight": int(state == "in flight"), "failed": 1,
            "byProvider": {"openai": {"calls": 1, "spent": 0.0031, "failed": 0, "inFlight": 1},
                           "azure": {"calls": 1, "spent": 0.0, "failed": 1, "inFlight": 0}},
            "byAgent": {"cline": {"calls": 2, "spent": 0.0031, "failed": 1, "inFlight": 1}}}


class _Harness(App):
    def compose(self) -> ComposeResult:
        yield GatewayPane(id="gateway")


def _cells(pane: GatewayPane) -> list[list[str]]:
    table = pane.query_one("#gateway-table")
    return [[str(c) for c in table.get_row(k)] for k in table.rows]


async def test_calls_in_flight_fallback_and_sums_are_shown() -> None:
    app = _Harness()
    async with app.run_test(size=(140, 20)) as pilot:
        pane = app.query_one(GatewayPane)
        pane.show(_traffic())
        await pilot.pause()
        rows = _cells(pane)
        assert rows[0][4] == "in flight" and rows[0][5] == "900/120/4,000"
        assert "fell back from gpt-4o (429)" in rows[0][8]
        assert rows[1][4] == "failed" and "upstream error" in rows[1][8]
        head = str(pane.query_one("#gateway-summary").render())
        assert "1 in flight" in head and "1 failed" in head
        assert "openai $0.0031 (1)" in head and "cline $0.0031 (2)" in head
        pane.show(_traffic(out=800))  # more streamed: updated in place
        await pilot.pause()
        assert _cells(pane)[0][5] == "900/800/4,000"
        pane.show(_traffic("done", out=310))  # settled: actual beside reserved
        await pilot.pause()
        row = _cells(pane)[0]
        assert row[4] == "done" and row[5] == "900/310" and row[6] == "$0.0031" and row[7] == "$0.0012"


async def test_no_call_yet_says_how_to_start() -> None:
    app = _Harness()
    async with app.run_test(size=(120, 12)) as pilot:
        pane = app.query_one(GatewayPane)
        pane.show({"day": "2026-12-01", "calls": [], "inFlight": 0, "failed": 0, "byProvider": {},
                   "byAgent": {}})
        await pilot.pause()
        assert "no call through the gateway today" in str(pane.query_one("#gateway-summary").render())


async def test_the_console_shows_a_gateway_call_in_flight_then_settled(make_service) -> None:
    """f6 puts the gateway pane in the history's place (four panes at 200x50); a call the gateway admits
    shows in flight at once, then settled, from the shared ledger."""
    from modelwise.tui.app import ModelwiseApp
    from tests.tui_support import settle, wait_for

    svc = make_service()
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        pane = app.query_one(GatewayPane)
        assert pane.has_class("-current") and not app.query_one("#history").has_class("-current")
        call = svc.route_call("documentation", 120, 300, agent="zed")
        table = pane.query_one("#gateway-table")
        await wait_for(pilot, lambda: table.row_count == 1, timeout=5.0)
        assert _cells(pane)[0][4] == "in flight" and _cells(pane)[0][1] == "zed"
        svc.record_outcome(call["decisionId"], "success", input_tokens=100, output_tokens=40)
        await wait_for(pilot, lambda: _cells(pane)[0][4] == "done", timeout=5.0)
        assert _cells(pane)[0][5] == "100/40"
        await pilot.press("f5")
        assert app.query_one("#history").has_class("-current") and not pane.has_class("-current")
