"""Commands of the service area, added to the `modelwise` parser by `register`: `serve` (the HTTP
service, SPEC 8) and `batch` (route a file of tasks, SPEC 7). Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from modelwise.core.errors import NESTED_TOO_DEEPLY, BadInput

EXIT_OK, EXIT_REFUSED = 0, 3


def register(command) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add this area's commands."""
    p = command("serve", "run the local HTTP service (FastAPI under uvicorn)", cmd_serve)
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

    p = command("batch", "route a JSON array or JSONL file of tasks, in input order", cmd_batch)
    p.add_argument(
        "file", metavar="FILE", help="tasks: a JSON array, or one JSON object per line ('-' = stdin)"
    )
    p.add_argument("--concurrency", type=int, default=8, help="tasks routed at once (default 8, the brief's)")
    p.add_argument("--json", action="store_true", help="print a JSON array of the answers, in input order")
    p.add_argument(
        "--any-provider", action="store_true",
        help="consider the whole registry for every task without its own anyProvider",
    )


# -- serve -------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
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
    from modelwise.cli import service_from_args

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
    from modelwise.cli import unescaped
    from modelwise.server import create_app, uvicorn_config, uvicorn_server

    if not args.no_group_commit:
        svc.enable_group_commit()
    # uvicorn's logs colour on a terminal on purpose; the request targets they show are escaped
    sys.stdout, sys.stderr = unescaped(sys.stdout), unescaped(sys.stderr)
    app = create_app(svc, token=token)
    server = uvicorn_server(uvicorn_config(app, access_log=args.access_log, log_level="info"))
    try:
        server.run(sockets=[sock])
    finally:
        svc.close()


# -- batch -------------------------------------------------------------------------------------------


def read_tasks(path: str) -> list[Any]:
    """A JSON array of tasks, or JSONL (one object per line; blank lines skipped). Raises BadInput."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    stripped = text.lstrip()
    if not stripped:
        raise BadInput(f"{path}: no tasks")
    if stripped.startswith("["):
        try:
            tasks = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise BadInput(f"{path}: not valid JSON: {NESTED_TOO_DEEPLY}") from None
    else:
        tasks = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                tasks.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path} line {n}: not valid JSON: {exc.msg} at column {exc.colno}") from None
            except RecursionError:
                raise BadInput(f"{path} line {n}: not valid JSON: {NESTED_TOO_DEEPLY}") from None
    if not isinstance(tasks, list):
        raise BadInput(f"{path}: expected a JSON array of tasks or one task object per line")
    if not tasks:
        raise BadInput(f"{path}: no tasks")
    return tasks


def cmd_batch(args: argparse.Namespace) -> int:
    from modelwise.cli import emit, money, service_from_args, unescaped

    if args.concurrency < 1 or args.concurrency > 256:
        raise BadInput(f"--concurrency must be between 1 and 256, not {args.concurrency}")
    tasks = read_tasks(args.file)
    if args.any_provider:
        tasks = [{"anyProvider": True, **t} if isinstance(t, dict) else t for t in tasks]
    svc = service_from_args(args)
    svc.validate_tasks(tasks)  # every task checked before any is routed: a bad file writes nothing
    svc.enable_group_commit()
    try:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn("routing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=unescaped(sys.stderr)),  # it draws on purpose
                transient=True,
            ) as bar:
                job = bar.add_task("routing", total=len(tasks))
                results = svc.route_tasks(tasks, args.concurrency, progress=lambda: bar.advance(job))
        else:
            results = svc.route_tasks(tasks, args.concurrency)
    finally:
        svc.close()
    refused = sum(1 for r in results if r.get("status") == "refused" or r.get("wouldBe") == "refused")
    invalid = sum(1 for r in results if r.get("status") == "invalid")
    if args.json:
        emit(results)
    else:
        from modelwise.core.providers import ADVISORY

        if any(ADVISORY in (r.get("warnings") or ()) for r in results):
            print(f"warning: {ADVISORY}", file=sys.stderr)  # once, not once per task
        for i, r in enumerate(results):
            if r.get("status") == "invalid":
                print(f"{i:>5}  invalid  {r['error']}")
                continue
            model = r["selectedModelName"] or "-"
            agent = f"  [{r['agent']}]" if r.get("agent") else ""
            cost = money(r["estimatedCost"])
            print(f"{i:>5}  {r['status']:<8} {model:<32} {cost:>10}  {r['taskType']}{agent}")
        total = sum(
            r.get("estimatedCost") or 0.0 for r in results if r.get("status") in ("routed", "degraded")
        )
        print(
            f"{len(results)} tasks: {len(results) - refused - invalid} routed, {refused} refused"
            f"{f', {invalid} invalid' if invalid else ''}; estimated {money(total)}",
            file=sys.stderr,
        )
    if invalid:
        return 2
    return EXIT_REFUSED if refused else EXIT_OK
