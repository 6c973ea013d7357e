"""A stand-in provider on loopback (aiohttp) speaking OpenAI Chat Completions and Anthropic Messages:
configurable answers, usage, delays, errors and streams; it records every request it gets.
`python -m tests.standin_provider` serves one."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    """What the stand-in answers. `usage`: (prompt, completion) tokens to report, None = counted (prompt:
    `_prompt_tokens`, completion: the words sent); `report_usage`: whether usage is sent at all."""

    text: str = "Hello from the stand-in provider, answering your request in a few words."
    usage: tuple[int, int] | None = None
    report_usage: bool = True
    status: int = 200
    error: dict[str, Any] | None = None
    fill: bool = False  # report the whole max_tokens as completion tokens (the worst case of a call)
    delay: float = 0.0  # seconds before the answer (or the first chunk)
    chunk_delay: float = 0.0  # seconds between streamed chunks
    extra: dict[str, Any] = field(default_factory=dict)
    cached: int | None = None  # reported as usage.prompt_tokens_details.cached_tokens when set
    # Anthropic: prompt tokens reported as written to the cache (cache_creation_input_tokens; `cached`
    # is cache_read_input_tokens); and an `error` event sent after this many words of a stream
    cache_write: int | None = None
    cache_write_1h: int = 0  # of cache_write, those kept for an hour (usage.cache_creation's split)
    error_after: int | None = None
    # a tool call (name, arguments as JSON text) after the text, in either format; streamed in two pieces
    tool: tuple[str, str] | None = None
    linger: float = 0.0  # seconds a stream stays open after its last event
    headers: dict[str, str] = field(default_factory=dict)  # more headers on a chat answer (e.g. Set-Cookie)


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A provider's count of the prompt, as a tokenizer makes it: ~4 characters a token, 4 a message."""
    chars = sum(len(m["content"]) if isinstance(m.get("content"), str) else 0 for m in body["messages"])
    return -(-chars // 4) + 4 * len(body["messages"]) + 3


def _anthropic_prompt_tokens(body: dict[str, Any]) -> int:
    """The stand-in's count of an Anthropic request's prompt (system and text blocks included, and the
    system prompt the format adds for tools)."""
    def chars(content: Any) -> int:
        if isinstance(content, str):
            return len(content)
        return sum(len(p.get("text", "")) for p in content or () if isinstance(p, dict))

    n = chars(body.get("system")) + sum(chars(m.get("content")) for m in body["messages"])
    tools = 346 + len(json.dumps(body["tools"])) // 4 if body.get("tools") else 0  # Anthropic's tool prompt
    return -(-n // 4) + 4 * len(body["messages"]) + 3 + tools


class Standin:
    """Serve with `with Standin() as s:`; `s.base_url` ends in /v1; `s.requests` holds what came in
    (path, headers, JSON body); `s.cut` counts streams the client went away from."""

    def __init__(self, behaviour: Behaviour | None = None, record: bool = True):
        self.behaviour = behaviour or Behaviour()
        self.requests: list[dict[str, Any]] = []
        self.record = record
        self.cut = 0
        self.completed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        return app

    async def count_tokens(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.record:
            self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        return web.json_response({"input_tokens": _anthropic_prompt_tokens(body)})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Anthropic Messages: a text answer, its usage in message_start and message_delta when streamed."""
        body = json.loads(await request.read())
        if self.record:
            self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        b = self.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.status >= 400:
            err = b.error or {"type": "error", "error": {"type": "overloaded_error", "message": "stand-in"}}
            return web.json_response(err, status=b.status)
        limit = body["max_tokens"]
        words = b.text.split(" ")[:limit]
        prompt, completion = b.usage or (_anthropic_prompt_tokens(body), len(words))
        if b.fill:
            completion = limit
        read, write = b.cached or 0, b.cache_write or 0
        usage = {"input_tokens": prompt - read - write, "output_tokens": completion,
                 "cache_read_input_tokens": read, "cache_creation_input_tokens": write,
                 "cache_creation": {"ephemeral_5m_input_tokens": write - b.cache_write_1h,
                                    "ephemeral_1h_input_tokens": b.cache_write_1h}}
        message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": body["model"],
                   "stop_sequence": None, **b.extra}
        if not body.get("stream"):
            content: list[dict[str, Any]] = [{"type": "text", "text": " ".join(words)}]
            if b.tool:
                content.append({"type": "tool_use", "id": "toolu_standin", "name": b.tool[0],
                                "input": json.loads(b.tool[1])})
            answer = {**message, "content": content, "stop_reason": "tool_use" if b.tool else "end_turn"}
            if b.report_usage:
                answer["usage"] = usage
            self.completed += 1
            return web.json_response(answer)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def event(kind: str, obj: dict[str, Any]) -> None:
            await resp.write(f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **obj}).encode()
                             + b"\n\n")

        try:
            start_usage = {**usage, "output_tokens": 1} if b.report_usage else {}
            await event("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                                      "usage": start_usage}})
            await event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            await event("ping", {})
            for i, w in enumerate(words):
                if b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                if b.error_after is not None and i == b.error_after:
                    await event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
                    await resp.write_eof()
                    return resp
                await event("content_block_delta", {"index": 0, "delta": {"type": "text_delta",
                                                                          "text": w if i == 0 else " " + w}})
            await event("content_block_stop", {"index": 0})
            if b.tool:
                name, args = b.tool
                await event("content_block_start", {"index": 1, "content_block": {
                    "type": "tool_use", "id": "toolu_standin", "name": name, "input": {}}})
                for piece in (args[:len(args) // 2], args[len(args) // 2:]):
                    await event("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta",
                                                                              "partial_json": piece}})
                await event("content_block_stop", {"index": 1})
            final = {"output_tokens": completion} if b.report_usage else {}
            await event("message_delta", {"delta": {"stop_reason": "tool_use" if b.tool else "end_turn",
                                                    "stop_sequence": None}, "usage": final})
            await event("message_stop", {})
            if b.linger:
                await asyncio.sleep(b.linger)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.cut += 1
            raise
        self.completed += 1
        return resp

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        if self.record:
            self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        b = self.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.status >= 400:
            err = b.error or {"error": {"message": "stand-in failure", "type": "server_error", "code": None}}
            return web.json_response(err, status=b.status)
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 10**9
        words = b.text.split(" ")[:limit]
        prompt, completion = b.usage or (_prompt_tokens(body), len(words))
        if b.fill and limit < 10**9:
            completion = limit
        total = prompt + completion
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": total}
        if b.cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": b.cached}
        base = {"id": "chatcmpl-standin", "created": int(time.time()), "model": body["model"], **b.extra}
        if not body.get("stream"):
            answer = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "tool_calls" if b.tool else "stop",
                             "message": {"role": "assistant", "content": " ".join(words)}}],
            }
            if b.tool:
                answer["choices"][0]["message"]["tool_calls"] = [{"id": "call_standin", "type": "function",
                                                                  "function": {"name": b.tool[0],
                                                                               "arguments": b.tool[1]}}]
            if b.report_usage:
                answer["usage"] = usage
            self.completed += 1
            return web.json_response(answer, headers=b.headers or None)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **b.headers})
        await resp.prepare(request)
        include = bool((body.get("stream_options") or {}).get("include_usage")) and b.report_usage
        chunk = {**base, "object": "chat.completion.chunk"}

        async def event(obj: Any) -> None:
            await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        try:
            await event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            for i, w in enumerate(words):
                if b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                delta = {"content": w if i == 0 else " " + w}
                await event({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            if b.tool:
                name, args = b.tool
                first = {"index": 0, "id": "call_standin", "type": "function",
                         "function": {"name": name, "arguments": args[:len(args) // 2]}}
                await event({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
                rest = {"index": 0, "function": {"arguments": args[len(args) // 2:]}}
                await event({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [rest]}}]})
            finish = "tool_calls" if b.tool else "stop"
            await event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if include:
                await event({**chunk, "choices": [], "usage": usage})
            await resp.write(b"data: [DONE]\n\n")
            if b.linger:
                await asyncio.sleep(b.linger)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.cut += 1
            raise
        self.completed += 1
        return resp

    def __enter__(self) -> Standin:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
            self._runner = runner
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(20)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(20)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    s = Standin(record=False)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    web.run_app(s.app(), sock=sock, access_log=None, print=None)


if __name__ == "__main__":
    main()
