"""`modelwise batch`: route a JSON array or JSONL file of tasks, in input order, committed together."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK, EXIT_REFUSED, service_from_args
from modelwise.cli.output import emit, money, unescaped
from modelwise.core.errors import NESTED_TOO_DEEPLY, BadInput

if TYPE_CHECKING:
    import argparse

NAME = "batch"
HELP = "route a JSON array or JSONL file of tasks, in input order"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", metavar="FILE", help="tasks: a JSON array, or one JSON object per line ('-' = stdin)"
    )
    p.add_argument("--concurrency", type=int, default=8, help="tasks routed at once (default 8, the brief's)")
    p.add_argument("--json", action="store_true", help="print a JSON array of the answers, in input order")
    p.add_argument(
        "--any-provider", action="store_true",
        help="consider the whole registry for every task without its own anyProvider",
    )


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


def run(args: argparse.Namespace) -> int:
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
