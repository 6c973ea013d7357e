"""Translation between OpenAI Chat Completions and Anthropic Messages: requests, answers and event streams
(messages, system prompt, images, tools and tool calls, stop reasons, usage). A request using a feature
the other format lacks is not translated (`translatable_*` say so) and is routed within its own format."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from modelwise.gateway.common import Invalid
from modelwise.gateway.usage import AnthropicTally, StreamTally

# request fields each side can carry over (anything else keeps the request in its own format)
OPENAI_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "stop",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "n",
    }
)
ANTHROPIC_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
    }
)
_ANTHROPIC_BLOCKS = frozenset({"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"})
_OPENAI_PARTS = frozenset({"text", "image_url"})
STOP_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
FINISH_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text", "") for p in content or () if isinstance(p, dict) and p.get("type") == "text"
    )


def translatable_openai(body: Mapping[str, Any]) -> bool:
    """Whether a Chat Completions request can be sent to a model in the Anthropic format unchanged in
    meaning (text and image parts, function tools, no response format, log probabilities or audio)."""
    if not body.keys() <= OPENAI_FIELDS:
        return False
    for t in body.get("tools") or ():
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(t.get("function"), dict):
            return False
    for m in body.get("messages") or ():
        if m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            return False
        content = m.get("content")
        if isinstance(content, list) and any(
            not isinstance(p, dict) or p.get("type") not in _OPENAI_PARTS for p in content
        ):
            return False
    return True


def translatable_anthropic(body: Mapping[str, Any]) -> bool:
    """Whether a Messages request can be sent to a model in the OpenAI format unchanged in meaning (text,
    images, custom tools and tool results; no extended thinking, documents or server tools)."""
    if not body.keys() <= ANTHROPIC_FIELDS:
        return False
    for t in body.get("tools") or ():
        if not isinstance(t, dict) or t.get("type") not in (None, "custom") or "input_schema" not in t:
            return False
    for m in body.get("messages") or ():
        content = m.get("content")
        if isinstance(content, list) and any(
            not isinstance(p, dict) or p.get("type") not in _ANTHROPIC_BLOCKS for p in content
        ):
            return False
    return True


# -- requests ------------------------------------------------------------------------------------------


def _image_to_anthropic(part: Mapping[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise Invalid(400, "an image_url part must carry a url")
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media = head[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out = []
    for part in content:
        if part.get("type") == "image_url":
            out.append(_image_to_anthropic(part))
        elif part.get("text"):
            out.append({"type": "text", "text": part["text"]})
    return out


def _tool_input(arguments: Any) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        raise Invalid(400, "a tool call's arguments must be a JSON object to reach this model") from None
    return value if isinstance(value, dict) else {"value": value}


def openai_to_anthropic_request(body: Mapping[str, Any], model: str, max_tokens: int) -> dict[str, Any]:
    """A Chat Completions request as a Messages request for `model`, allowed `max_tokens`."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:  # the format wants the roles to alternate
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in body["messages"]:
        role = m["role"]
        if role in ("system", "developer"):
            system.append(_text_of(m.get("content")))
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": str(m.get("tool_call_id") or ""),
                        "content": _text_of(m.get("content")),
                    }
                ],
            )
        elif role == "assistant":
            blocks = _blocks(m.get("content"))
            for call in m.get("tool_calls") or ():
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id") or ""),
                        "name": fn.get("name", ""),
                        "input": _tool_input(fn.get("arguments")),
                    }
                )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        else:
            add("user", _blocks(m.get("content")) or [{"type": "text", "text": ""}])
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    if body.get("stream"):
        out["stream"] = True
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("temperature"), int | float):
        out["temperature"] = min(float(body["temperature"]), 1.0)  # the format's range is 0 to 1
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        out["tools"] = [
            {
                "name": t["function"].get("name", ""),
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in tools
        ]
        choice = body.get("tool_choice")
        if choice == "required":
            tc: dict[str, Any] = {"type": "any"}
        elif choice == "none":
            tc = {"type": "none"}
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            tc = {"type": "tool", "name": choice["function"].get("name", "")}
        else:
            tc = {"type": "auto"}
        if body.get("parallel_tool_calls") is False and tc["type"] != "none":
            tc["disable_parallel_tool_use"] = True
        out["tool_choice"] = tc
    return out


def _image_to_openai(block: Mapping[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    else:
        url = source.get("url", "")
    return {"type": "image_url", "image_url": {"url": url}}


def anthropic_to_openai_request(body: Mapping[str, Any], model: str, max_tokens: int) -> dict[str, Any]:
    """A Messages request as a Chat Completions request for `model`, allowed `max_tokens`."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, str):
            messages.append({"role": m["role"], "content": content})
            continue
        if m["role"] == "assistant":
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            calls = [
                {
                    "id": b.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": b.get("name", ""),
                        "arguments": orjson.dumps(b.get("input") or {}).decode(),
                    },
                }
                for b in content
                if b.get("type") == "tool_use"
            ]
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
            continue
        parts: list[dict[str, Any]] = []
        for b in content:
            kind = b.get("type")
            if kind == "tool_result":  # a tool message of its own, before the rest of the turn
                result = b.get("content")
                text = result if isinstance(result, str) else _text_of(result)
                if b.get("is_error"):
                    text = "Error: " + text
                messages.append({"role": "tool", "tool_call_id": b.get("tool_use_id", ""), "content": text})
            elif kind == "text":
                parts.append({"type": "text", "text": b.get("text", "")})
            elif kind == "image":
                parts.append(_image_to_openai(b))
        if parts:
            plain = all(p["type"] == "text" for p in parts)
            messages.append(
                {"role": "user", "content": "".join(p["text"] for p in parts) if plain else parts}
            )
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        out["user"] = meta["user_id"]
    tools = body.get("tools")
    if tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name", ""),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
                },
            }
            for t in tools
        ]
        choice = body.get("tool_choice")
        tc: dict[str, Any] = choice if isinstance(choice, dict) else {}
        kind = tc.get("type")
        if kind == "any":
            out["tool_choice"] = "required"
        elif kind == "none":
            out["tool_choice"] = "none"
        elif kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": tc.get("name", "")}}
        if tc.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    return out


# -- answers -------------------------------------------------------------------------------------------


def openai_usage(tin: int, tout: int, read: int) -> dict[str, Any]:
    return {
        "prompt_tokens": tin,
        "completion_tokens": tout,
        "total_tokens": tin + tout,
        "prompt_tokens_details": {"cached_tokens": read},
    }


def anthropic_usage(tin: int, tout: int, read: int, write: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": tin - read - write,
        "output_tokens": tout,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }


def anthropic_to_openai_answer(answer: Mapping[str, Any], usage: tuple[int, ...] | None) -> dict:
    """A Messages answer as a chat completion (`usage`: as `anthropic_reported` read it)."""
    content = answer.get("content") or []
    text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    calls = [
        {
            "id": b.get("id", ""),
            "type": "function",
            "function": {"name": b.get("name", ""), "arguments": orjson.dumps(b.get("input") or {}).decode()},
        }
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    out: dict[str, Any] = {
        "id": "chatcmpl-" + str(answer.get("id", "")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": STOP_TO_OPENAI.get(answer.get("stop_reason") or "", "stop"),
            }
        ],
    }
    if usage is not None:
        out["usage"] = openai_usage(usage[0], usage[1], usage[2])
    return out


def openai_to_anthropic_answer(answer: Mapping[str, Any], usage: tuple[int, int] | None, cached: int) -> dict:
    """A chat completion as a Messages answer (`usage`: prompt and completion tokens as reported)."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {"arguments": fn.get("arguments")}
        content.append(
            {"type": "tool_use", "id": call.get("id", ""), "name": fn.get("name", ""), "input": args}
        )
    tin, tout = usage or (0, 0)
    return {
        "id": "msg_" + str(answer.get("id", "")),
        "type": "message",
        "role": "assistant",
        "model": answer.get("model"),
        "content": content,
        "stop_reason": FINISH_TO_ANTHROPIC.get(choice.get("finish_reason") or "", "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(tin, tout, cached),
    }


def error_message(payload: bytes) -> str:
    """The message of a provider's error answer in either format (its text when it is neither)."""
    try:
        parsed = orjson.loads(payload)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    except orjson.JSONDecodeError:
        pass
    return payload[:200].decode("utf-8", "replace")


# -- streams -------------------------------------------------------------------------------------------


def _events(buf: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The complete server-sent events in `buf` as (event name, data), and what is left."""
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")
    out: list[tuple[bytes, bytes]] = []
    while True:
        end = buf.find(b"\n\n")
        if end < 0:
            return out, buf
        event, buf = buf[:end], buf[end + 2 :]
        name, data = b"", b""
        for line in event.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if data:
            out.append((name, data))


def _sse_anthropic(kind: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **obj}) + b"\n\n"


def _sse_openai(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class AnthropicToOpenAI:
    """An Anthropic event stream turned into chat-completion chunks as it passes; the usage is read by
    an `AnthropicTally` (`inner`). `include_usage`: end with a usage chunk (the client asked for one)."""

    def __init__(self, include_usage: bool) -> None:
        self.inner = AnthropicTally()
        self.include_usage = include_usage
        self.failed = False
        self._buf = b""
        self._id, self._model, self._created = "chatcmpl-", None, int(time.time())
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._finish: str | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse_openai(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    def feed(self, data: bytes) -> bytes:
        self.inner.feed(data)
        events, self._buf = _events(self._buf + data)
        out: list[bytes] = []
        for _, payload in events:
            try:
                ev = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            kind = ev.get("type") if isinstance(ev, dict) else None
            if kind == "message_start":
                msg = ev.get("message") or {}
                self._id, self._model = "chatcmpl-" + str(msg.get("id", "")), msg.get("model")
                out.append(self._chunk({"role": "assistant", "content": ""}))
            elif kind == "content_block_start":
                block = ev.get("content_block") or {}
                if block.get("type") == "tool_use":
                    i = self._tools[ev.get("index", 0)] = len(self._tools)
                    out.append(
                        self._chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": i,
                                        "id": block.get("id", ""),
                                        "type": "function",
                                        "function": {"name": block.get("name", ""), "arguments": ""},
                                    }
                                ]
                            }
                        )
                    )
            elif kind == "content_block_delta":
                delta = ev.get("delta") or {}
                if delta.get("type") == "text_delta":
                    out.append(self._chunk({"content": delta.get("text", "")}))
                elif delta.get("type") == "input_json_delta" and ev.get("index", 0) in self._tools:
                    i = self._tools[ev.get("index", 0)]
                    out.append(
                        self._chunk(
                            {
                                "tool_calls": [
                                    {"index": i, "function": {"arguments": delta.get("partial_json", "")}}
                                ]
                            }
                        )
                    )
            elif kind == "message_delta":
                reason = (ev.get("delta") or {}).get("stop_reason") or ""
                self._finish = STOP_TO_OPENAI.get(reason, "stop")
                out.append(self._chunk({}, self._finish))
            elif kind == "message_stop":
                if self.include_usage and self.inner.final is not None:
                    tin, tout, read = self.inner.final[:3]
                    out.append(
                        _sse_openai(
                            {
                                "id": self._id,
                                "object": "chat.completion.chunk",
                                "created": self._created,
                                "model": self._model,
                                "choices": [],
                                "usage": openai_usage(tin, tout, read),
                            }
                        )
                    )
                out.append(b"data: [DONE]\n\n")
            elif kind == "error":
                self.failed = True
                err = ev.get("error") or {}
                out.append(
                    _sse_openai(
                        {
                            "error": {
                                "message": err.get("message", "error"),
                                "type": err.get("type", "api_error"),
                                "code": None,
                            }
                        }
                    )
                )
        return b"".join(out)

    def rest(self) -> bytes:
        return b""

    @property
    def done(self) -> bool:
        return self.inner.done


class OpenAIToAnthropic:
    """Chat-completion chunks turned into an Anthropic event stream as they pass; the usage is read by a
    `StreamTally` (`inner`)."""

    def __init__(self) -> None:
        self.inner = StreamTally()
        self.failed = False
        self._buf = b""
        self._started = False
        self._open: int | None = None  # the content block open now
        self._blocks = 0
        self._text_block: int | None = None
        self._tool_blocks: dict[int, int] = {}  # tool call index -> content block index
        self._finish: str | None = None
        self._ended = False
        self._tail: bytes | None = None

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_sse_anthropic("content_block_stop", {"index": self._open}))
            self._open = None

    def _open_block(self, out: list[bytes], block: dict[str, Any]) -> int:
        self._close(out)
        i = self._open = self._blocks
        self._blocks += 1
        out.append(_sse_anthropic("content_block_start", {"index": i, "content_block": block}))
        return i

    def _end(self, out: list[bytes]) -> None:
        if self._ended or not self._started:
            return
        self._ended = True
        self._close(out)
        usage = self.inner.usage or (0, 0)
        out.append(
            _sse_anthropic(
                "message_delta",
                {
                    "delta": {
                        "stop_reason": FINISH_TO_ANTHROPIC.get(self._finish or "", "end_turn"),
                        "stop_sequence": None,
                    },
                    "usage": anthropic_usage(usage[0], usage[1], self.inner.cached),
                },
            )
        )
        out.append(_sse_anthropic("message_stop", {}))

    def feed(self, data: bytes) -> bytes:
        self.inner.feed(data)
        events, self._buf = _events(self._buf + data)
        out: list[bytes] = []
        for _, payload in events:
            if payload == b"[DONE]":
                self._end(out)
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(chunk, dict):
                continue
            if isinstance(chunk.get("error"), dict):
                self.failed = True
                err = chunk["error"]
                out.append(
                    _sse_anthropic(
                        "error", {"error": {"type": "api_error", "message": str(err.get("message", "error"))}}
                    )
                )
                continue
            if not self._started:
                self._started = True
                out.append(
                    _sse_anthropic(
                        "message_start",
                        {
                            "message": {
                                "id": "msg_" + str(chunk.get("id", "")),
                                "type": "message",
                                "role": "assistant",
                                "model": chunk.get("model"),
                                "content": [],
                                "stop_reason": None,
                                "stop_sequence": None,
                                "usage": anthropic_usage(0, 0, 0),
                            }
                        },
                    )
                )
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    if self._text_block is None or self._open != self._text_block:
                        self._text_block = self._open_block(out, {"type": "text", "text": ""})
                    out.append(
                        _sse_anthropic(
                            "content_block_delta",
                            {"index": self._text_block, "delta": {"type": "text_delta", "text": text}},
                        )
                    )
                for call in delta.get("tool_calls") or ():
                    n = call.get("index", 0)
                    fn = call.get("function") or {}
                    if n not in self._tool_blocks:
                        self._tool_blocks[n] = self._open_block(
                            out,
                            {
                                "type": "tool_use",
                                "id": call.get("id", ""),
                                "name": fn.get("name", ""),
                                "input": {},
                            },
                        )
                        self._text_block = None
                    if fn.get("arguments"):
                        out.append(
                            _sse_anthropic(
                                "content_block_delta",
                                {
                                    "index": self._tool_blocks[n],
                                    "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]},
                                },
                            )
                        )
                if choice.get("finish_reason"):
                    self._finish = choice["finish_reason"]
        return b"".join(out)

    @property
    def done(self) -> bool:
        return self.inner.done

    def rest(self) -> bytes:
        """The end of the message for a stream that ended without `[DONE]` (once)."""
        if self._tail is None:
            out: list[bytes] = []
            if not self.failed:
                self._end(out)
            self._tail = b"".join(out)
        return self._tail
