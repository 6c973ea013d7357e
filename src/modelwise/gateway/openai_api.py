"""OpenAI Chat Completions on `modelwise serve`: `GET /v1/models` and `POST /v1/chat/completions` route
the call, reserve its worst case, call the chosen provider, pass its answer (or stream) through and
settle the decision at the usage it reports. Errors are OpenAI error objects."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelwise.core.calls import input_tokens
from modelwise.core.errors import BadInput, LedgerError, ModelwiseError, Refused
from modelwise.gateway import upstream
from modelwise.gateway.attempts import Cooldowns, Failure, NoCandidate, retryable
from modelwise.gateway.attempts import run as run_attempts
from modelwise.gateway.inference import compile_rules, infer
from modelwise.gateway.usage import StreamTally, cached_of, reported

log = logging.getLogger("modelwise.gateway")

AUTO = "auto"
MAX_NAME = 200
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


def error(status: int, message: str, code: str | None = None, headers: Mapping[str, str] = ()) -> Response:
    return Response(orjson.dumps(error_body(status, message, code)), status, dict(headers),
                    media_type="application/json")


class _Invalid(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _positive_int(body: Mapping[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _Invalid(400, f"{key} must be a whole number of at least 1, not {_dumps(v)[:40]}")
    return v


def _check_messages(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise _Invalid(400, "the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid(400, "messages must be a non-empty array of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _Invalid(400, f"messages[{i}] must be an object with a string role")
    return messages


class _Call:
    """One routed call: the decision and what settles it."""

    __slots__ = ("service", "decision", "started", "settled", "attempt")

    def __init__(self, service: Any, decision: dict[str, Any], attempt: int = 1):
        self.service = service
        self.decision = decision
        self.started = time.monotonic()
        self.settled = False
        self.attempt = attempt  # this call's place among the attempts of one request

    def headers(self) -> dict[str, str]:
        d = self.decision
        return {
            "X-Modelwise-Decision-Id": d["decisionId"],
            "X-Modelwise-Model": d["selectedModel"] or "",
            "X-Modelwise-Provider": d["provider"] or "",
            "X-Modelwise-Task-Type": d["taskType"],
            "X-Modelwise-Task-Type-From": d.get("taskTypeFrom") or "",
            "X-Modelwise-Attempts": str(self.attempt),
        }

    def failure(self, why: str, answer: Response, provider_wide: bool = False,
                retry_after: float | None = None) -> Failure:
        d = self.decision
        return Failure(d["selectedModel"], d["provider"], why, answer, provider_wide, retry_after,
                       d["decisionId"])

    def settle(self, outcome: str, tokens: tuple[int, int] | None = None, cost: float | None = None,
               cached: int = 0) -> None:
        """Queue the settlement (never awaited: it also runs from a cancelled stream); a settlement the
        ledger refuses (tokens beyond the model's listed limits) is made at the reservation instead.
        `cached`: of the input tokens, those the provider read from its prompt cache."""
        if self.settled:
            return
        self.settled = True
        kw: dict[str, Any] = {"latency_ms": round((time.monotonic() - self.started) * 1000, 3)}
        if cost is not None:
            kw["cost"] = cost
        elif tokens is not None:
            kw["input_tokens"], kw["output_tokens"] = tokens
            if cached:
                kw["cached_tokens"] = cached
        svc, dec_id = self.service, self.decision["decisionId"]

        def done(fut: Any) -> None:
            exc = fut.exception()
            if exc is None:
                return
            if isinstance(exc, BadInput) and "cost" not in kw:
                log.warning("settling %s at its reservation: %s", dec_id, exc)
                _submit(svc, dec_id, outcome, {"latency_ms": kw["latency_ms"],
                                               "cost": self.decision["estimatedCost"]}, None)
            else:
                log.error("could not settle %s: %s", dec_id, exc)

        _submit(svc, dec_id, outcome, kw, done)


def _submit(svc: Any, dec_id: str, outcome: str, kw: dict[str, Any], done: Any) -> None:
    if svc.group_commit_enabled:
        fut = svc.submit_outcome(dec_id, outcome, **kw)
    else:
        fut = asyncio.get_running_loop().run_in_executor(
            None, lambda: svc.record_outcome(dec_id, outcome, **kw)
        )
    if done is not None:
        fut.add_done_callback(done)


class _Stream(Response):
    """The upstream's event stream passed through as it arrives; a client that goes away cancels the
    upstream call. The decision is settled when the stream ends, however it ends."""

    def __init__(self, call: _Call, resp: aiohttp.ClientResponse, tin: int, strip_usage: bool, first: bytes):
        super().__init__(b"", 200, media_type="text/event-stream")  # its own headers are sent below
        self.call, self.resp, self.tin, self.strip_usage = call, resp, tin, strip_usage
        self.first = first  # the stream's first bytes, read before the answer was committed to

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        tally = StreamTally(strip=self.strip_usage)
        outcome = "success"
        ctype = self.resp.headers.get("Content-Type", "text/event-stream").encode("latin-1")

        async def pump() -> None:
            nonlocal outcome
            headers = [(k.lower().encode(), v.encode()) for k, v in self.call.headers().items()]
            await send({"type": "http.response.start", "status": 200, "headers": [
                *headers, (b"content-type", ctype), (b"cache-control", b"no-cache"),
            ]})
            try:
                data = tally.feed(self.first)
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                async for data in self.resp.content.iter_any():
                    data = tally.feed(data)
                    if data:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                if tally.rest():
                    await send({"type": "http.response.body", "body": tally.rest(), "more_body": True})
            except (TimeoutError, aiohttp.ClientError) as exc:
                outcome = "error"
                event = orjson.dumps(error_body(502, f"the provider's stream broke: {type(exc).__name__}"))
                await send({"type": "http.response.body", "body": b"data: " + event + b"\n\n",
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        try:
            await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
            if not pumping.done():  # the client went away: stop the upstream call
                outcome = "error"
                pumping.cancel()
            try:
                await pumping
            except (asyncio.CancelledError, OSError):
                outcome = "error"
        finally:
            watching.cancel()
            self.resp.close()
            if tally.usage is not None:
                self.call.settle(outcome, tally.usage, cached=tally.cached)
            else:
                self.call.settle(outcome, (self.tin, tally.output_tokens()))


def callable_ids(reach: Any) -> list[str]:
    """The models the gateway can call: reachable through a provider that speaks the OpenAI format."""
    if not reach.active:
        return []
    apis = {p.name: p.spec.api for p in reach.providers}
    return sorted(mid for mid in reach.reachable if apis.get(reach.offers[mid].provider) == "openai")


def mount(app: FastAPI, service: Any) -> None:
    """Add the OpenAI-compatible routes to `app` (behind the server's guard and token check)."""
    types = service.settings.task_types
    gw = service.settings.gateway
    # cooldowns on the service's clock (a test moves it on instead of waiting)
    cooldowns = Cooldowns(gw.cooldown_seconds, clock=lambda: service.clock().timestamp())
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=gw.connect_timeout_seconds, sock_read=gw.timeout_seconds
    )
    rules = compile_rules(gw.rules)  # the config's inference rules, tried before the built-in ones
    known: dict[int, frozenset[str]] = {}

    def callable_set(reach: Any) -> frozenset[str]:
        ids = known.get(id(reach))
        if ids is None:
            known.clear()
            ids = known[id(reach)] = frozenset(callable_ids(reach))
        return ids

    async def route(task_type: str, tin: int, wanted: int | None, **kw: Any) -> dict[str, Any]:
        if service.group_commit_enabled:
            return await asyncio.wrap_future(service.submit_call(task_type, tin, wanted, **kw))
        return await run_in_threadpool(lambda: service.route_call(task_type, tin, wanted, **kw))

    @app.get("/v1/models", include_in_schema=False)
    async def models() -> Response:
        reach = service.reach
        data = [{"id": AUTO, "object": "model", "created": 0, "owned_by": "modelwise"}]
        data += [
            {"id": f"{AUTO}:{t}", "object": "model", "created": 0, "owned_by": "modelwise"} for t in types
        ]
        data += [
            {"id": mid, "object": "model", "created": 0, "owned_by": reach.offers[mid].provider}
            for mid in callable_ids(reach)
        ]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    @app.post("/v1/chat/completions", include_in_schema=False)
    async def chat(request: Request) -> Response:
        try:
            return await _chat(request)
        except _Invalid as exc:
            return error(exc.status, str(exc))

    async def _chat(request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _Invalid(400, f"the body is not valid JSON: {exc}") from None
        messages = _check_messages(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Invalid(400, "model must be a string: auto, auto:TYPE or a model id (GET /v1/models)")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _Invalid(400, "stream must be true or false")
        if body.get("n") not in (None, 1):  # n answers would spend n times the output reserved
            raise _Invalid(400, "n must be 1 (the gateway reserves and caps one answer per call)")
        key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        wanted = _positive_int(body, key)
        agent = request.headers.get("x-modelwise-agent") or body.get("user")
        if agent is not None and (not isinstance(agent, str) or len(agent) > MAX_NAME):
            raise _Invalid(400, f"the agent (X-Modelwise-Agent or user) must be 1 to {MAX_NAME} characters")
        named = request.headers.get("x-modelwise-task-type")
        if named is not None and named not in types:
            raise _Invalid(
                400, f"X-Modelwise-Task-Type {named[:60]!r} is not a task type ({', '.join(types)})"
            )
        model_id = None
        if model.startswith(AUTO + ":"):
            task_type = model[len(AUTO) + 1:]
            if task_type not in types:
                raise _Invalid(404, f"unknown model {model[:80]!r}: {task_type[:60]!r} is not a task type")
            task_type, how = (named, "header") if named else (task_type, "named")
        else:
            reach = service.reach
            if not reach.active:
                raise _Invalid(503, "no provider is on: set a provider's key variable (modelwise providers)")
            if model != AUTO:
                spec = service.registry.resolve(model)
                if spec is None or spec.id not in callable_set(reach):
                    raise _Invalid(404, f"unknown model {model[:80]!r}: not one an enabled provider serves "
                                   "(GET /v1/models lists them)")
                model_id = spec.id
            tools = body.get("tools") or body.get("functions")
            task_type, how = (named, "header") if named else infer(messages, types, tools, rules)
        tin = input_tokens(messages, body.get("tools") or body.get("functions"), _dumps)
        caps = required_capabilities(body, messages)

        async def attempt(exclude: frozenset[str], avoid: frozenset[str], failures: list[Failure]) -> Any:
            kw: dict[str, Any] = {"model_id": model_id, "agent": agent, "type_from": how}
            if caps:
                kw["capabilities"] = caps
            if exclude or avoid:
                kw["exclude"], kw["avoid_providers"] = exclude, avoid
            if failures:
                kw["fallback_from"] = failures[-1].to_json()
            try:
                decision = await route(task_type, tin, wanted, **kw)
            except Refused as exc:
                if failures or exclude or avoid:  # the loop may try without some of what it left out
                    raise NoCandidate(str(exc), exc.kind) from None
                raise
            call = _Call(service, decision, len(failures) + 1)
            try:
                return await _call(call, dict(body), key, stream, tin)
            except BaseException:  # never left reserved: nothing reached the client from this call
                call.settle("error", cost=0.0)
                raise

        try:
            outcome = await run_attempts(attempt, cooldowns, gw.attempts, fallback=model_id is None)
        except NoCandidate as exc:
            if exc.kind == "excluded":
                return error(503, f"{exc}; retry in {cooldowns.retry_after()} s",
                             headers={"Retry-After": str(cooldowns.retry_after())})
            return error(402, str(exc))
        except Refused as exc:
            return error(402, str(exc))
        except (BadInput, LedgerError) as exc:
            return error(exc.status if exc.status != 422 else 400, str(exc))
        except ModelwiseError as exc:
            return error(exc.status, str(exc))
        if outcome.failures:
            log.info("call %s: %s", "answered" if outcome.result is not None else "failed",
                     ", ".join(f"{f.model}@{f.provider} {f.why}" for f in outcome.failures))
        return outcome.answer

    async def _call(call: _Call, body: dict[str, Any], key: str, stream: bool, tin: int) -> Any:
        """One attempt: the upstream call for `call`'s decision. Returns the answer for the client, or a
        Failure when the provider failed before anything reached the client (settled either way)."""
        decision = call.decision
        provider = decision["provider"]
        target = upstream.target(service.reach, provider)
        if target is None or target.api != "openai":
            call.settle("error", cost=0.0)
            why = "is not on" if target is None else f"speaks the {target.api} format, not translated yet"
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
                    return call.failure(str(resp.status), answer, retry_after=_retry_after(resp))
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
        return _Stream(call, resp, tin, not asked_usage, first)

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


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    """A provider's Retry-After in seconds (a number; an HTTP date is not read)."""
    v = resp.headers.get("Retry-After")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def required_capabilities(body: Mapping[str, Any], messages: list[dict[str, Any]]) -> tuple[str, ...]:
    """What a chat request needs of its model: function calling for tools (or functions), vision for an
    image in any message."""
    caps = []
    if body.get("tools") or body.get("functions"):
        caps.append("function_calling")
    for m in messages:
        content = m.get("content")
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") in ("image_url", "input_image", "image") for p in content
        ):
            caps.append("vision")
            break
    return tuple(caps)


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
