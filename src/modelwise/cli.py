"""The command line (SPEC 7) for agents, CI and people. Never imports Textual or the HTTP server unless
the command is the console or `serve`.

Exit codes: 0 done; 2 bad input (one line on stderr, nothing written); 3 refused; 1 unexpected."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from modelwise.core.errors import BadInput, ModelwiseError, OutputError, json_safe, terminal_safe

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3

_PARSER_CLASS: type | None = None


def _parser_class() -> type[argparse.ArgumentParser]:
    """argparse that reports a usage error in one line and exits 2 (defined on first use: a plain
    `route` never imports argparse)."""
    global _PARSER_CLASS
    if _PARSER_CLASS is None:
        import argparse

        class _Parser(argparse.ArgumentParser):
            def error(self, message: str) -> None:  # type: ignore[override]
                # the edge prints "modelwise: " before every error: name only the subcommand here
                command = self.prog.removeprefix("modelwise").strip()
                raise BadInput(f"{command}: {message}" if command else message)

        _PARSER_CLASS = _Parser
    return _PARSER_CLASS


def emit(obj: Any) -> None:
    sys.stdout.write(json_safe(json.dumps(obj, indent=2, ensure_ascii=False)) + "\n")


class TerminalSafe:
    """sys.stdout or sys.stderr while a command runs: what it writes (model names from a registry,
    agents, reasons and descriptions from the ledger, values echoed from the command line) reaches the
    terminal with every control character as a visible escape; newlines and tabs stay. `unescaped` is
    the stream itself, for data (an export into a pipe) and for progress bars that draw on purpose."""

    def __init__(self, stream: Any):
        self.unescaped = stream

    def write(self, text: str) -> int:
        self.unescaped.write(terminal_safe(text, lines=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unescaped, name)


def unescaped(stream: Any) -> Any:
    return getattr(stream, "unescaped", stream)


def service_from_args(args: argparse.Namespace):
    from modelwise.service import TokenOptimizationService

    return TokenOptimizationService(
        registry=getattr(args, "registry", None),
        ledger=getattr(args, "ledger", None),
        config=getattr(args, "config", None),
    )


def money(x: float | None) -> str:
    from modelwise.core.routing import money

    return "-" if x is None else money(x)


def _flip_words(flip: dict | None, weights: dict[str, float], names: dict[str, str]) -> str | None:
    if not flip:
        return None
    name = flip.get("modelName") or names.get(flip["model"], flip["model"])
    return (
        f"{name} would win if {flip['weight']} weighed {flip['value']:.4g}"
        f" instead of {weights[flip['weight']]:g}"
    )


def _print_route(r: dict[str, Any], verbose: bool = False) -> None:
    names = {c["model"]: c["name"] for c in r.get("candidates", [])}
    status = r["status"]
    if r["selectedModel"] is None:
        print(f"{status}: {r['reason']}")
    else:
        print(
            f"{r['selectedModelName']} ({r['selectedModel']})"
            f"  [{status}{' → ' + r['wouldBe'] if r.get('wouldBe') else ''}]"
        )
        margin = r.get("margin")
        print(
            f"  score {r['score']:.4f}"
            + (f", {margin:.4f} ahead of the runner-up" if margin is not None else "")
        )
        est = r["estimatedTokens"]
        print(
            f"  estimated {money(r['estimatedCost'])} for {est['input']:,} input"
            f" + {est['output']:,} output tokens"
            f" (task budget {money(r['budget']['task'])})"
        )
        print(f"  {r['reason']}")
    b = r["budget"]
    print(f"  left today: {money(b['dailyRemaining'])}; {r['tier']} tier: {money(b['tierRemaining'])}")
    words = _flip_words(r.get("flip"), r["weights"], names)
    if words:
        print(f"  flip: {words}")
    if r.get("decisionId"):
        print(f"  decision {r['decisionId']}")
    for w in r.get("warnings", []):
        if w != r["reason"]:  # a degradation's reason is its warning: said once, above
            print(f"warning: {w}", file=sys.stderr)
    if verbose:
        _print_candidates(r["candidates"])


def _print_candidates(rows: list[dict[str, Any]]) -> None:
    print(
        f"  {'#':>4} {'model':<34} {'cap':>4} {'perf':>6} {'avail':>6} {'cost':>6} {'total':>7}"
        f" {'est. $':>10}  eligibility"
    )
    for c in rows:
        mark = "*" if c.get("winner") else " "
        elig = "eligible" if c["eligible"] and not c["reason"] else (c["reason"] or "")
        print(
            f" {mark}{c['rank']:>4} {c['name'][:34]:<34} {c['capability']:>4.0f} {c['performance']:>6.3f} "
            f"{c['availability']:>6.3f} {c['cost']:>6.3f} {c['total']:>7.4f} "
            f"{c['estimatedCost']:>10.6f}  {elig}"
        )


# -- commands ------------------------------------------------------------------------------------


def constraints_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The task's constraints (SPEC 2) from `--min-quality`, `--max-latency` and `--capability`."""
    constraints: dict[str, Any] = {}
    if args.min_quality is not None:
        constraints["minQuality"] = args.min_quality
    if args.max_latency is not None:
        constraints["maxLatencyMs"] = args.max_latency
    if getattr(args, "capability", None):
        constraints["capabilities"] = args.capability
    return constraints


def cmd_route(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    constraints = constraints_from_args(args)
    r = svc.route_task(
        args.type,
        args.description,
        args.budget,
        agent=args.agent,
        request_id=args.request_id,
        constraints=constraints or None,
        weights=args.weights,
        dry_run=args.dry_run,
        all_candidates=args.all_candidates,
        any_provider=True if args.any_provider else None,
    )
    if args.json:
        emit(r)
    else:
        _print_route(r, verbose=args.all_candidates)
    refused = r["status"] == "refused" or r.get("wouldBe") == "refused"
    return EXIT_REFUSED if refused else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    constraints = constraints_from_args(args)
    r = svc.explain(
        args.type, args.description, args.budget, constraints=constraints or None, weights=args.weights,
        leads=args.leads, grid_values=_grid_values(args.grid_values),
        any_provider=True if args.any_provider else None,
    )
    if args.json:
        emit(r)
        return EXIT_OK
    from modelwise.cli_whatif import print_explain

    print_explain(r, limit=args.limit, grid=args.grid)
    return EXIT_OK


def _grid_values(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(f"--grid-values {text!r} must be numbers separated by commas") from None
    if not values or len(values) > 12 or any(not (v >= 0 and v < float("inf")) for v in values):
        raise BadInput("--grid-values takes 1 to 12 finite weights, zero or more")
    return values


def cmd_record(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    outcome = "success" if args.success else "failure" if args.failure else "error"
    r = svc.record_outcome(
        args.decision_id,
        outcome,
        latency_ms=args.latency_ms,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        cost=args.cost,
        correct=args.correct,
        reason=args.reason,
        cached_tokens=args.cached_tokens,
        cache_write_tokens=args.cache_write_tokens,
    )
    if args.json:
        emit(r)
    else:
        print(
            f"{r['decisionId']}: {'corrected to ' if args.correct else ''}{r['outcome']}, "
            f"actual {money(r['actualCost'])} (estimated {money(r['estimatedCost'])}) on "
            f"{r['selectedModelName']}"
        )
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    s = svc.statistics(since=args.since, until=args.until, all_days=args.all, by=args.by)
    svc.check_ledger()  # totals read from the roll-up alone would not notice damaged pages elsewhere
    if args.json:
        emit(s)
        return EXIT_OK
    c, p = s["costStatistics"], s["performanceStatistics"]
    period = s["period"]
    print(
        f"period: {period['from'] or 'beginning'} .. {period['to'] or 'now'}"
        f"  (budget days in {period['timezone']})"
    )
    print(f"tasks: {c['totalTasks']}  cost: {money(c['totalCost'])}  average: {money(c['averageCost'])}")
    print(f"budget remaining today: {money(c['budgetRemaining'])}  refused: {s['refused']}")
    lat = p["averageLatency"]
    rate = p["successRate"]
    print(
        f"outcomes: {s['outcomes']}  success rate: {'-' if rate is None else f'{rate:.1%}'}  "
        f"average latency: {'-' if lat is None else f'{lat:.0f} ms'}"
    )
    for name, n in p["modelUsage"].items():
        print(f"  {n:>6}  {name}")
    if "byAgent" in s:
        print("by agent:")
        for agent, a in s["byAgent"].items():
            print(
                f"  {agent:<24} {a['totalTasks']:>6} tasks  {money(a['totalCost'])}  refused {a['refused']}"
            )
    return EXIT_OK


EXPORT_COLUMNS = (
    "decisionId",
    "timestamp",
    "taskType",
    "tier",
    "agent",
    "selectedModel",
    "estimatedCost",
    "actualCost",
    "status",
    "score",
    "outcome",
    "latencyMs",
    "description",
)


def cmd_export(args: argparse.Namespace) -> int:
    if args.format not in ("json", "csv"):
        raise BadInput(f"unknown export format {args.format!r} (use json or csv)")
    svc = service_from_args(args)
    if args.output:
        refuse_own_file(args.output, svc.paths)
    rows = [{k: d[k] for k in EXPORT_COLUMNS} for d in svc.decisions(since=args.since, until=args.until)]
    if args.anonymize:
        import hashlib

        for r in rows:
            r["description"] = None
            if r["agent"]:
                r["agent"] = "agent-" + hashlib.sha256(r["agent"].encode()).hexdigest()[:8]
    if args.format == "json":
        text = json_safe(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"
    else:
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
        text = buf.getvalue()
    if args.output:
        write_output(args.output, text)
        print(f"wrote {len(rows)} decisions to {args.output}", file=sys.stderr)
    else:  # data: raw into a pipe or a file, escaped only on a terminal
        (sys.stdout if sys.stdout.isatty() else unescaped(sys.stdout)).write(text)
    return EXIT_OK


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def refuse_own_file(path: str, paths: Any) -> None:
    """BadInput if `path` is (a link to, or another name of) the ledger, its side files, the registry or
    the config: writing an export there would destroy it."""
    ledger = str(paths.ledger)
    guarded = [(ledger, "the ledger")]
    for base in dict.fromkeys((ledger, os.path.realpath(ledger))):
        guarded += [
            (base + "-wal", "the ledger's write-ahead log"),
            (base + "-shm", "the ledger's shared-memory file"),
            (base + "-journal", "the ledger's journal"),
        ]
    guarded += [(str(paths.registry), "the model registry"), (str(paths.config), "the config file")]
    for own, what in guarded:
        if _same_file(path, own):
            raise BadInput(f"--output {path} is {what} ({own}); choose another file")


def write_output(path: str, text: str) -> None:
    """Write an export to `path`. A regular file is replaced atomically (through a symlink, the file it
    points to); anything else (a FIFO, a device, /dev/stdout) is written in place, never replaced.
    A failed write raises OutputError."""
    import stat

    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    real = os.path.realpath(path)
    special = any(p.startswith(("/dev/", "/proc/")) for p in (os.path.abspath(path), real))
    try:
        if st is not None and (special or not stat.S_ISREG(st.st_mode)):
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        else:
            write_atomic(real if st is not None else path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` atomically (a reader sees the old file or the new one, never half)."""

    def fill(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    replace_atomically(path, fill)


def replace_atomically(path: str, fill) -> None:
    """Let `fill(tmp)` write a temporary file beside `path`, give it the mode an ordinary new file would
    have (mkstemp makes 0600), then rename it over `path`; on any error nothing is left behind."""
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{path} is a folder; give a file name")
    if not target.parent.exists():
        raise BadInput(f"folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        fill(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cmd_models(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    if args.pareto:
        from modelwise.cli_whatif import print_pareto

        if not args.task:
            raise BadInput("--pareto needs --task TYPE (the frontier is per task type)")
        front = svc.pareto(args.task)
        if args.json:
            emit(front)
        else:
            print_pareto(front, args.task)
        return EXIT_OK
    rows = svc.models_table(task=args.task, sort=args.sort, limit=args.limit)
    if args.json:
        emit(rows)
        return EXIT_OK
    q_label = f"q({args.task})" if args.task else "quality"
    print(
        f"{'id':<40} {'provider':<12} {'in $/1M':>9} {'out $/1M':>9} {'$/1k':>9} {q_label:>10}"
        + (f" {'score':>7}" if args.task else "")
        + f" {'latency':>8}  source"
    )
    for r in rows:
        q = "unrated" if r["quality"] is None else f"{r['quality']:.3f}"
        if r.get("ratingBorrowedFrom"):
            q += "*"  # rated from another variant's arena entry (see --json ratingBorrowedFrom)
        lat = "-" if r["latencyMs"] is None else f"{r['latencyMs']:.0f}"
        obs = r.get("observed")
        extra = ""
        if obs:  # registry -> observed, with the outcomes behind the observed value
            cq = obs.get("calibratedQuality")
            cal = f" q {q}->{cq:.3f}" if cq is not None else ""
            med = obs.get("medianLatencyMs")
            extra = f"  observed{cal} {obs['successes']}/{obs['outcomes']} ok n={obs['outcomes']}" + (
                f" median {med:.0f} ms" if med is not None else ""
            )
        print(
            f"{r['id'][:40]:<40} {(r['provider'] or '-')[:12]:<12} {_price_cell(r['inputPer1M'], 9, 3)} "
            f"{_price_cell(r['outputPer1M'], 9, 3)} "
            f"{_price_cell(r['blendedPer1k'], 9, 6)} {q:>10}"
            + (f" {'-' if r['score'] is None else format(r['score'], '.4f'):>7}" if args.task else "")
            + f" {lat:>8}  {r['source'] or '-'}{extra}"
        )
    print(f"{len(rows)} models", file=sys.stderr)
    return EXIT_OK


def _ledger_zone(ledger: Path, configured: str | None) -> dict[str, str]:
    """The budget day's zone as `locate` reports it: the ledger's own, or the one a new ledger would get."""
    from modelwise.ledger import peek_zone
    from modelwise.zone import machine_zone_name

    recorded = peek_zone(ledger)
    if recorded is not None:
        return {"timezone": recorded, "timezoneSource": "recorded in the ledger"}
    if configured is not None:
        return {"timezone": configured, "timezoneSource": "the config's; a new ledger will record it"}
    return {"timezone": machine_zone_name(), "timezoneSource": "this machine's; a new ledger will record it"}


def _price_cell(price: float | None, width: int, digits: int) -> str:
    return f"{'unknown':>{width}}" if price is None else f"{price:>{width}.{digits}f}"


def cmd_locate(args: argparse.Namespace) -> int:
    from modelwise.loading import load_settings
    from modelwise.paths import config_path, resolve

    cfg, explicit = config_path(getattr(args, "config", None))
    settings, from_config = load_settings(cfg, explicit)
    paths = resolve(
        cfg, explicit, getattr(args, "registry", None), getattr(args, "ledger", None), from_config
    )
    data = paths.to_json()
    data.update(_ledger_zone(paths.ledger, settings.timezone))
    if args.json:
        emit(data)
    else:
        print(
            f"config:   {data['config']}"
            f"{'' if data['configExists'] else '  (not created; defaults in use)'}"
        )
        print(f"registry: {data['registry']}")
        print(f"ledger:   {data['ledger']}")
        print(f"timezone: {data['timezone']}  ({data['timezoneSource']})")
        for t in data["themes"]:
            print(f"themes:   {t}")
        print(f"cache:    {data['cache']}")
    return EXIT_OK


def cmd_console(args: argparse.Namespace) -> int:
    svc = service_from_args(args)  # a bad registry or config is reported before the screen changes
    from modelwise.tui.app import run

    return run(svc)


# -- parser --------------------------------------------------------------------------------------


def _add_globals(p: argparse.ArgumentParser, suppress: bool) -> None:
    import argparse

    default = argparse.SUPPRESS if suppress else None
    p.add_argument(
        "--registry", metavar="PATH", default=default, help="registry file (env MODELWISE_REGISTRY)"
    )
    p.add_argument("--ledger", metavar="PATH", default=default, help="ledger file (env MODELWISE_LEDGER)")
    p.add_argument("--config", metavar="PATH", default=default, help="config file (env MODELWISE_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    _Parser = _parser_class()
    parser = _Parser(
        prog="modelwise",
        description="Route every LLM task to the best model for the money, inside a hard daily budget.",
        epilog=(
            "With no command, opens the console. "
            "Exit codes: 0 done, 2 bad input, 3 refused, 1 unexpected."
        ),
    )
    _add_globals(parser, suppress=False)
    from modelwise import __version__

    parser.add_argument("--version", action="version", version=f"modelwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _add_globals(p, suppress=True)
        p.set_defaults(func=func)
        return p

    def task_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("type", help="task type, e.g. code_generation")
        p.add_argument("description", help="what the task is (redacted before it is stored)")
        p.add_argument("budget", nargs="?", default=None, help="most this task may cost, USD")
        p.add_argument("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost")
        p.add_argument("--min-quality", type=float, metavar="Q")
        p.add_argument("--max-latency", type=float, metavar="MS")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument(
            "--any-provider", action="store_true",
            help="consider the whole registry, not only models a configured provider serves",
        )

    p = command("route", "route one task and record the decision", cmd_route)
    task_args(p)
    p.add_argument("--agent", help="who asked (for per-agent statistics)")
    p.add_argument("--request-id", help="idempotency key: the same id returns the first decision")
    p.add_argument("--capability", action="append", metavar="CAP", help="require a capability (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="record nothing")
    p.add_argument("--all-candidates", action="store_true", help="list every model, not the top 10")

    p = command("explain", "the whole breakdown, margin and flip points; records nothing", cmd_explain)
    task_args(p)
    p.add_argument("--limit", type=int, default=20, help="rows of the breakdown to print (0 = all)")
    p.add_argument("--leads", type=int, default=5, help="how many next models to compare the winner with")
    p.add_argument("--grid", action="store_true", help="which model wins for cost x performance weights")
    p.add_argument("--grid-values", metavar="V,V,...", help="the grid's weight values (default 0,0.2,...,1)")

    p = command("record", "record the outcome of a decision", cmd_record)
    p.add_argument("decision_id", metavar="DECISION_ID")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--success", action="store_true")
    g.add_argument("--failure", action="store_true")
    g.add_argument("--error", action="store_true")
    p.add_argument("--latency-ms", type=float)
    p.add_argument("--input-tokens", type=int)
    p.add_argument("--output-tokens", type=int)
    p.add_argument(
        "--cached-tokens", type=int, metavar="K", help="of the input tokens, read from the prompt cache"
    )
    p.add_argument(
        "--cache-write-tokens", type=int, metavar="W", help="of the input tokens, written to the prompt cache"
    )
    p.add_argument("--cost", type=float, help="actual cost in USD (instead of tokens x prices)")
    p.add_argument(
        "--correct",
        action="store_true",
        help="correct the outcome already recorded: append a correction (give every value again) that "
        "supersedes it; the original is kept and shown by audit",
    )
    p.add_argument("--reason", metavar="TEXT", help="why the outcome is corrected (with --correct)")
    p.add_argument("--json", action="store_true")

    p = command(
        "stats", "today's tasks, spend, average cost, latency, success rate and model use", cmd_stats
    )
    p.add_argument("--since", help="7d, 24h, today, 2026-11-01 or an ISO time")
    p.add_argument("--until")
    p.add_argument("--all", action="store_true", help="every day in the ledger")
    p.add_argument("--by", choices=["agent"], help="break down by agent")
    p.add_argument("--json", action="store_true")

    p = command("export", "decisions with their costs and outcomes as json or csv", cmd_export)
    p.add_argument("format", metavar="json|csv")
    p.add_argument("--output", "-o", metavar="FILE")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--anonymize", action="store_true", help="drop descriptions, hash agent names")

    p = command("models", "the registry as a table", cmd_models)
    p.add_argument("--task", help="quality for this task type; only capable models")
    p.add_argument(
        "--sort",
        help="id, name, provider, quality, score (with --task), cost, input, output, latency, context; "
        "default: best first (the task's score with --task, else quality; unrated last)",
    )
    p.add_argument("--limit", type=int)
    p.add_argument("--pareto", action="store_true", help="only the cost/quality frontier for --task")
    p.add_argument("--json", action="store_true")

    p = command("locate", "print the paths of the config, ledger, registry and themes", cmd_locate)
    p.add_argument("--json", action="store_true")

    command("console", "open the console (the default with no command)", cmd_console)

    # Each area adds its commands from its own module (kept light: heavy imports happen inside commands).
    from modelwise import cli_learning, cli_ledger, cli_providers, cli_registry, cli_service, cli_whatif

    cli_registry.add_parser(sub)
    for area in (cli_service, cli_learning, cli_whatif, cli_providers, cli_ledger):
        area.register(command)
    return parser


# -- the fast path of `route` ----------------------------------------------------------------------
# `route` is the command agents run in a loop, from a new process each time. argparse costs ~13 ms
# there (its import and the whole command tree); a plain `route` command line is read by hand instead,
# into exactly the namespace argparse would build. Anything else (help, `--opt=value`, abbreviations,
# values starting with '-', positionals split by options, a bad number, ...) goes to argparse, so every
# message and exit code stays argparse's.

_ROUTE_SWITCHES = {
    "--json": "json", "--dry-run": "dry_run", "--all-candidates": "all_candidates",
    "--any-provider": "any_provider",
}
_ROUTE_OPTIONS = {
    "--agent": "agent",
    "--request-id": "request_id",
    "--weights": "weights",
    "--min-quality": "min_quality",
    "--max-latency": "max_latency",
    "--capability": "capability",
    "--registry": "registry",
    "--ledger": "ledger",
    "--config": "config",
}
_ROUTE_FLOATS = ("min_quality", "max_latency")


def fast_route_args(argv: list[str]) -> Any | None:
    """The namespace `build_parser().parse_args(argv)` returns for a plain `route ...` command line, or
    None when argparse should read it."""
    if not argv or argv[0] != "route":
        return None
    ns: dict[str, Any] = {
        "registry": None, "ledger": None, "config": None, "command": "route", "budget": None,
        "weights": None, "min_quality": None, "max_latency": None, "json": False, "agent": None,
        "request_id": None, "capability": None, "dry_run": False, "all_candidates": False,
        "any_provider": False,
    }
    positionals: list[str] = []
    run_ended = False  # positionals must be one unbroken run (argparse splits runs around options)
    i, n = 1, len(argv)
    while i < n:
        tok = argv[i]
        i += 1
        if not tok.startswith("-"):
            if run_ended:
                return None
            positionals.append(tok)
            continue
        if positionals:
            run_ended = True
        if tok in _ROUTE_SWITCHES:
            ns[_ROUTE_SWITCHES[tok]] = True
            continue
        dest = _ROUTE_OPTIONS.get(tok)
        if dest is None or i >= n or argv[i].startswith("-"):
            return None
        value: Any = argv[i]
        i += 1
        if dest in _ROUTE_FLOATS:
            try:
                value = float(value)
            except ValueError:
                return None
        if dest == "capability":
            value = [*(ns["capability"] or ()), value]
        ns[dest] = value
    if len(positionals) not in (2, 3):
        return None
    ns["type"], ns["description"] = positionals[0], positionals[1]
    if len(positionals) == 3:
        ns["budget"] = positionals[2]
    ns["func"] = cmd_route
    from types import SimpleNamespace

    return SimpleNamespace(**ns)


# Commands that live long enough for cyclic garbage to matter keep the garbage collector on.
LONG_RUNNING = {None, "console", "serve", "batch", "evaluate", "registry", "whatif", "audit", "savings"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    import gc

    gc_enabled = gc.isenabled()
    gc.disable()  # a one-shot command exits long before cycles could pile up
    try:
        return _main(argv, gc_enabled)
    finally:
        if gc_enabled:
            gc.enable()


def _main(argv: list[str], gc_enabled: bool) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafe(sys.stdout), TerminalSafe(sys.stderr)
    try:
        return _run(argv, gc_enabled, streams)
    finally:
        if isinstance(sys.stdout, TerminalSafe):  # (a broken pipe leaves stdout on os.devnull)
            sys.stdout = streams[0]
        if isinstance(sys.stderr, TerminalSafe):
            sys.stderr = streams[1]


def _run(argv: list[str], gc_enabled: bool, streams: tuple[Any, Any]) -> int:
    import gc

    try:
        parser = None
        args = fast_route_args(argv)
        if args is None:
            parser = build_parser()
            args = parser.parse_args(argv)
        if gc_enabled and getattr(args, "command", None) in LONG_RUNNING:
            gc.enable()
        if getattr(args, "command", None) in (None, "console"):
            # a full-screen app draws on the terminal on purpose (`serve` hands uvicorn the raw streams)
            sys.stdout, sys.stderr = streams
        if not getattr(args, "func", None):
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                # Not on a terminal (a pipe, CI, a test): a full-screen app would hang; say what to run.
                parser.print_help()
                return EXIT_OK
            return cmd_console(args)
        return int(args.func(args) or 0)
    except ModelwiseError as exc:
        print(f"modelwise: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if os.environ.get("MODELWISE_DEBUG"):
            raise
        print(
            f"modelwise: unexpected error: {type(exc).__name__}: {exc}"
            " (MODELWISE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    raise SystemExit(main())
