"""app.live: what a serve process publishes of its open calls is what another process reads, only while
it is fresh, and nothing is left behind when the publisher stops."""

from __future__ import annotations

import asyncio
import json
import os
import time

from modelwise.app import live as live_calls


def _decision(i: int) -> dict:
    return {"decisionId": f"dec_{i}", "selectedModel": "gpt-4o-mini", "provider": "standin",
            "agent": "cline", "taskType": "debugging", "estimatedTokens": {"input": 50, "output": 400}}


async def test_open_calls_are_published_and_read_back(tmp_path) -> None:
    folder = live_calls.folder_of(tmp_path)
    live = live_calls.Live()
    task = asyncio.create_task(live_calls.publish(folder, live))
    live.start(_decision(1))
    live.start(_decision(2))
    live.progress("dec_1", 37)
    for _ in range(40):
        await asyncio.sleep(0.1)
        seen = live_calls.read(folder)
        if seen.get("dec_1", {}).get("outputTokens") == 37 and "dec_2" in seen:
            break
    assert seen["dec_1"]["outputTokens"] == 37 and seen["dec_1"]["provider"] == "standin"
    live.end("dec_2")
    for _ in range(40):
        await asyncio.sleep(0.1)
        if "dec_2" not in live_calls.read(folder):
            break
    assert set(live_calls.read(folder)) == {"dec_1"}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert list(folder.glob("*.json")) == []  # removed when the publisher stops


def test_a_stale_snapshot_is_not_read(tmp_path) -> None:
    folder = live_calls.folder_of(tmp_path)
    folder.mkdir(parents=True)
    old = {"pid": 1, "at": time.time() - live_calls.STALE - 1, "calls": {"dec_9": {"outputTokens": 3}}}
    (folder / "1.json").write_text(json.dumps(old))
    (folder / "2.json").write_text("not json")
    fresh = {"pid": os.getpid(), "at": time.time(), "calls": {"dec_8": {"outputTokens": 5}}}
    (folder / f"{os.getpid()}.json").write_text(json.dumps(fresh))
    assert set(live_calls.read(folder)) == {"dec_8"}


def test_stop_on_another_loop_than_the_publishers_is_not_an_error(tmp_path) -> None:
    """A publisher started by a server whose loop is gone (a test client's) does not make the next
    server's stop fail with 'Event loop is closed'."""
    live = live_calls.Live()
    live.publish_to(live_calls.folder_of(tmp_path))

    async def first() -> None:
        live.start(_decision(1))

    asyncio.run(first())  # its loop closes with the publisher task still pending
    asyncio.run(live.stop())
    assert live._task is None
