"""The gateway's calls in flight as another process (the console) can see them; the gateway writes,
`app.reports.gateway_traffic` reads. Each serve process keeps its open calls in memory (model, provider,
agent, input tokens, output tokens streamed so far) and, at most twice a second and only when they
changed, writes them to one small JSON file of its own in a folder the console reads
(`<cache>/gateway-live/<pid>.json`, replaced atomically; removed when the process stops). Nothing is
written per streamed chunk, and nothing at all while no call is open."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import orjson

INTERVAL = 0.5  # seconds between two snapshots at most
STALE = 30.0  # a snapshot older than this is from a process that did not clean up


class Live:
    """One process's open calls; `version` counts changes, so the writer knows when to write."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.written = 0
        self.folder: Path | None = None  # where to publish; None: keep the calls in memory only
        self._task: asyncio.Task[None] | None = None

    def publish_to(self, folder: Path) -> None:
        """Publish from now on to `folder` (the publisher starts with the first call, on its loop)."""
        self.folder = folder

    async def stop(self) -> None:
        """Stop publishing (the server stops): the process's file is removed."""
        task, self._task = self._task, None
        if task is None:
            return
        loop = task.get_loop()
        if loop is not asyncio.get_running_loop():  # started by a server on a loop since gone (a test's)
            if not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def start(self, decision: dict[str, Any], attempt: int = 1) -> None:
        if self.folder is not None:
            loop = asyncio.get_running_loop()
            task = self._task
            if task is None or task.done() or task.get_loop() is not loop:  # (a server started again)
                self._task = loop.create_task(publish(self.folder, self))
        tokens = decision.get("estimatedTokens") or {}
        self.calls[decision["decisionId"]] = {
            "model": decision.get("selectedModel"),
            "provider": decision.get("provider"),
            "agent": decision.get("agent"),
            "taskType": decision.get("taskType"),
            "inputTokens": tokens.get("input"),
            "maxOutputTokens": tokens.get("output"),
            "outputTokens": 0,
            "attempt": attempt,
            "started": time.time(),
        }
        self.version += 1

    def progress(self, decision_id: str, output_tokens: int) -> None:
        call = self.calls.get(decision_id)
        if call is not None and call["outputTokens"] != output_tokens:
            call["outputTokens"] = output_tokens
            self.version += 1

    def end(self, decision_id: str) -> None:
        if self.calls.pop(decision_id, None) is not None:
            self.version += 1


LIVE = Live()


def folder_of(cache: Path) -> Path:
    return Path(cache) / "gateway-live"


def _write(folder: Path, calls: dict[str, dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "at": time.time(), "calls": calls}))
    os.replace(tmp, path)


async def publish(folder: Path, live: Live = LIVE) -> None:
    """Write `live`'s snapshot whenever it changed, at most every INTERVAL seconds, until cancelled; an
    open call's snapshot is rewritten every few seconds so readers can tell a living process from a dead
    one. The file is removed at the end."""
    path = folder / f"{os.getpid()}.json"
    last_write = 0.0
    try:
        while True:
            await asyncio.sleep(INTERVAL)
            now = time.monotonic()
            stale = live.calls and now - last_write > STALE / 3
            if live.version != live.written or stale:
                version = live.version
                with contextlib.suppress(OSError):  # a full disk costs the console its live view only
                    _write(folder, dict(live.calls))
                live.written, last_write = version, now
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def read(folder: Path) -> dict[str, dict[str, Any]]:
    """Every serve process's open calls by decision id, from snapshots written in the last STALE
    seconds (a process killed without cleaning up stops counting then)."""
    out: dict[str, dict[str, Any]] = {}
    now = time.time()
    try:
        files = list(Path(folder).glob("*.json"))
    except OSError:
        return out
    for f in files:
        try:
            data = orjson.loads(f.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not isinstance(data, dict) or now - float(data.get("at", 0)) > STALE:
            continue
        calls = data.get("calls")
        if isinstance(calls, dict):
            out.update({k: v for k, v in calls.items() if isinstance(v, dict)})
    return out
