"""`modelwise serve`: the local HTTP service (FastAPI under uvicorn), in one or several worker processes
sharing the port and the ledger. The server loads only when the command runs."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import unescaped
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "serve"
HELP = "run the local HTTP service (FastAPI under uvicorn)"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)"
    )
    p.add_argument(
        "--port", type=int, default=3000, help="port (default 3000, the brief's; 0 = any free port)"
    )
    p.add_argument("--token", help="bearer token every route but /health requires (env MODELWISE_TOKEN)")
    p.add_argument("--access-log", action="store_true", help="log every request line (never headers)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port and the ledger (default 1)",
    )
    p.add_argument(
        "--no-group-commit",
        action="store_true",
        help="one transaction per decision instead of committing concurrent decisions together",
    )


def run(args: argparse.Namespace) -> int:
    token = args.token if args.token is not None else os.environ.get("MODELWISE_TOKEN")
    token = token or None
    if not 0 <= args.port <= 65535:
        raise BadInput(f"port must be between 0 and 65535, not {args.port}")
    if not 1 <= args.workers <= 64:
        raise BadInput(f"--workers must be between 1 and 64, not {args.workers}")
    if args.workers > 1 and not hasattr(os, "fork"):
        raise BadInput("--workers above 1 needs a system with fork()")
    from modelwise.server import bind, check_binding

    check_binding(args.host, token)
    svc = service_from_args(args)
    _ = svc.ledger  # open (and migrate) before answering anything
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    workers = f", {args.workers} worker processes" if args.workers > 1 else ""
    print(
        f"modelwise: serving on http://{shown}:{port} ({len(svc.registry.models)} models, "
        f"ledger {svc.paths.ledger}{workers}{', bearer token required' if token else ''}); ctrl+c stops",
        file=sys.stderr,
        flush=True,
    )
    print(
        f"modelwise: OpenAI-compatible base URL to paste: http://{shown}:{port}/v1 (model: auto, "
        f"auto:TYPE or a model id{'; API key: the token' if token else ''})",
        file=sys.stderr,
        flush=True,
    )
    print(
        f"modelwise: Anthropic base URL (Claude Code's ANTHROPIC_BASE_URL): http://{shown}:{port}"
        f"{' (ANTHROPIC_AUTH_TOKEN: the token)' if token else ''}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers == 1:
        try:
            _serve(svc, sock, args, token)
        finally:
            sock.close()
        return EXIT_OK
    # Several processes accept on the one socket; each has its own service, writer thread and SQLite
    # connections (made after the fork), and the ledger's transactions keep the budget across them.
    svc.close()
    sys.stdout.flush()
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                _serve(service_from_args(args), sock, args, token)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    import signal

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        status = status or (os.waitstatus_to_exitcode(st) not in (0, -signal.SIGTERM, -signal.SIGINT))
    sock.close()
    return 1 if status else EXIT_OK


def _serve(svc: Any, sock: Any, args: argparse.Namespace, token: str | None) -> None:
    from modelwise.server import create_app, uvicorn_config, uvicorn_server

    if not args.no_group_commit:
        svc.enable_group_commit()
    # uvicorn's logs colour on a terminal on purpose; the request targets they show are escaped
    sys.stdout, sys.stderr = unescaped(sys.stdout), unescaped(sys.stderr)
    app = create_app(svc, token=token)
    server = uvicorn_server(uvicorn_config(app, access_log=args.access_log, log_level="info"), svc)
    # What is loaded by now (the registry, the modules, the app) lives as long as the process: out of
    # the collector's way, so that a full collection walks only what calls make (not ~80,000 objects
    # between two requests).
    import gc

    gc.collect()
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        svc.close()
