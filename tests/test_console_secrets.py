"""Secrets never reach the console: tasks whose descriptions hold every secret of the corpus are routed
through the console's own route form and by another process writing to the same ledger; then every row of
the history and its stored breakdown is shown on a wide screen and the visible characters (the SVG
screenshot's text) hold none of the secrets, and do hold the redaction markers."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable, Input, Select

from modelwise.service import TokenOptimizationService
from modelwise.tui.app import ModelwiseApp
from tests.conftest import BRIEF_REGISTRY
from tests.secrets_corpus import SECRETS, description_with_all, secret_values
from tests.tui_support import settle, wait_for

CHUNK = 6  # secrets per decision of the other process (a screenshot per history row is slow)
OTHER_PROCESS = """
import sys
from modelwise.service import TokenOptimizationService
from tests.secrets_corpus import SECRETS
chunk = int(sys.argv[4])
with TokenOptimizationService(registry=sys.argv[1], ledger=sys.argv[2], config=sys.argv[3]) as svc:
    for i in range(0, len(SECRETS), chunk):
        text = " ; ".join(f"{kind}: {secret}" for kind, secret in SECRETS[i:i + chunk])
        svc.route_task("documentation", text, agent="other-process")
"""
ROWS = -(-len(SECRETS) // CHUNK) + 1  # the other process's decisions and the console's own


def screen_text(app: ModelwiseApp) -> str:
    """The characters on screen: the SVG screenshot's <text> runs, joined line by line (a run is cut
    wherever the style changes, so a secret split across styles is found too)."""
    svg = app.export_screenshot()
    runs: dict[float, list[tuple[float, str]]] = {}
    for x, y, body in re.findall(r'<text[^>]*\bx="([\d.]+)"[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        runs.setdefault(float(y), []).append((float(x), html.unescape(body).replace("\xa0", " ")))
    return "\n".join("".join(t for _, t in sorted(line)) for _, line in sorted(runs.items()))


def assert_clean(text: str, where: str) -> None:
    leaked = [v for v in secret_values() if v in text]
    assert not leaked, f"{where} shows secrets: {leaked[:3]}"


async def test_no_secret_reaches_the_screen(tmp_path) -> None:
    ledger, cfg = tmp_path / "ledger.sqlite3", tmp_path / "config.toml"
    cfg.write_text('timezone = "UTC"\ndaily_budget = 1000.0\n')
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", OTHER_PROCESS, str(BRIEF_REGISTRY), str(ledger), str(cfg), str(CHUNK)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    svc = TokenOptimizationService(registry=BRIEF_REGISTRY, ledger=ledger, config=cfg)
    app = ModelwiseApp(svc, cursor_blink=False)
    try:
        async with app.run_test(size=(260, 90)) as pilot:
            await settle(pilot)
            # the console's own route form: a description holding every secret (on one line, as an Input
            # holds it), routed and recorded with ctrl+r
            app.query_one("#task-type", Select).value = "debugging"
            app.query_one("#description", Input).value = description_with_all().replace("\n", " ")
            await pilot.press("ctrl+r")
            await settle(pilot)
            history = app.query_one("#history-table", DataTable)
            await wait_for(pilot, lambda: history.row_count == ROWS)
            # what the user typed is theirs to see; once the form is cleared for the next task, the
            # screen holds only what the ledger gave back
            app.query_one("#description", Input).value = ""
            app.screen.maximize(app.query_one("#history"))  # the whole width: no column cut off
            await pilot.pause()

            pane = app.query_one("#history")
            history.focus()
            markers = 0
            seen = set()
            # row 0 last: the cursor starts there, and only a move highlights a row (and loads its detail)
            for row in [*range(1, history.row_count), 0]:
                history.move_cursor(row=row)
                key = history.coordinate_to_cell_key(history.cursor_coordinate).row_key.value
                await wait_for(pilot, lambda k=key: pane.detail_id == k)
                await settle(pilot)
                seen.add(key)
                cells = " ".join(c.plain for c in history.get_row_at(row))
                detail = str(app.query_one("#history-detail").render())
                shown = screen_text(app)
                for where, text in (("history row", cells), ("stored breakdown", detail), ("screen", shown)):
                    assert_clean(text, f"{where} of {key}")
                assert "[REDACTED:" in detail, detail  # the description is there, redacted
                markers += shown.count("[REDACTED:")
            assert len(seen) == ROWS
            # the markers were on screen: the walk saw the descriptions, so it could have seen a leak
            assert markers >= ROWS, markers
    finally:
        svc.close()
