"""Anthropic Messages on `modelwise serve` (for Claude Code and the Anthropic SDK): `POST /v1/messages`
routes among the models called in the Anthropic format, reserves the worst case, calls the provider,
passes its answer or event stream through and settles at the usage it reports; `/v1/messages/count_tokens`
counts. Errors are Anthropic error objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from modelwise.core.calls import anthropic_input_tokens, server_tool
from modelwise.gateway import translate, upstream
from modelwise.gateway.attempts import Failure, retryable
from modelwise.gateway.common import (
    AUTO,
    MAX_NAME,
    Call,
    CallableSets,
    Invalid,
    Relay,
    answer,
    callable_ids,
    check_agent,
    choose,
    dumps,
    load_object,
    positive_int,
    post,
    required_capabilities,
    retry_after,
)
from modelwise.gateway.inference import compile_rules
from modelwise.gateway.usage import AnthropicTally, StreamTally, anthropic_reported, cached_of, reported

PREFIX = "/v1/messages"
VERSION = "2023-06-01"  # sent upstream when the client names none
SESSION_HEADER = "x-claude-code-session-id"  # Claude Code's, one id per session
THINKING_MIN = 1_024  # the least thinking budget the format accepts
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
LISTING = "GET /v1/models"
# what ends the part of a stream read before it is passed on (the first content, an error, its end)
_COMMIT = (b"event: content_block_delta", b"event: error", b"event: message_stop")


def error_body(status: int, message: str) -> dict[str, Any]:
    """The Anthropic error object for `status`, with a one-line message."""
    line = " ".join(str(message).split())[:500] or "error"
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": line}}


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(error_body(status, message)), status, dict(headers or {}),
                    media_type="application/json")


def _broke(exc: BaseException) -> bytes:
    """The error event for a stream the provider broke off."""
    body = orjson.dumps(error_body(502, f"the provider's stream broke: {type(exc).__name__}"))
    return b"event: error\ndata: " + body + b"\n\n"


def models_listed(service: Any) -> list[dict[str, Any]]:
    """The models as the Anthropic format lists them (asked for with an `anthropic-version` header, as
    Claude Code does): auto, auto:TYPE and the models the gateway calls (in either format)."""
    reach = service.reach
    ids = [AUTO, *(f"{AUTO}:{t}" for t in service.settings.task_types), *callable_ids(reach, None)]
    data = []
    for mid in ids:
        spec = None if mid.startswith(AUTO) else service.registry.resolve(mid)
        name = spec.name if spec is not None else f"modelwise {mid}"
        data.append({"type": "model", "id": mid, "display_name": name, "created_at": "1970-01-01T00:00:00Z"})
    return data


def models_body(service: Any) -> bytes:
    """`GET /v1/models` in the Anthropic format."""
    data = models_listed(service)
    first, last = data[0]["id"], data[-1]["id"]
    return orjson.dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})


def _check(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any, Any]:
    """(messages, system, tools) of a Messages request, checked."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(400, "messages must be a non-empty array of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise Invalid(400, f"messages[{i}] must be an object whose role is user or assistant")
        if not isinstance(m.get("content"), str | list):
            raise Invalid(400, f"messages[{i}].content must be a string or an array of content blocks")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise Invalid(400, "system must be a string or an array of text blocks")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise Invalid(400, "tools must be an array")
    kind = server_tool(tools)
    if kind is not None or body.get("mcp_servers"):
        what = f"the server tool {kind[:60]!r}" if kind else "mcp_servers"
        raise Invalid(400, f"{what} runs at the provider and is billed beyond the call's tokens, so the "
                      "gateway cannot cap its cost; call the provider directly for it")
    return messages, system, tools


def _agent(request: Request, body: dict[str, Any]) -> str | None:
    """The agent: `X-Modelwise-Agent`, else Claude Code's session (`claude-code:ID`), else
    `metadata.user_id` when it is a short string (Claude Code's own is a long JSON blob)."""
    named = request.headers.get("x-modelwise-agent")
    if named is not None:
        return check_agent(named, "X-Modelwise-Agent")
    session = request.headers.get(SESSION_HEADER)
    if session:
        return check_agent("claude-code:" + session, "X-Claude-Code-Session-Id")
    meta = body.get("metadata")
    user = meta.get("user_id") if isinstance(meta, dict) else None
    return user if isinstance(user, str) and 0 < len(user) <= MAX_NAME else None


def _upstream_headers(target: upstream.Target, request: Request) -> dict[str, str]:
    """The target's headers (its key) with the client's `anthropic-version` and `anthropic-beta`."""
    headers = {**target.headers, "anthropic-version": request.headers.get("anthropic-version") or VERSION}
    beta = request.headers.get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return headers


def _fit_thinking(body: dict[str, Any], max_tokens: int) -> None:
    """Keep an extended-thinking budget below the `max_tokens` granted (the format requires it): lowered
    to fit, or thinking turned off when not even its least budget fits."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if isinstance(budget, int) and budget >= max_tokens:
        if max_tokens - 1 >= THINKING_MIN:
            body["thinking"] = {**thinking, "budget_tokens": max_tokens - 1}
        else:
            body["thinking"] = {"type": "disabled"}


def mount(app: FastAPI, service: Any) -> None:
    """Add the Anthropic Messages routes to `app` (behind the server's guard and token check)."""
    types = service.settings.task_types
    gw = service.settings.gateway
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=gw.connect_timeout_seconds, sock_read=gw.timeout_seconds
    )
    callable_sets = CallableSets()
    rules = compile_rules(gw.rules)  # the config's inference rules, tried before the built-in ones

    def request_of(body: dict[str, Any], request: Request, api: str | None = "anthropic",
                   ) -> tuple[list, Any, Any, str, str, str | None]:
        messages, system, tools = _check(body)
        shown = [{"role": "system", "content": system}, *messages] if system else messages
        task_type, how, model_id = choose(service, types, body.get("model"),
                                          request.headers.get("x-modelwise-task-type"), shown,
                                          lambda reach: callable_sets(reach, api), LISTING, tools, rules)
        return messages, system, tools, task_type, how, model_id

    async def messages(request: Request) -> Response:
        try:
            return await _messages(request)
        except Invalid as exc:
            return error(exc.status, str(exc))

    async def count_tokens(request: Request) -> Response:
        try:
            return await _count_tokens(request)
        except Invalid as exc:
            return error(exc.status, str(exc))

    post(app, PREFIX, messages, error)
    post(app, PREFIX + "/count_tokens", count_tokens, error)

    async def _messages(request: Request) -> Response:
        raw = await request.body()
        body = load_object(raw)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise Invalid(400, "stream must be true or false")
        wanted = positive_int(body, "max_tokens")
        agent = _agent(request, body)
        # a request the OpenAI format can carry may go to a model of either format (translated)
        api = None if translate.translatable_anthropic(body) else "anthropic"
        messages, system, tools, task_type, how, model_id = request_of(body, request, api)
        tin = anthropic_input_tokens(system, messages, tools, dumps)
        caps = required_capabilities(body, messages)
        cache_writes = b'"cache_control"' in raw
        # a write kept for an hour costs more: reserved as such when the request may ask for one
        long_writes = cache_writes and b'"1h"' in raw

        kw: dict[str, Any] = {"model_id": model_id, "agent": agent, "type_from": how, "api": api,
                              "cache_writes": cache_writes, "long_cache_writes": long_writes}
        if caps:
            kw["capabilities"] = caps

        return await answer(service, task_type, tin, wanted, kw,
                            lambda call: _call(call, request, dict(body), stream, tin), error)

    async def _call(call: Call, request: Request, body: dict[str, Any], stream: bool, tin: int) -> Any:
        """One attempt: the upstream call for `call`'s decision, in its provider's format."""
        target = upstream.target(service.reach, call.decision["provider"])
        return await exchange(call, target, body, request.headers, stream, tin, timeout, gw.timeout_seconds)

    async def _count_tokens(request: Request) -> Response:
        """The provider's own count for a model asked for by name, else modelwise's conservative count
        (the one it reserves with). Nothing is routed or recorded."""
        body = load_object(await request.body())
        messages, system, tools, _, _, model_id = request_of(body, request, None)  # any model listed
        offer = service.reach.offer(model_id) if model_id is not None else None
        target = upstream.target(service.reach, offer.provider) if offer is not None else None
        if offer is None or target is None or target.api != "anthropic":
            n = anthropic_input_tokens(system, messages, tools, dumps)
            return Response(orjson.dumps({"input_tokens": n}), media_type="application/json")
        body["model"] = offer.upstream_id
        try:
            async with upstream.session().post(target.url + "/count_tokens", data=orjson.dumps(body),
                                               headers=_upstream_headers(target, request),
                                               timeout=timeout) as resp:
                payload = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return error(502, f"provider {offer.provider} could not be reached: {type(exc).__name__}")
        if resp.status >= 400:
            return _upstream_error(resp.status, payload, offer.provider, {})
        return Response(payload, 200, media_type="application/json")


async def exchange(call: Call, target: upstream.Target | None, body: dict[str, Any],
                   headers: Mapping[str, str], stream: bool, tin: int, timeout: aiohttp.ClientTimeout,
                   timeout_seconds: float, client: tuple[Any, Callable[[BaseException], bytes]] | None = None,
                   ) -> Any:
    """One attempt of a call to `target`, in the target's format, from an Anthropic-format client or
    (`client`: its format's error answer and stream error event) an OpenAI-format one reaching an
    Anthropic-format model: the request translated when the formats differ, the answer or event stream
    translated back, settled at the usage the provider reports. Returns the answer for the client, or a
    Failure when the provider failed before anything reached the client (settled either way).
    `headers`: the client's (its `anthropic-version` and `anthropic-beta`)."""
    decision = call.decision
    provider = decision["provider"]
    err, broke = client or (error, _broke)
    client_api = "anthropic" if client is None else "openai"
    if target is None or target.api not in ("anthropic", "openai") or target.api == client_api == "openai":
        call.settle("error", cost=0.0)
        return err(502, f"provider {provider} is not on", headers=call.headers())
    up, model, granted = target.api, decision["upstreamId"], decision["maxTokens"]
    if up == client_api:
        sent = {**body, "model": model, "max_tokens": granted}
        _fit_thinking(sent, granted)
    elif up == "anthropic":
        sent = translate.openai_to_anthropic_request(body, model, granted)
    else:
        sent = translate.anthropic_to_openai_request(body, model, granted)
    if up == "anthropic":
        beta = headers.get("anthropic-beta") if client_api == "anthropic" else None
        version = headers.get("anthropic-version") if client_api == "anthropic" else None
        send_headers = {**target.headers, "anthropic-version": version or VERSION}
        if beta:
            send_headers["anthropic-beta"] = beta
    else:
        send_headers = target.headers

    def lost(exc: BaseException) -> Failure:
        """The provider got the call and then went silent or broke off before answering: it may bill for
        it, so the attempt is settled at its reservation (the worst case the budget granted)."""
        call.settle("error", cost=decision["estimatedCost"])
        if isinstance(exc, TimeoutError):
            return call.failure("timeout", err(
                504, f"provider {provider} did not answer within {timeout_seconds:g} s",
                headers=call.headers()))
        return call.failure("broke off", err(
            502, f"provider {provider} broke off: {type(exc).__name__}", headers=call.headers()))

    try:
        resp = await upstream.session().post(target.url, data=orjson.dumps(sent), headers=send_headers,
                                             timeout=timeout)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        call.settle("error", cost=0.0)  # nothing reached the provider
        return call.failure("refused", err(
            502, f"provider {provider} could not be reached: {type(exc).__name__}", headers=call.headers()
        ), provider_wide=True)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return lost(exc)
    if resp.status >= 400 or not stream:
        try:
            payload = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.close()
            return lost(exc)
        resp.release()
        if resp.status >= 400:
            call.settle("error", cost=0.0)
            if up == client_api:
                answer = _upstream_error(resp.status, payload, provider, call.headers())
            else:
                answer = err(resp.status, f"provider {provider} answered {resp.status}: "
                             f"{translate.error_message(payload)}", headers=call.headers())
            if retryable(resp.status):
                return call.failure(str(resp.status), answer, retry_after=retry_after(resp.headers))
            return answer
        return Response(_settle_answer(call, payload, up, client_api, tin), 200, call.headers(),
                        media_type="application/json")
    # the stream up to its first content (or error) before the answer is committed to: until then
    # another model can take the call (the provider may be overloaded after its message_start)
    first = b""
    marks = _COMMIT if up == "anthropic" else (b"data:",)
    try:
        while not any(mark in first for mark in marks) and len(first) < 65_536:
            chunk = await resp.content.readany()
            if not chunk:
                break
            first += chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        resp.close()
        return lost(exc)
    if up == "anthropic":
        at, content = first.find(b"event: error"), first.find(b"event: content_block_delta")
        if at >= 0 and (content < 0 or at < content):  # an error before its first token
            resp.close()
            call.settle("error", cost=0.0)
            return call.failure("error event", err(529, f"provider {provider}: {_event_message(first[at:])}",
                                                   headers=call.headers()))
    tally: Any
    if up == client_api:
        tally = AnthropicTally()
    elif up == "anthropic":
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        tally = translate.AnthropicToOpenAI(asked)
    else:
        tally = translate.OpenAIToAnthropic()
    read = getattr(tally, "inner", tally)

    def finish(outcome: str) -> None:
        if isinstance(read, StreamTally):
            if read.usage is not None:
                call.settle(outcome, read.usage, cached=read.cached)
            else:
                call.settle(outcome, (tin, read.output_tokens()))
        elif read.final is not None:
            u = read.final
            call.settle(outcome, u[:2], cached=u[2], written=u[3], written_long=u[4])
        elif read.start is not None:  # cut before its end: the input as reported, the output counted
            u = read.start
            call.settle(outcome, (u[0], max(u[1], read.output_tokens())), cached=u[2], written=u[3],
                        written_long=u[4])
        else:
            call.settle(outcome, (tin, read.output_tokens()))

    return Relay(call, resp, tally, broke, finish, first)


def _settle_answer(call: Call, payload: bytes, up: str, client: str, tin: int) -> bytes:
    """Settle a whole answer at the usage it reports (at the reservation's output when it reports none)
    and return it for the client, translated when the formats differ."""
    granted = call.decision["maxTokens"]
    try:
        parsed = orjson.loads(payload)
        raw_usage = parsed.get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        parsed, raw_usage = None, None
    if up == "anthropic":
        usage = anthropic_reported(raw_usage)
        if usage is None:
            call.settle("success", (tin, granted))
        else:
            call.settle("success", usage[:2], cached=usage[2], written=usage[3], written_long=usage[4])
        if client != up and isinstance(parsed, dict):
            return orjson.dumps(translate.anthropic_to_openai_answer(parsed, usage))
        return payload
    got = reported(raw_usage)
    cached = cached_of(raw_usage, got[0]) if got is not None else 0
    call.settle("success", got or (tin, granted), cached=cached)
    if isinstance(parsed, dict):
        return orjson.dumps(translate.openai_to_anthropic_answer(parsed, got, cached))
    return payload


def _event_message(data: bytes) -> str:
    """The message of the `error` event at the start of `data`."""
    for line in data.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                err = orjson.loads(line[5:]).get("error")
                return str(err.get("message") or err.get("type"))
            except (orjson.JSONDecodeError, AttributeError):
                break
    return "error event"


def _upstream_error(status: int, payload: bytes, provider: str, headers: Mapping[str, str]) -> Response:
    """The provider's error answer: its own Anthropic error object when it sent one, else one naming it."""
    try:
        parsed = orjson.loads(payload)
        if isinstance(parsed, dict) and parsed.get("type") == "error" and isinstance(
            parsed.get("error"), dict
        ):
            return Response(payload, status, dict(headers), media_type="application/json")
    except orjson.JSONDecodeError:
        pass
    text = payload[:200].decode("utf-8", "replace")
    return error(status, f"provider {provider} answered {status}: {text}", headers=headers)
