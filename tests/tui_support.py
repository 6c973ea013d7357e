"""Helpers for the console tests: a seeded ledger with deterministic ids and waiting for the app."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.worker import WorkerCancelled

WATCHERS = ("ledger-watch", "config-watch")  # the app's workers that run until it closes
SNAPSHOT_CONFIG = 'timezone = "UTC"\ntheme = "modelwise-dark"\ndaily_budget = 0.1\nalert_threshold = 0.4\n'

TASKS = (
    ("documentation", "Write the README for the billing module", None, "ci"),
    ("code_generation", "Parser for invoices sent by ops@example.com", None, "alice"),
    ("architecture", "Design the ledger replication", "2.0", "bob"),
    ("debugging", "Fix the flaky retry test", None, "alice"),
)


def deterministic_ids(monkeypatch) -> None:
    """Decision ids end in random hex; make them a counter so snapshots are stable."""
    counter = itertools.count(1)
    monkeypatch.setattr("modelwise.app.routing.random_suffix", lambda n: f"{next(counter):0{2 * n}x}")


def seed(service, clock, tasks=TASKS, step_seconds: float = 1800.0) -> list[dict]:
    """Route a few tasks at fixed times before the clock's now; settle the first one."""
    start = clock.now
    clock.advance(-step_seconds * len(tasks))
    out = []
    for task_type, description, budget, agent in tasks:
        out.append(service.route_task(task_type, description, budget, agent=agent))
        clock.advance(step_seconds)
    clock.now = start
    service.record_outcome(
        out[0]["decisionId"], "success", latency_ms=900, input_tokens=1200, output_tokens=700
    )
    service.close()  # the app opens its own connections
    return out


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Pause until `condition()` holds; returns the seconds it took. Fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    return time.monotonic() - start


async def settle(pilot: Pilot) -> None:
    """Wait for the first ledger snapshot, the registry rows and any one-shot worker."""
    app = pilot.app
    await wait_for(pilot, lambda: app.ledger_state is not None)
    await wait_for(pilot, lambda: app.query_one("#registry").rows != [])
    await wait_for(pilot, lambda: not app.query_one("#registry").filling)
    quiet = 0
    for _ in range(50):  # a worker's answer may start another (the what-if, the grid): until two quiet rounds
        busy = [w for w in app.workers if w.group not in WATCHERS and not w.is_finished]
        if busy:
            quiet = 0
            for worker in busy:
                # one superseded in its exclusive group (a resize, a new selection) is cancelled: the
                # next round waits for the worker that replaced it
                with contextlib.suppress(WorkerCancelled):
                    await worker.wait()
        else:
            quiet += 1
            if quiet == 2:
                break
        await pilot.pause()
    # A DataTable measures new rows' widths when its own queue is idle: a screenshot taken before that
    # shows the columns at their labels' widths (Textual keeps no public flag for it).
    await wait_for(
        pilot,
        lambda: not any(t._require_update_dimensions or t._updated_cells for t in app.query(DataTable)),
    )
    await asyncio.sleep(0)


CHART_REGISTRY = Path(__file__).resolve().parent / "fixtures" / "chart_registry.json"
"""Twelve models for code_generation: six on the cost/quality frontier, one free, one unrated."""
