"""What both wire formats of the gateway share: request checks, the choice of task type and model, the
routed call that settles its decision once, and the pass-through of an upstream event stream."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, Protocol

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelwise.app.live import LIVE
from modelwise.core.errors import BadInput, LedgerError, ModelwiseError, Refused
from modelwise.gateway.attempts import Cooldowns, Failure, NoCandidate
from modelwise.gateway.attempts import run as run_attempts
from modelwise.gateway.inference import infer

log = logging.getLogger("modelwise.gateway")

AUTO = "auto"
LIVE_EVERY = 0.25  # seconds between two counts of a stream's output tokens for the console
MAX_NAME = 200


class Invalid(Exception):
    """Bad input, answered with `status` and a one-line message in the format's error object."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


Handler = Callable[[Request], Awaitable[Response]]


def post(app: FastAPI, path: str, handler: Handler, error: Callable[[int, str], Response]) -> None:
    """Serve `POST path` with `handler`: a FastAPI route (what a request that does not come through the
    server's guard, or asks with another method, meets) and, in `app.state.direct`, an ASGI app the
    guard calls straight after its checks, without FastAPI's routing, dependency solving and exception
    middlewares (a gateway call's own cost: docs/design.md, "Gateway"). `error(status, message)`: the
    format's error answer, for an exception the handler did not answer itself."""
    app.add_api_route(path, handler, methods=["POST"], include_in_schema=False)

    async def direct(scope: Any, receive: Any, send: Any) -> None:
        try:
            response = await handler(Request(scope, receive))
        except Exception as exc:  # noqa: BLE001 - what FastAPI's error middleware would answer, formatted
            log.exception("gateway handler failed")
            response = error(500, f"internal error: {type(exc).__name__}")
        await response(scope, receive, send)

    if not hasattr(app.state, "direct"):
        app.state.direct = {}
    app.state.direct[path] = direct


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def positive_int(body: Mapping[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise Invalid(400, f"{key} must be a whole number of at least 1, not {dumps(v)[:40]}")
    return v


def load_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Invalid(400, "the body must be a JSON object")
    return body


def check_agent(agent: Any, what: str) -> str | None:
    if agent is not None and (not isinstance(agent, str) or len(agent) > MAX_NAME):
        raise Invalid(400, f"the agent ({what}) must be 1 to {MAX_NAME} characters")
    return agent


def callable_ids(reach: Any, api: str | None = "openai") -> list[str]:
    """The models the gateway can call in wire format `api` (None: in either, translated when they differ):
    reachable through a provider that speaks it."""
    if not reach.active:
        return []
    apis = {p.name: p.spec.api for p in reach.providers}
    formats = ("openai", "anthropic") if api is None else (api,)
    return sorted(mid for mid in reach.reachable if apis.get(reach.offers[mid].provider) in formats)


class CallableSets:
    """`callable_ids` as a set per wire format, computed once per `Reach` the service holds."""

    def __init__(self) -> None:
        self._reach_id = 0
        self._sets: dict[str | None, frozenset[str]] = {}

    def __call__(self, reach: Any, api: str | None) -> frozenset[str]:
        if id(reach) != self._reach_id:
            self._reach_id, self._sets = id(reach), {}
        ids = self._sets.get(api)
        if ids is None:
            ids = self._sets[api] = frozenset(callable_ids(reach, api))
        return ids


def choose(service: Any, types: Sequence[str], model: Any, named: str | None,
           messages: Sequence[Mapping[str, Any]], callable_set: Callable[[Any], frozenset[str]],
           listing: str, tools: Any = None, rules: Sequence[Any] = ()) -> tuple[str, str, str | None]:
    """(task type, how it was found, the model asked for by name or None) for a request's `model`
    (`auto`, `auto:TYPE` or a model id) and the `X-Modelwise-Task-Type` header `named`; `messages` (in
    the chat shape `infer` reads), `tools` and the config's compiled `rules` for an inferred type.
    `listing`: where the client finds the models."""
    if not isinstance(model, str) or not model:
        raise Invalid(400, f"model must be a string: auto, auto:TYPE or a model id ({listing})")
    if named is not None and named not in types:
        raise Invalid(400, f"X-Modelwise-Task-Type {named[:60]!r} is not a task type ({', '.join(types)})")
    if model.startswith(AUTO + ":"):
        task_type = model[len(AUTO) + 1:]
        if task_type not in types:
            raise Invalid(404, f"unknown model {model[:80]!r}: {task_type[:60]!r} is not a task type")
        return (named, "header", None) if named else (task_type, "named", None)
    reach = service.reach
    if not reach.active:
        raise Invalid(503, "no provider is on: set a provider's key variable (modelwise providers)")
    model_id = None
    if model != AUTO:
        spec = service.registry.resolve(model)
        if spec is None or spec.id not in callable_set(reach):
            raise Invalid(404, f"unknown model {model[:80]!r}: not one an enabled provider serves ({listing} "
                          "lists them)")
        model_id = spec.id
    task_type, how = (named, "header") if named else infer(messages, types, tools, rules)
    return task_type, how, model_id


async def route(service: Any, task_type: str, tin: int, wanted: int | None, **kw: Any) -> dict[str, Any]:
    """`service.route_call` on the group-commit writer when it runs, else in the thread pool."""
    if service.group_commit_enabled:
        return await asyncio.wrap_future(service.submit_call(task_type, tin, wanted, **kw))
    return await run_in_threadpool(lambda: service.route_call(task_type, tin, wanted, **kw))


async def answer(service: Any, task_type: str, tin: int, wanted: int | None, kw: Mapping[str, Any],
                 upstream_call: Callable[[Call], Awaitable[Any]], error: Callable[..., Response]) -> Any:
    """A gateway call, whatever its wire format: the fallback loop (`attempts.run`) of attempts that
    each route the call (`kw`: what `route_call` is told of it; a model named there gets one attempt)
    and make it with `upstream_call(call)`, then what the loop ended with as the client's answer, an
    error in the format's shape (`error(status, message, headers=...)`) when nothing was answered."""
    cooldowns = cooldowns_of(service)
    fallback = kw.get("model_id") is None

    async def attempt(exclude: frozenset[str], avoid: frozenset[str], failures: list[Failure]) -> Any:
        # leaves out the models and providers `exclude` and `avoid` name; a refusal after a failure, or
        # with something left out, is NoCandidate (the loop may try again with less left out)
        args = dict(kw)
        if exclude or avoid:
            args["exclude"], args["avoid_providers"] = exclude, avoid
        if failures:
            args["fallback_from"] = failures[-1].to_json()
        try:
            decision = await route(service, task_type, tin, wanted, **args)
        except Refused as exc:
            if failures or exclude or avoid:
                raise NoCandidate(str(exc), exc.kind) from None
            raise
        call = Call(service, decision, len(failures) + 1)
        try:
            return await upstream_call(call)
        except BaseException:  # never left reserved: nothing reached the client from this call
            call.settle("error", cost=0.0)
            raise

    try:
        outcome = await run_attempts(attempt, cooldowns, service.settings.gateway.attempts, fallback)
    except NoCandidate as exc:
        if exc.kind == "excluded":
            wait = cooldowns.retry_after()
            return error(503, f"{exc}; retry in {wait} s", headers={"Retry-After": str(wait)})
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


_cooldowns: weakref.WeakKeyDictionary[Any, Cooldowns] = weakref.WeakKeyDictionary()


def cooldowns_of(service: Any) -> Cooldowns:
    """The cooldowns of `service`'s gateway, one for both wire formats (on the service's clock, so a test
    moves it on instead of waiting)."""
    c = _cooldowns.get(service)
    if c is None:
        c = _cooldowns[service] = Cooldowns(service.settings.gateway.cooldown_seconds,
                                            clock=lambda: service.clock().timestamp())
    return c


class Call:
    """One routed call: the decision and what settles it."""

    __slots__ = ("service", "decision", "started", "settled", "attempt")

    def __init__(self, service: Any, decision: dict[str, Any], attempt: int = 1):
        self.service = service
        self.decision = decision
        self.started = time.monotonic()
        self.settled = False
        self.attempt = attempt  # this call's place among the attempts of one request
        LIVE.start(decision, attempt)  # the console sees it in flight

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
               cached: int = 0, written: int = 0, written_long: int = 0) -> None:
        """Queue the settlement (never awaited: it also runs from a cancelled stream); a settlement the
        ledger refuses (tokens beyond the model's listed limits) is made at the reservation instead.
        `cached` / `written`: of the input tokens, those the provider read from / wrote to its prompt
        cache; `written_long`: of those written, the ones kept for an hour."""
        if self.settled:
            return
        self.settled = True
        LIVE.end(self.decision["decisionId"])
        kw: dict[str, Any] = {"latency_ms": round((time.monotonic() - self.started) * 1000, 3)}
        if cost is not None:
            kw["cost"] = cost
        elif tokens is not None:
            kw["input_tokens"], kw["output_tokens"] = tokens
            if cached:
                kw["cached_tokens"] = cached
            if written:
                kw["cache_write_tokens"] = written
            if written_long:
                kw["long_cache_write_tokens"] = written_long
        svc, dec_id = self.service, self.decision["decisionId"]

        def done(fut: Any) -> None:
            exc = fut.exception()
            if exc is None:
                return
            if isinstance(exc, BadInput) and "cost" not in kw:
                log.warning("settling %s at its reservation: %s", dec_id, exc)
                submit(svc, dec_id, outcome, {"latency_ms": kw["latency_ms"],
                                              "cost": self.decision["estimatedCost"]}, None)
            else:
                log.error("could not settle %s: %s", dec_id, exc)

        submit(svc, dec_id, outcome, kw, done)


def submit(svc: Any, dec_id: str, outcome: str, kw: dict[str, Any], done: Any) -> None:
    """Queue a call's settlement on the group-commit writer (committed without waiting for the disk:
    nobody waits on it) or, without group commit, in the thread pool."""
    if svc.group_commit_enabled:
        fut = svc.submit_settlement(dec_id, outcome, **kw)
    else:
        fut = asyncio.get_running_loop().run_in_executor(
            None, lambda: svc.record_outcome(dec_id, outcome, **kw)
        )
    if done is not None:
        fut.add_done_callback(done)


class Tally(Protocol):
    """What a stream pass-through reads its events with (gateway.usage has one per format)."""

    failed: bool  # the upstream sent an error event
    done: bool  # the stream's end came (the answer is whole)

    def feed(self, data: bytes) -> bytes: ...

    def rest(self) -> bytes: ...


class Relay(Response):
    """The upstream's event stream passed through as it arrives; a client that goes away cancels the
    upstream call. `finish(outcome)` settles the decision when the stream ends, however it ends;
    `broke(exc)` is the format's error event for a stream the provider broke off; `first`: the stream's
    first bytes, read before the answer was committed to (until then another model could take it)."""

    def __init__(self, call: Call, resp: aiohttp.ClientResponse, tally: Tally,
                 broke: Callable[[BaseException], bytes], finish: Callable[[str], None], first: bytes = b""):
        super().__init__(b"", 200, media_type="text/event-stream")  # its own headers are sent below
        self.call, self.resp, self.tally, self.broke, self.finish = call, resp, tally, broke, finish
        self.first = first  # the stream's first bytes, read before the answer was committed to

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        tally = self.tally
        outcome = "success"
        ctype = self.resp.headers.get("Content-Type", "text/event-stream").encode("latin-1")

        async def pump() -> None:
            nonlocal outcome
            try:
                counted = getattr(tally, "output_tokens", None) or getattr(
                    getattr(tally, "inner", None), "output_tokens", None)
                dec_id, shown_at = self.call.decision["decisionId"], time.monotonic()
                async for data in self.resp.content.iter_any():
                    data = tally.feed(data)
                    if data:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                    if counted is not None and time.monotonic() - shown_at >= LIVE_EVERY:
                        LIVE.progress(dec_id, counted())  # the tokens so far, for the console
                        shown_at = time.monotonic()
                if tally.rest():
                    await send({"type": "http.response.body", "body": tally.rest(), "more_body": True})
            except (TimeoutError, aiohttp.ClientError) as exc:
                outcome = "error"
                await send({"type": "http.response.body", "body": self.broke(exc), "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        # the first bytes go out at once, before the tasks that pass the rest through are made
        headers = [(k.lower().encode(), v.encode()) for k, v in self.call.headers().items()]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                *headers, (b"content-type", ctype), (b"cache-control", b"no-cache"),
            ]})
            data = tally.feed(self.first)
            if data:
                await send({"type": "http.response.body", "body": data, "more_body": True})
        except BaseException as exc:
            self.resp.close()
            self.finish("error")
            if isinstance(exc, OSError):  # the client's connection broke: nothing more to send it
                return
            raise
        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        try:
            await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
            if not pumping.done():  # the client went away: stop the upstream call
                # (a client that closes once it has the stream's end, before the provider closes, had
                # the whole answer)
                outcome = "success" if tally.done and outcome == "success" else "error"
                pumping.cancel()
            try:
                await pumping
            except (asyncio.CancelledError, OSError):
                outcome = "success" if tally.done and outcome == "success" else "error"
        finally:
            watching.cancel()
            self.resp.close()
            self.finish("error" if tally.failed else outcome)


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """How long a provider asks to be left alone, in seconds: its `retry-after-ms` (OpenAI's), else its
    `Retry-After` as seconds or as an HTTP date, counted from the answer's own `Date` when it has one
    (so the provider's clock and this machine's need not agree), else from `now()`. None when there is
    none, it cannot be read, or it is not in the future."""
    wait: float | None = None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        wait = _number(ms)
        wait = None if wait is None else wait / 1000
    value = headers.get("Retry-After")
    if wait is None and value is not None:
        wait = _number(value)
        if wait is None:
            when = _http_date(value)
            if when is not None:
                sent = _http_date(headers.get("Date") or "")
                wait = when - (sent if sent is not None else now())
    return wait if wait is not None and wait > 0 else None


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _http_date(text: str) -> float | None:
    """An HTTP date (RFC 9110: IMF-fixdate, or the obsolete forms) as a Unix time; None if it is not one."""
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates are
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


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
