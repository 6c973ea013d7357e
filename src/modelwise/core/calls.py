"""The worst case of one model call: a conservative count of its input tokens and the most output the
money left can pay for. Pure functions; the gateway reserves their product before it calls a provider."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Tokens added per message by the chat formats (role, separators); OpenAI's documented overhead is 3-4,
# others' templates are a little longer: 8 leaves room for them.
PER_MESSAGE = 8
PER_REQUEST = 8  # the reply's priming tokens
PER_IMAGE = 2_000  # an image part (a high-detail image is at most ~1,600 tokens at OpenAI)
# The output granted when neither the client nor the model's listing bounds it.
DEFAULT_MAX_OUTPUT = 32_768

_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_DROP_PUNCT = str.maketrans("", "", _PUNCT)


def text_tokens(text: str) -> int:
    """An upper bound for the tokens of `text` under the usual BPE tokenizers: ASCII letters, digits and
    whitespace at 3 characters a token (they average about 4), every ASCII punctuation character a
    token of its own, and every other character as many tokens as its UTF-8 bytes (a byte-level
    tokenizer never spends more on it)."""
    if not text:
        return 0
    plain = text.translate(_DROP_PUNCT)
    punct = len(text) - len(plain)
    if plain.isascii():
        return math.ceil(len(plain) / 3) + punct
    ascii_chars = sum(1 for c in plain if c < "\x80")
    other_bytes = len(plain.encode("utf-8", "surrogatepass")) - ascii_chars
    return math.ceil(ascii_chars / 3) + punct + other_bytes


def _content_tokens(content: Any, dumps: Callable[[Any], str]) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        n = 0
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                n += text_tokens(part["text"])
            elif isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image", "image"):
                n += PER_IMAGE
            else:
                n += text_tokens(dumps(part))
        return n
    return text_tokens(dumps(content))


def input_tokens(
    messages: Iterable[Mapping[str, Any]], tools: Any = None, dumps: Callable[[Any], str] = str
) -> int:
    """A conservative count of a chat request's input: every message's content, name and tool calls
    (`text_tokens`), `PER_MESSAGE` for each, `PER_IMAGE` for each image, the tools' JSON and
    `PER_REQUEST`. `dumps` turns a non-text part into text (the JSON encoder)."""
    n = PER_REQUEST
    for m in messages:
        n += PER_MESSAGE + _content_tokens(m.get("content"), dumps)
        for key in ("name", "role", "tool_call_id"):
            v = m.get(key)
            if isinstance(v, str):
                n += text_tokens(v)
        for key in ("tool_calls", "function_call"):
            if m.get(key) is not None:
                n += text_tokens(dumps(m[key]))
    if tools:
        n += text_tokens(dumps(tools))
    return n


def output_ceiling(
    requested: int | None, max_output: int | None, context_window: int | None, tin: int
) -> int:
    """The most output a call may produce before money is counted: what the client asked for, the model's
    maximum output and what its context window leaves after the input (`DEFAULT_MAX_OUTPUT` when none
    of them says). May be 0 or less when the input alone fills the window."""
    bounds = [b for b in (requested, max_output) if b is not None]
    if context_window is not None:
        bounds.append(context_window - tin)
    return min(bounds) if bounds else DEFAULT_MAX_OUTPUT


def affordable_output(cost: Callable[[int, int], float], tin: int, cap: float, ceiling: int) -> int:
    """The most output tokens, at most `ceiling`, for which `cost(tin, out)` stays within `cap`
    (cost grows linearly with the output at a fixed input); -1 when not even the input fits."""
    if ceiling < 0 or cost(tin, 0) > cap:
        return -1
    if cost(tin, ceiling) <= cap:
        return ceiling
    base = cost(tin, 0)
    per_token = (cost(tin, 1_000_000) - base) / 1_000_000
    out = min(ceiling, max(0, math.floor((cap - base) / per_token)))
    while out > 0 and cost(tin, out) > cap:  # float rounding at the edge
        out -= 1
    return out


# The Anthropic Messages format: the tool-use system prompt the provider adds when a request has tools (a
# few hundred tokens), and the definition of a tool of its own (`bash_…`, `text_editor_…`: up to ~700).
ANTHROPIC_TOOL_PROMPT = 600
ANTHROPIC_DEFINED_TOOL = 1_000
# Tools the provider runs itself, billed beyond the call's tokens (per search, per container hour) and
# feeding it input no count of the request bounds: the gateway cannot cap their cost.
SERVER_TOOL_PREFIXES = ("web_search", "web_fetch", "code_execution", "mcp", "tool_search")


def anthropic_input_tokens(
    system: Any, messages: Iterable[Mapping[str, Any]], tools: Any = None, dumps: Callable[[Any], str] = str
) -> int:
    """A conservative count of an Anthropic Messages request's input: `input_tokens` of its messages with
    the system prompt as one more, its tools' JSON, and the prompt the provider adds for tools."""
    msgs = list(messages)
    if system:
        msgs.append({"role": "system", "content": system})
    n = input_tokens(msgs, tools, dumps)
    if tools:
        n += ANTHROPIC_TOOL_PROMPT
        n += ANTHROPIC_DEFINED_TOOL * sum(
            1 for t in tools if isinstance(t, Mapping) and t.get("type") not in (None, "custom")
        )
    return n


def server_tool(tools: Any) -> str | None:
    """The type of the first tool in an Anthropic `tools` list the provider runs itself, or None."""
    for t in tools or ():
        kind = t.get("type") if isinstance(t, Mapping) else None
        if isinstance(kind, str) and kind.startswith(SERVER_TOOL_PREFIXES):
            return kind
    return None
