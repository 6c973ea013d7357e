"""Token usage as providers report it (OpenAI's and Anthropic's `usage` objects), and what a stream
carried: its final usage, or a conservative count of its content when the stream was cut before the
usage came."""

from __future__ import annotations

from typing import Any

import orjson

from modelwise.core.calls import text_tokens


def reported(usage: Any) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) of an OpenAI `usage` object, or None when it has neither."""
    if not isinstance(usage, dict):
        return None
    tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
    ok = [isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (tin, tout)]
    if not any(ok):
        return None
    return (tin if ok[0] else 0), (tout if ok[1] else 0)  # type: ignore[return-value]


def cached_of(usage: Any, prompt_tokens: int) -> int:
    """The prompt tokens an OpenAI `usage` object says were read from the cache
    (`prompt_tokens_details.cached_tokens`); 0 when absent or not a count within the prompt."""
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    n = details.get("cached_tokens") if isinstance(details, dict) else None
    if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= prompt_tokens:
        return n
    return 0


def _delta_text(chunk: Any) -> list[str]:
    out: list[str] = []
    if not isinstance(chunk, dict):
        return out
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            v = delta.get(key)
            if isinstance(v, str):
                out.append(v)
        for call in delta.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                out.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
    return out


class StreamTally:
    """Reads the server-sent events of a chat-completion stream as its bytes pass through: only an event
    that carries a `usage` object is parsed; the others are kept as bytes and parsed only if the stream
    ends without usage (to count what was streamed)."""

    __slots__ = ("usage", "cached", "strip", "done", "_buf", "_payloads")
    failed = False  # an OpenAI stream has no error event of its own

    def __init__(self, strip: bool = False) -> None:
        """`strip`: drop the usage-only event (no choices) from what is passed on, for a client that did
        not ask for usage (the gateway asks for it upstream either way)."""
        self.usage: tuple[int, int] | None = None
        self.cached = 0  # of the usage's prompt tokens, those read from the cache
        self.strip = strip
        self.done = False  # its `[DONE]` came: the answer is whole
        self._buf = b""
        self._payloads: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        """Read `data`; returns the bytes to pass on: `data` itself, or with `strip` the complete events
        but a usage-only one."""
        buf = self._buf + data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        kept: list[bytes] = []
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            event, buf = buf[:end], buf[end + 2:]
            drop = False
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if not payload or payload == b"[DONE]":
                    self.done = self.done or payload == b"[DONE]"
                    continue
                self._payloads.append(payload)
                if b'"usage":{' in payload or b'"usage": {' in payload:
                    try:
                        chunk = orjson.loads(payload)
                        got = reported(chunk.get("usage"))
                        if got is not None:
                            self.usage, self.cached = got, cached_of(chunk["usage"], got[0])
                        drop = not chunk.get("choices")
                    except (orjson.JSONDecodeError, AttributeError):
                        pass
            if self.strip and not drop:
                kept.append(event + b"\n\n")
        self._buf = buf
        return b"".join(kept) if self.strip else data

    def rest(self) -> bytes:
        """With `strip`: what is left of an event the stream ended in the middle of."""
        return self._buf if self.strip else b""

    def output_tokens(self) -> int:
        """A conservative count of the output streamed so far (`text_tokens` of the deltas' text)."""
        parts: list[str] = []
        for payload in self._payloads:
            try:
                parts.extend(_delta_text(orjson.loads(payload)))
            except orjson.JSONDecodeError:
                parts.append(payload.decode("utf-8", "replace"))
        return text_tokens("".join(parts))


def _count(usage: dict[str, Any], key: str) -> int | None:
    v = usage.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def anthropic_reported(usage: Any) -> tuple[int, int, int, int, int] | None:
    """(input tokens, output tokens, cache-read tokens, cache-write tokens, of those the ones kept for an
    hour) of an Anthropic `usage` object, the input being the whole prompt (Anthropic's `input_tokens`
    leaves out the cached part; the hour's writes are `cache_creation.ephemeral_1h_input_tokens`);
    None when it has neither input nor output."""
    if not isinstance(usage, dict):
        return None
    tin, tout = _count(usage, "input_tokens"), _count(usage, "output_tokens")
    read = _count(usage, "cache_read_input_tokens") or 0
    write = _count(usage, "cache_creation_input_tokens") or 0
    if tin is None and tout is None:
        return None
    split = usage.get("cache_creation")
    long = (_count(split, "ephemeral_1h_input_tokens") or 0) if isinstance(split, dict) else 0
    return (tin or 0) + read + write, tout or 0, read, write, min(long, write)


def _anthropic_delta_text(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return []
    part = event.get("delta") if event.get("type") == "content_block_delta" else event.get("content_block")
    if not isinstance(part, dict):
        return []
    return [v for k in ("text", "partial_json", "thinking", "name") if isinstance(v := part.get(k), str)]


class AnthropicTally:
    """Reads an Anthropic Messages event stream as its bytes pass through unchanged: only `message_start`,
    `message_delta` and `error` events are parsed (the usage is in the first two); the content deltas
    are kept as bytes and parsed only if the stream ends before its `message_delta`."""

    __slots__ = ("start", "final", "failed", "done", "_buf", "_payloads")

    def __init__(self) -> None:
        self.start: tuple[int, int, int, int, int] | None = None  # message_start's usage
        self.final: tuple[int, int, int, int, int] | None = None  # with message_delta's output (and input)
        self.failed = False
        self.done = False  # its message_stop came: the answer is whole
        self._buf = b""
        self._payloads: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            event, buf = buf[:end], buf[end + 2:]
            name = b""
            for line in event.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    payload = line[5:].strip()
                    if name in (b"content_block_delta", b"content_block_start", b"ping"):
                        if name != b"ping":
                            self._payloads.append(payload)
                    elif payload:
                        self._read(payload)
        self._buf = buf
        return data

    def _read(self, payload: bytes) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            self.start = anthropic_reported(message.get("usage") if isinstance(message, dict) else None)
        elif kind == "message_delta":
            usage = event.get("usage")
            if isinstance(usage, dict) and _count(usage, "output_tokens") is not None:
                # message_delta's counts are cumulative; the input ones are there in newer versions only
                given = {k: v for k, v in usage.items() if v is not None}
                if self.start is not None:
                    tin, _, read, write, long = self.start
                    given.setdefault("input_tokens", tin - read - write)
                    given.setdefault("cache_read_input_tokens", read)
                    given.setdefault("cache_creation_input_tokens", write)
                    given.setdefault("cache_creation", {"ephemeral_1h_input_tokens": long})
                self.final = anthropic_reported(given)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.failed = True
        elif kind in ("content_block_delta", "content_block_start"):
            self._payloads.append(payload)

    def rest(self) -> bytes:
        return b""

    def output_tokens(self) -> int:
        """A conservative count of the output streamed so far (`text_tokens` of the deltas' text)."""
        parts: list[str] = []
        for payload in self._payloads:
            try:
                parts.extend(_anthropic_delta_text(orjson.loads(payload)))
            except orjson.JSONDecodeError:
                parts.append(payload.decode("utf-8", "replace"))
        return text_tokens("".join(parts))
