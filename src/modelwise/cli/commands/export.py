"""`modelwise export`: decisions with their costs and outcomes as JSON or CSV, to stdout or a file."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.files import refuse_own_file, write_output
from modelwise.cli.output import unescaped
from modelwise.core.errors import BadInput, json_safe

if TYPE_CHECKING:
    import argparse

NAME = "export"
HELP = "decisions with their costs and outcomes as json or csv"

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", metavar="json|csv")
    p.add_argument("--output", "-o", metavar="FILE")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--anonymize", action="store_true", help="drop descriptions, hash agent names")


def run(args: argparse.Namespace) -> int:
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
