"""Token usage as providers report it (OpenAI's `usage` object), and what a stream carried: its final
usage, or a conservative count of its content when the stream was cut before the usage came."""

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

    __slots__ = ("usage", "cached", "strip", "_buf", "_payloads")
    failed = False  # an OpenAI stream has no error event of its own

    def __init__(self, strip: bool = False) -> None:
        """`strip`: drop the usage-only event (no choices) from what is passed on, for a client that did
        not ask for usage (the gateway asks for it upstream either way)."""
        self.usage: tuple[int, int] | None = None
        self.cached = 0  # of the usage's prompt tokens, those read from the cache
        self.strip = strip
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
