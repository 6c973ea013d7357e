"""OpenAI Chat Completions on `modelwise serve`: `GET /v1/models` and `POST /v1/chat/completions` route
the call, reserve its worst case, call the chosen provider, pass its answer (or stream) through and
settle the decision at the usage it reports. Errors are OpenAI error objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from modelwise.core.calls import ANTHROPIC_TOOL_PROMPT, input_tokens
from modelwise.gateway import upstream
from modelwise.gateway.attempts import Failure, retryable
from modelwise.gateway.common import (
    AUTO,
    CallableSets,
    Relay,
    answer,
    callable_ids,
    check_agent,
    choose,
    load_object,
    positive_int,
    post,
    required_capabilities,
)
from modelwise.gateway.common import Call as _Call
from modelwise.gateway.common import Invalid as _Invalid
from modelwise.gateway.common import dumps as _dumps
from modelwise.gateway.common import retry_after as _retry_after
from modelwise.gateway.inference import compile_rules, warm
from modelwise.gateway.translate import translatable_openai
from modelwise.gateway.usage import StreamTally, cached_of, reported

ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("insufficient_quota", "budget_exhausted"),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    422: ("invalid_request_error", "invalid_request"),
    503: ("server_error", "unavailable"),
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object for `status`, with a one-line message."""
    kind, default_code = ERROR_TYPES.get(status, ("upstream_error" if status >= 500 else "api_error", None))
    line = " ".join(str(message).split())[:500] or "error"
    return {"error": {"message": line, "type": kind, "param": None, "code": code or default_code}}


def error(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(error_body(status, message, code)), status, dict(headers or {}),
                    media_type="application/json")


def mount(app: FastAPI, service: Any) -> None:
    """Add the OpenAI-compatible routes to `app` (behind the server's guard and token check)."""
    from modelwise.app.live import LIVE, folder_of
    from modelwise.gateway.anthropic_api import exchange

    LIVE.publish_to(folder_of(service.paths.cache))  # calls in flight, for the console's gateway pane
    types = service.settings.task_types
    gw = service.settings.gateway
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=gw.connect_timeout_seconds, sock_read=gw.timeout_seconds
    )
    callable_sets = CallableSets()
    rules = compile_rules(gw.rules)  # the config's inference rules, tried before the built-in ones
    warm()  # the word model read now, not on the first `auto` call

    def callable_set(reach: Any) -> frozenset[str]:
        return callable_sets(reach, None)  # either format: translated when needed

    def listed() -> list[dict[str, Any]]:
        reach = service.reach
        data = [{"id": AUTO, "object": "model", "created": 0, "owned_by": "modelwise"}]
        data += [
            {"id": f"{AUTO}:{t}", "object": "model", "created": 0, "owned_by": "modelwise"} for t in types
        ]
        data += [
            {"id": mid, "object": "model", "created": 0, "owned_by": reach.offers[mid].provider}
            for mid in callable_ids(reach, None)
        ]
        return data

    @app.get("/v1/models", include_in_schema=False)
    async def models(request: Request) -> Response:
        if "anthropic-version" in request.headers:  # Claude Code and the Anthropic SDK: their listing
            from modelwise.gateway.anthropic_api import models_body

            return Response(models_body(service), media_type="application/json")
        return Response(orjson.dumps({"object": "list", "data": listed()}), media_type="application/json")

    @app.get("/v1/models/{model_id:path}", include_in_schema=False)
    async def model(model_id: str, request: Request) -> Response:
        """One model of the listing (the SDKs' `models.retrieve`), in the format the request speaks; an id
        the registry knows under another name is answered under the name the listing gives it."""
        anthropic = "anthropic-version" in request.headers
        if anthropic:
            from modelwise.gateway.anthropic_api import error as anthropic_error
            from modelwise.gateway.anthropic_api import models_listed

            data = models_listed(service)
        else:
            data = listed()
        spec = None if model_id.startswith(AUTO) else service.registry.resolve(model_id)
        wanted = {model_id, spec.id} if spec is not None else {model_id}
        found = next((m for m in data if m["id"] in wanted), None)
        if found is not None:
            return Response(orjson.dumps(found), media_type="application/json")
        why = f"model {_dumps(model_id)[:80]} is not one the gateway serves (GET /v1/models lists them)"
        return anthropic_error(404, why) if anthropic else error(404, why)

    async def chat(request: Request) -> Response:
        try:
            return await _chat(request)
        except _Invalid as exc:
            return error(exc.status, str(exc))

    post(app, "/v1/chat/completions", chat, error)

    async def _chat(request: Request) -> Response:
        body = load_object(await request.body())
        messages = _check_messages(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _Invalid(400, "stream must be true or false")
        if body.get("n") not in (None, 1):  # n answers would spend n times the output reserved
            raise _Invalid(400, "n must be 1 (the gateway reserves and caps one answer per call)")
        key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        wanted = positive_int(body, key)
        agent = check_agent(request.headers.get("x-modelwise-agent") or body.get("user"),
                            "X-Modelwise-Agent or user")
        # a request the Anthropic format can carry may go to a model of either format (translated)
        api = None if translatable_openai(body) else "openai"
        task_type, how, model_id = choose(service, types, body.get("model"),
                                          request.headers.get("x-modelwise-task-type"), messages,
                                          callable_set if api is None else lambda r: callable_sets(r, api),
                                          "GET /v1/models", body.get("tools") or body.get("functions"), rules)
        tin = input_tokens(messages, body.get("tools") or body.get("functions"), _dumps)
        if api is None and body.get("tools"):
            tin += ANTHROPIC_TOOL_PROMPT  # what the Anthropic format adds for tools, if it is the one
        caps = required_capabilities(body, messages)

        kw: dict[str, Any] = {"model_id": model_id, "agent": agent, "type_from": how, "api": api}
        if caps:
            kw["capabilities"] = caps

        return await answer(service, task_type, tin, wanted, kw,
                            lambda call: _call(call, dict(body), key, stream, tin), error)

    async def _call(call: _Call, body: dict[str, Any], key: str, stream: bool, tin: int) -> Any:
        """One attempt: the upstream call for `call`'s decision. Returns the answer for the client, or a
        Failure when the provider failed before anything reached the client (settled either way)."""
        decision = call.decision
        provider = decision["provider"]
        target = upstream.target(service.reach, provider)
        if target is not None and target.api == "anthropic":  # translated there and back
            return await exchange(call, target, body, {}, stream, tin, timeout, gw.timeout_seconds,
                                  client=(error, _broke))
        if target is None or target.api != "openai":
            call.settle("error", cost=0.0)
            why = "is not on" if target is None else f"speaks the {target.api} format, not translated"
            return error(502, f"provider {provider} {why}", headers=call.headers())
        body["model"] = decision["upstreamId"]
        body.pop("max_tokens" if key == "max_completion_tokens" else "max_completion_tokens", None)
        body[key] = decision["maxTokens"]
        asked_usage = True
        if stream:
            options = body.get("stream_options")
            options = options if isinstance(options, dict) else {}
            asked_usage = options.get("include_usage") is True
            body["stream_options"] = {**options, "include_usage": True}
        try:
            resp = await upstream.session().post(target.url, data=orjson.dumps(body), headers=target.headers,
                                                 timeout=timeout)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            call.settle("error", cost=0.0)  # nothing reached the provider
            return call.failure("refused", error(
                502, f"provider {provider} could not be reached: {type(exc).__name__}", headers=call.headers()
            ), provider_wide=True)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return _lost(call, exc)
        if resp.status >= 400 or not stream:
            try:
                payload = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                resp.close()
                return _lost(call, exc)
            resp.release()
            if resp.status >= 400:
                call.settle("error", cost=0.0)
                answer = _upstream_error(resp.status, payload, provider, call.headers())
                if retryable(resp.status):
                    return call.failure(str(resp.status), answer, retry_after=_retry_after(resp.headers))
                return answer
            cached = 0
            try:
                raw_usage = orjson.loads(payload).get("usage")
                usage = reported(raw_usage)
                if usage is not None:
                    cached = cached_of(raw_usage, usage[0])
            except (orjson.JSONDecodeError, AttributeError):
                usage = None
            call.settle("success", usage or (tin, decision["maxTokens"]), cached=cached)
            return Response(payload, 200, call.headers(), media_type="application/json")
        try:  # the first bytes before the answer is committed to: until then another model can take it
            first = await resp.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.close()
            return _lost(call, exc)
        tally = StreamTally(strip=not asked_usage)

        def finish(outcome: str) -> None:
            if tally.usage is not None:
                call.settle(outcome, tally.usage, cached=tally.cached)
            else:
                call.settle(outcome, (tin, tally.output_tokens()))

        return Relay(call, resp, tally, _broke, finish, first)

    def _lost(call: _Call, exc: BaseException) -> Failure:
        """The provider got the call and then went silent or broke off before answering: it may bill for
        it, so the attempt is settled at its reservation (the worst case the budget granted)."""
        call.settle("error", cost=call.decision["estimatedCost"])
        provider = call.decision["provider"]
        if isinstance(exc, TimeoutError):
            return call.failure("timeout", error(
                504, f"provider {provider} did not answer within {gw.timeout_seconds:g} s", "timeout",
                headers=call.headers()))
        return call.failure("broke off", error(
            502, f"provider {provider} broke off: {type(exc).__name__}", headers=call.headers()))


def _broke(exc: BaseException) -> bytes:
    """The error event for a stream the provider broke off."""
    event = orjson.dumps(error_body(502, f"the provider's stream broke: {type(exc).__name__}"))
    return b"data: " + event + b"\n\n"


def _check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid(400, "messages must be a non-empty array of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _Invalid(400, f"messages[{i}] must be an object with a string role")
    return messages


def _upstream_error(status: int, payload: bytes, provider: str, headers: Mapping[str, str]) -> Response:
    """The provider's error answer: its own OpenAI error object when it sent one, else one naming it."""
    try:
        parsed = orjson.loads(payload)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            return Response(payload, status, dict(headers), media_type="application/json")
    except orjson.JSONDecodeError:
        pass
    text = payload[:200].decode("utf-8", "replace")
    return error(status, f"provider {provider} answered {status}: {text}", headers=headers)
