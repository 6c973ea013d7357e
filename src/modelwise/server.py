"""The local HTTP service (docs/design.md, "HTTP service"): a thin FastAPI surface over the service.

Every service call runs in the thread pool (the ledger keeps one SQLite connection per thread), typed
errors map to HTTP statuses here and only here, and error bodies are JSON with a one-line `detail`.
Never imports Textual."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Annotated, Any, Literal

import orjson
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelwise import __version__
from modelwise.core.errors import NESTED_TOO_DEEPLY, BadInput, ModelwiseError, printable
from modelwise.wire import (
    BatchItemError,
    Candidate,  # noqa: F401 - part of the documented contract
    DecisionDetailOut,
    DecisionOut,
    Error,
    Health,
    ModelRow,
    OutcomeIn,
    RouteOut,
    StatsOut,
    TaskIn,
)

MAX_BODY = 1024 * 1024  # 1 MiB
GATEWAY_PREFIX = "/v1/"
GATEWAY_MAX_BODY = 32 * 1024 * 1024  # a chat request carries whole files and images
MAX_BATCH = 10_000
MODEL_SORTS = (
    "id", "name", "provider", "quality", "score", "cost", "price", "input", "output", "latency", "context"
)
# The custom string format of `since`/`until` (OpenAPI allows formats of one's own; validators ignore them)
TIME_FORMAT = "modelwise-time"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# -- the ASGI guard: Host, Origin, token, Content-Type and body size, before FastAPI sees anything ----


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = (),
    scope: Scope | None = None,
) -> None:
    if scope is not None and scope["path"].startswith(GATEWAY_PREFIX) and "detail" in body:
        # the gateway's clients read their format's errors (Anthropic's under /v1/messages)
        if scope["path"].startswith("/v1/messages"):
            from modelwise.gateway.anthropic_api import error_body
        else:
            from modelwise.gateway.openai_api import error_body

        status = 400 if status == 422 else status  # the formats' status for a malformed body
        body = error_body(status, body["detail"])
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# Host names every server answers to, with any port: a browser page whose name was rebound to 127.0.0.1
# still sends its own name as Host, so it is refused (DNS rebinding)
LOOPBACK_HOSTS = frozenset({b"localhost", b"127.0.0.1", b"[::1]"})
# CORS answers to an allowed origin (a browser asks first for a JSON POST or an Authorization header)
_PREFLIGHT = [
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"authorization, content-type"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]


def _shown(value: bytes) -> str:
    """A header value as a one-line message may show it (quoted, escaped, at most 100 characters)."""
    return repr(value[:100].decode("latin-1"))


def _is_json_type(ctype: bytes) -> bool:
    """`application/json`, any case, with parameters; a charset other than UTF-8 is not JSON we read."""
    if ctype == b"application/json":
        return True
    media, _, params = ctype.partition(b";")
    if media.strip().lower() != b"application/json":
        return False
    for param in params.split(b";"):
        name, _, value = param.partition(b"=")
        charset = value.strip().strip(b'"').lower()
        if name.strip().lower() == b"charset" and charset not in (b"utf-8", b"utf8"):
            return False
    return True


class Guard:
    """Everything checked from the headers before FastAPI sees a request or its body is read, with or
    without a token: the Host (loopback, the address the connection reached, or `[server] allowed_hosts`;
    421 otherwise), the Origin (none, the server's own, or `[server] allowed_origins`; 403), the bearer
    token (every path but /health; 401), the Content-Type of a body (`application/json`; 415) and its
    size, by Content-Length and as streamed (413). The body is then read whole before the app runs."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        max_body: int = MAX_BODY,
        allowed_hosts: tuple[str, ...] = (),
        allowed_origins: tuple[str, ...] = (),
    ):
        self.app = app
        self.expected = None if not token else b"Bearer " + token.encode()
        self.max_body = max_body
        self.gateway_max_body = max(max_body, GATEWAY_MAX_BODY) if max_body == MAX_BODY else max_body
        self.hosts = LOOPBACK_HOSTS | {h.lower().encode("ascii") for h in allowed_hosts}
        self.origins = frozenset(o.lower().encode("ascii") for o in allowed_origins)
        # POST routes the gateway serves without FastAPI's machinery (gateway.common.post)
        state = getattr(app, "state", None)
        self.direct: dict[str, Any] = getattr(state, "direct", {}) if state is not None else {}
        self.in_flight = 0  # HTTP requests being answered (the event loop's own: no lock)

    def alone(self) -> bool:
        """Whether at most one request is being answered (the one asking): group commit's batch then
        commits on the loop, which has nothing else to do (ledger.group)."""
        return self.in_flight <= 1

    def _host_ok(self, host: bytes, scope: Scope) -> bool:
        if host[-1:] == b"]":  # an IPv6 literal without a port
            name = host
        else:
            name, colon, port = host.rpartition(b":")
            if not colon:
                name = host
            elif not port.isdigit():
                return False
        if name in self.hosts:
            return True
        name = name.lower()
        if name in self.hosts:
            return True
        # the address this connection reached (the bound one, or one of a wildcard bind's)
        server = scope.get("server")
        return bool(server and server[1] is not None and name.strip(b"[]").decode("latin-1") == server[0])

    def _authorised(self, given: bytes) -> bool:
        # the scheme is case-insensitive; compare the rest in constant time
        if given[:7].lower() == b"bearer ":
            given = b"Bearer " + given[7:]
        return hmac.compare_digest(given, self.expected)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._http(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = ctype = length = chunked = None
        given = api_key = b""
        hosts = origins = 0
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
                hosts += 1
            elif key == b"origin":
                origin = value
                origins += 1
            elif key == b"content-type":
                ctype = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = value
            elif key == b"authorization" and not given:
                given = value
            elif key == b"x-api-key" and not api_key:
                api_key = value
        # a request without Host is HTTP/1.0 and never from a browser (they always send one)
        if hosts > 1 or (host is not None and not self._host_ok(host, scope)):
            detail = (
                "more than one Host header" if hosts > 1 else
                f"Host {_shown(host)} is not this server's (loopback or the address it listens on); "  # type: ignore[arg-type]
                "a name it should answer to goes in the config's [server] allowed_hosts"
            )
            await _send_json(send, 421, {"detail": detail}, scope=scope)
            return
        cors = False
        if origin is not None:
            # same-origin: the server's own pages (e.g. /docs) send Origin http://<the Host they reached>
            if origins == 1 and origin in self.origins:
                cors = True
            elif origins > 1 or host is None or origin.lower() not in (
                b"http://" + host.lower(), b"https://" + host.lower()
            ):
                detail = (
                    "more than one Origin header" if origins > 1 else
                    f"cross-origin request from {_shown(origin)} refused; an origin allowed to call this "
                    "server goes in the config's [server] allowed_origins"
                )
                await _send_json(send, 403, {"detail": detail}, scope=scope)
                return
        method = scope["method"]
        if cors and method == "OPTIONS":  # a browser's preflight for an allowed origin
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"access-control-allow-origin", origin), *_PREFLIGHT],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if cors:
            send = _with_cors(send, origin)  # type: ignore[arg-type]
        if not given and api_key and scope["path"].startswith(GATEWAY_PREFIX):
            given = b"Bearer " + api_key  # the Anthropic SDK and Claude Code send the token as x-api-key
        if self.expected is not None and scope["path"] != "/health" and not self._authorised(given):
            await _send_json(
                send, 401, {"detail": "missing or wrong bearer token"}, [(b"www-authenticate", b"Bearer")],
                scope=scope,
            )
            return
        if method in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if (chunked is not None or (length is not None and length != b"0")) and (
            ctype is None or not _is_json_type(ctype)
        ):
            given_type = "none" if ctype is None else _shown(ctype)
            detail = f"the body must be JSON sent as Content-Type: application/json (given: {given_type})"
            await _send_json(send, 415, {"detail": detail}, [(b"connection", b"close")], scope=scope)
            return
        max_body = self.gateway_max_body if scope["path"].startswith(GATEWAY_PREFIX) else self.max_body
        too_big = {"detail": f"request body is larger than {max_body:,} bytes"}
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > max_body:
                await _send_json(send, 413, too_big, [(b"connection", b"close")], scope=scope)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _send_json(send, 413, too_big, [(b"connection", b"close")], scope=scope)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:  # JSON is UTF-8 (RFC 8259); anything else is one clear 422 here, not a 400 deep in FastAPI
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"the body is not valid JSON: it is not UTF-8 text (byte {exc.start})"
            await _send_json(send, 422, {"detail": detail}, scope=scope)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        direct = self.direct.get(scope["path"]) if method == "POST" else None
        if direct is not None:  # /route or a gateway call: to its handler (_direct, gateway.common.post)
            await direct(scope, replay, send)
            return
        await self.app(scope, replay, send)


def _with_cors(send: Send, origin: bytes) -> Send:
    """`send` adding the CORS headers an allowed origin's page needs to read the answer."""

    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", origin),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return cors_send


# -- the application ---------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:500] or "error"


def _validation_detail(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    err = errors[0]
    if err.get("type") == "json_invalid":
        ctx = err.get("ctx") or {}
        loc = [p for p in err.get("loc", ()) if p != "body"]
        where = f" at character {loc[-1]}" if loc else ""
        return _one_line(
            f"the body is not valid JSON: {ctx.get('error') or err.get('msg', 'decode error')}{where}"
        )
    parts = [p for p in err.get("loc", ()) if p != "body"]
    if parts and isinstance(parts[0], int):  # /route/batch: the task's index first, as the service says it
        rest = ".".join(str(p) for p in parts[1:])
        where = f"task {parts[0]}" + (f": {rest}" if rest else "")
    else:
        where = ".".join(str(p) for p in parts) or "body"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _one_line(f"{where}: {msg}{more}")


async def _known_query_only(request: Request) -> None:
    """A query parameter the operation does not take is a bad input (a typo such as `sinse=7d` would
    otherwise be ignored silently and answer for the wrong period)."""
    if not request.query_params:
        return
    known: set[str] = set()
    todo = [getattr(request.scope.get("route"), "dependant", None)]
    while todo:
        dependant = todo.pop()
        if dependant is not None:
            known.update(p.alias for p in dependant.query_params)
            todo.extend(dependant.dependencies)
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        named = ", ".join(printable(k) or "''" for k in unknown)
        takes = f" (it takes {', '.join(sorted(known))})" if known else " (it takes none)"
        raise BadInput(f"unknown query parameter(s) {named}{takes}")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "missing or wrong bearer token (only when the server has a token)"},
    403: {"model": Error, "description": "a cross-origin request from an origin the config does not allow"},
    413: {"model": Error, "description": "request body over 1 MiB"},
    415: {"model": Error, "description": "a body sent with a Content-Type other than application/json"},
    421: {"model": Error, "description": "a Host header that is not this server's (DNS rebinding)"},
    422: {"model": Error, "description": "invalid input: the detail names the field"},
}


def _json(obj: Any, status: int = 200) -> Response:
    # orjson: a route answer holds ~150 numbers; the stdlib encoder spends ~50 us on it, orjson ~4 us
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


_log = logging.getLogger("modelwise.server")
_CONTRACTS: dict[Any, TypeAdapter] = {}


def _out(contract: Any, obj: Any, status: int = 200) -> Response:
    """`obj` as the answer, once it validates against its wire model (`contract`, a model of
    modelwise.wire or a list/union of them): the JSON contract is applied at run time, and an answer
    that breaks it is a 500 naming the first field wrong, never sent half-right."""
    adapter = _CONTRACTS.get(contract)
    if adapter is None:
        adapter = _CONTRACTS[contract] = TypeAdapter(contract)
    payload = orjson.dumps(obj)
    try:
        adapter.validate_json(payload)  # the bytes sent, parsed in Rust: a quarter of validate_python's time
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"]) or "the answer"
        _log.error("an answer broke its contract %s at %s: %s", contract, where, first["msg"])
        return _json({"detail": f"internal error: the answer does not match its contract at {where}"}, 500)
    return Response(payload, status_code=status, media_type="application/json")


def _document_values(
    schema: dict[str, Any],
    task_types: tuple[str, ...],
    weights: dict[str, float],
    capabilities: tuple[str, ...] = (),
) -> None:
    """Write into the OpenAPI document what the service checks and pydantic does not see: the configured
    task types, the registry's capabilities, the sort keys, the time format of `since`/`until` and that
    the weights may not all end up zero. The handlers still check them, with the service's own one-line
    messages."""
    components = schema["components"]["schemas"]
    components["TaskIn"]["properties"]["type"]["enum"] = list(task_types)
    if capabilities:
        for branch in components["ConstraintsIn"]["properties"]["capabilities"]["anyOf"]:
            if branch.get("type") == "array":
                branch["items"]["enum"] = list(capabilities)
    # all zero = every weight configured above zero given as 0, every other one 0, null or absent
    given = [k for k, v in weights.items() if v > 0]
    components["WeightsIn"]["not"] = {
        "required": given,
        "properties": {
            k: {"const": 0} if k in given else {"anyOf": [{"const": 0}, {"type": "null"}]} for k in weights
        },
    }
    for ops in schema["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", ()):
                # `X | None` in Python is "optional" in a query, never null: document X alone
                outer = param["schema"]
                branches = [b for b in outer.get("anyOf", ()) if b.get("type") != "null"]
                if len(branches) == 1:
                    param["schema"] = {**{k: v for k, v in outer.items() if k != "anyOf"}, **branches[0]}
                text = param["schema"]
                if text.get("type") != "string":
                    continue
                if param["name"] in ("since", "until"):
                    text["format"] = TIME_FORMAT
                elif param["name"] == "task":
                    text["enum"] = list(task_types)
                elif param["name"] == "sort":
                    text["enum"] = list(MODEL_SORTS)


def _direct(app: Any, path: str, handler: Callable[[Request], Awaitable[Response]]) -> None:
    """Serve `POST path` also through `app.state.direct`, which the guard calls straight after its
    checks: `handler` without FastAPI's routing, dependency solving and middlewares, which cost a routed
    call about as much as the routing and the ledger together. What they would do is done here: a
    query string goes the FastAPI way (its check of unknown parameters), and an exception is answered
    by the app's own handler for it, as FastAPI would answer it."""
    async def direct(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string"):
            await app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:  # noqa: BLE001 - answered by the app's handler for it, as FastAPI does
            handlers = app.exception_handlers
            answer = next(handlers[k] for k in type(exc).__mro__ if k in handlers)
            if not isinstance(exc, (ModelwiseError, RequestValidationError, StarletteHTTPException)):
                _log.exception("%s failed", path)
            response = await answer(request, exc)
        await response(scope, receive, send)

    if not hasattr(app.state, "direct"):
        app.state.direct = {}
    app.state.direct[path] = direct


def create_app(service: Any, token: str | None = None, max_body: int = MAX_BODY) -> Any:
    """The FastAPI app over `service` (a TokenOptimizationService), wrapped in the token and size guard.
    With `token`, every route but /health needs `Authorization: Bearer <token>`."""
    app = FastAPI(
        title="modelwise",
        version=__version__,
        description=(
            "Route every LLM task to the best model for the money, inside a hard daily budget. "
            'Errors are JSON `{"detail": "one line"}`. When the server was started with a token, every '
            "route but `/health` needs `Authorization: Bearer <token>`."
        ),
        responses=ERRORS,
        dependencies=[Depends(_known_query_only)],
    )
    app.state.service = service

    @app.exception_handler(ModelwiseError)
    async def _typed(_: Request, exc: ModelwiseError) -> Response:
        return _json({"detail": _one_line(str(exc))}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return _json({"detail": _validation_detail(exc)}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's 400 when json.loads of the body recursed
            return _json({"detail": f"the body is not valid JSON: {NESTED_TOO_DEEPLY}"}, 422)
        if request.url.path.startswith(GATEWAY_PREFIX):
            if request.url.path.startswith("/v1/messages"):
                from modelwise.gateway.anthropic_api import error as anthropic_error

                return anthropic_error(exc.status_code, str(exc.detail), headers=exc.headers or {})
            from modelwise.gateway.openai_api import error as openai_error

            return openai_error(exc.status_code, str(exc.detail), headers=exc.headers or {})
        response = _json({"detail": _one_line(str(exc.detail))}, exc.status_code)
        response.headers.update(exc.headers or {})  # e.g. the `Allow` a 405 must carry (RFC 9110)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        return _json({"detail": f"internal error: {type(exc).__name__}"}, 500)

    def route_status(result: dict[str, Any]) -> int:
        return 402 if result.get("status") == "refused" else 200

    @app.post(
        "/route",
        response_model=RouteOut,
        summary="Route one task and record the decision",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskIn"}}},
            }
        },
        responses={
            402: {"model": RouteOut, "description": "refused (budget, or no eligible model); recorded"}
        },
    )
    async def route(request: Request) -> Response:
        # parsed and validated by pydantic-core straight from the bytes (the body is documented by
        # openapi_extra): FastAPI's json.loads + dependency solving cost more than the routing itself
        try:
            task = TaskIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        if service.group_commit_enabled:
            # straight to the group-commit writer thread (no SQLite on the event loop, one thread hop);
            # submit_task redacts on the calling thread, so a long description is handed over from a pool
            # thread rather than holding up the event loop
            item = task.as_task()
            if len(item.get("description") or "") > 8192:
                future = await run_in_threadpool(service.submit_task, item)
            else:
                future = service.submit_task(item)
            result = await asyncio.wrap_future(future)
        else:
            result = await run_in_threadpool(service.route_mapping, task.as_task())
        return _out(RouteOut, result, route_status(result))

    _direct(app, "/route", route)

    @app.post(
        "/route/batch",
        response_model=list[RouteOut],
        summary="Route many tasks (8 at a time), answered in input order",
        description="Every task is validated before any is routed: one invalid task answers 422 naming its "
        "index and records nothing. Refused tasks are answered in place with status `refused` (200).",
    )
    async def route_batch(tasks: Annotated[list[TaskIn], Body(max_length=MAX_BATCH)]) -> Response:
        items = [t.as_task() for t in tasks]

        def run() -> list[dict[str, Any]]:
            service.validate_tasks(items)
            return service.route_tasks(items, concurrency=8)

        return _out(list[RouteOut | BatchItemError], await run_in_threadpool(run))

    @app.post(
        "/outcomes",
        response_model=DecisionOut,
        summary="Record the outcome of a decision, or correct it",
        description="A decision takes one outcome; a second one is refused (422) unless it is a correction "
        "(`correct: true`). Token counts beyond the decided model's context window or maximum output are "
        "refused (422). An outcome that raises the day's spend records the alerts it crosses.",
        responses={404: {"model": Error, "description": "unknown decision"}},
    )
    async def outcomes(body: OutcomeIn) -> Response:
        kw = {
            "latency_ms": body.latencyMs,
            "input_tokens": body.inputTokens,
            "output_tokens": body.outputTokens,
            "cost": body.cost,
            "correct": body.correct,
            "reason": body.reason,
            "cached_tokens": body.cachedTokens,
            "cache_write_tokens": body.cacheWriteTokens,
        }
        if service.group_commit_enabled:
            result = await asyncio.wrap_future(service.submit_outcome(body.decisionId, body.outcome, **kw))
        else:
            result = await run_in_threadpool(
                lambda: service.record_outcome(body.decisionId, body.outcome, **kw)
            )
        return _out(DecisionOut, result)

    @app.get(
        "/stats",
        response_model=StatsOut,
        summary="Tasks, spend, average cost, latency, success rate and use of each model (today by default)",
    )
    async def stats(
        since: Annotated[str | None, Query(description="7d, 24h, today, 2026-11-01 or an ISO time")] = None,
        until: str | None = None,
        by: Literal["agent"] | None = None,
        all: Annotated[bool, Query(description="every day in the ledger")] = False,
    ) -> Response:
        return _out(StatsOut, await run_in_threadpool(lambda: service.statistics(since, until, all, by)))

    @app.get("/models", response_model=list[ModelRow], summary="The registry as rows")
    async def models(
        task: Annotated[str | None, Query(description="only models capable of this task type")] = None,
        sort: Annotated[
            str | None,
            Query(description="id, name, provider, quality, cost, input, output, latency, context"),
        ] = None,
        limit: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        return _out(list[ModelRow], await run_in_threadpool(lambda: service.models_table(task, sort, limit)))

    @app.get("/decisions", response_model=list[DecisionOut], summary="Recorded decisions, newest first")
    async def decisions(
        since: Annotated[str | None, Query(description="7d, 24h, today, 2026-11-01 or an ISO time")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
        agent: str | None = None,
    ) -> Response:
        return _out(
            list[DecisionOut],
            await run_in_threadpool(
                lambda: service.decisions(since=since, agent=agent, limit=limit, newest_first=True)
            )
        )

    @app.get(
        "/decisions/{decision_id}",
        response_model=DecisionDetailOut,
        summary="One decision (with its stored breakdown under `detail`)",
        responses={404: {"model": Error, "description": "unknown decision"}},
    )
    async def decision(decision_id: str) -> Response:
        return _out(DecisionDetailOut, await run_in_threadpool(service.decision, decision_id))

    @app.get("/health", response_model=Health, summary="Liveness; never needs the token")
    async def health() -> Response:
        return _out(Health, {"status": "ok", "version": __version__, "models": len(service.registry.models)})

    from modelwise.gateway import anthropic_api, openai_api

    openai_api.mount(app, service)
    anthropic_api.mount(app, service)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _document_values(
                schema,
                service.settings.task_types,
                service.settings.weights.to_json(),
                tuple(sorted(service.known_capabilities())),
            )
            if token:  # only a server with a token asks for one; documenting it otherwise would be false
                schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "needed on every route but /health",
                }
                for path, ops in schema["paths"].items():
                    if path != "/health":
                        for op in ops.values():
                            op["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    settings = service.settings
    guarded = Guard(app, token, max_body, settings.allowed_hosts, settings.allowed_origins)
    guarded.fastapi = app  # type: ignore[attr-defined]
    return guarded


# -- running it --------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Anything but loopback needs a token (docs/design.md, "HTTP service")."""
    if not is_loopback(host) and not token:
        raise BadInput(
            f"refusing to serve on {host} without a token: anyone who can reach it could spend the budget; "
            "give --token or MODELWISE_TOKEN, or bind to 127.0.0.1"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 = a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: an answer written in two parts (headers, then body; a stream's
    # events) is not held back by Nagle's algorithm waiting for the client's delayed ACK (about 40 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


# query parameters whose values the access log never shows (a client that put its token in the URL)
_SECRET_PARAMS = ("token", "key", "secret", "passw", "auth", "sig", "session", "credential", "cookie")


def masked_target(target: str) -> str:
    """A request target as the access log shows it: the values of `token=`, `access_token=`, `key=`,
    `api_key=`, `password=`... replaced by `***` (names compared decoded and in any case), and no
    control character left raw."""
    from urllib.parse import unquote_plus

    path, q, query = target.partition("?")
    if q:
        parts = []
        for part in query.split("&"):
            name, eq, _ = part.partition("=")
            if eq and any(s in unquote_plus(name).lower() for s in _SECRET_PARAMS):
                part = f"{name}=***"
            parts.append(part)
        target = f"{path}?{'&'.join(parts)}"
    return target if target.isprintable() else target.encode("unicode_escape").decode("ascii")


class _AccessLogMask(logging.Filter):
    """On uvicorn's access logger: its record is `'%s - "%s %s HTTP/%s" %d'` with the target third."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], masked_target(args[2]), args[3], args[4])
        return True


def uvicorn_config(app: Any, *, access_log: bool = False, log_level: str = "warning") -> Any:
    """uvicorn with httptools and uvloop when installed (they are pinned dependencies); its access log
    masks secrets in query strings (it never shows headers)."""
    import uvicorn

    loop, http = "asyncio", "h11"
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        pass
    config = uvicorn.Config(
        app,
        loop=loop,
        http=http,
        access_log=access_log,
        log_level=log_level,
        lifespan="off",
        server_header=False,
        timeout_keep_alive=30,
        backlog=2048,
    )
    access = logging.getLogger("uvicorn.access")  # configured by uvicorn.Config just now
    if not any(isinstance(f, _AccessLogMask) for f in access.filters):
        access.addFilter(_AccessLogMask())
    return config


def uvicorn_server(config: Any, service: Any = None) -> Any:
    """uvicorn's Server over `config`, closing the gateway's upstream connections when it stops; with
    `service`, its group commit runs its batches on the server's event loop (ledger.group) while it
    serves."""
    import uvicorn

    from modelwise.app.live import LIVE
    from modelwise.gateway import upstream

    class _Server(uvicorn.Server):
        async def serve(self, sockets: Any = None) -> None:
            if service is not None:
                service.bind_group_commit(asyncio.get_running_loop(), getattr(config.app, "alone", None))
            try:
                await super().serve(sockets=sockets)
            finally:
                if service is not None:
                    await service.unbind_group_commit()
                await upstream.close_all()
                await LIVE.stop()  # its file of calls in flight goes with it

    return _Server(config)
