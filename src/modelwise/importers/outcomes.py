"""Reading per-prompt outcome data (JSONL or JSONL.gz) for `modelwise evaluate`.

One JSON object per line and per prompt x model: `prompt_id, task_type, model, score, input_tokens,
output_tokens, cost_usd, prompt?` (the format of `data/outcomes/`, see data/README.md). A bad line is a
bad input naming the file and the line number; nothing is half-read."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from modelwise.core.errors import BadInput

REQUIRED = ("prompt_id", "task_type", "model", "score", "input_tokens", "output_tokens", "cost_usd")
OPTIONAL = ("prompt",)


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One model's recorded result on one prompt."""

    prompt_id: str
    task_type: str
    model: str
    score: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    line: int


@dataclass(frozen=True)
class OutcomeData:
    """The rows of an outcome file, in file order, and what they span."""

    rows: tuple[OutcomeRow, ...]
    source: str
    task_types: tuple[str, ...] = field(default=())
    models: tuple[str, ...] = field(default=())


def _whole(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{where}: {what} must be a whole number, not {value!r}")
    if value != int(value) or value < 0:
        raise BadInput(f"{where}: {what} must be a whole number zero or more, not {value!r}")
    return int(value)


def _number(value: object, what: str, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{where}: {what} must be a finite number, not {value!r}")
    if not low <= value <= high:
        raise BadInput(f"{where}: {what} must be between {low:g} and {high:g}, not {value!r}")
    return float(value)


def _text(value: object, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where}: {what} must be a non-empty string, not {value!r}")
    return value


def parse_line(obj: object, where: str, line: int) -> OutcomeRow:
    """Validate one decoded line."""
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise BadInput(f"{where}: missing {', '.join(missing)}")
    unknown = set(obj) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return OutcomeRow(
        prompt_id=_text(obj["prompt_id"], "prompt_id", where),
        task_type=_text(obj["task_type"], "task_type", where),
        model=_text(obj["model"], "model", where),
        score=_number(obj["score"], "score", where, 0.0, 1.0),
        input_tokens=_whole(obj["input_tokens"], "input_tokens", where),
        output_tokens=_whole(obj["output_tokens"], "output_tokens", where),
        cost_usd=_number(obj["cost_usd"], "cost_usd", where, 0.0, math.inf),
        line=line,
    )


def read_outcomes(path: str | Path) -> OutcomeData:
    """Read and validate an outcome file (gzip is recognised by its magic bytes, whatever the name).

    Besides each line's fields, checks that a prompt has one task type and at most one row per model."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise BadInput(f"{p}: cannot read the outcome file: {exc.strerror or exc}") from None
    rows: list[OutcomeRow] = []
    task_of: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    opener = gzip.open if gz else open
    n = 0
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            for n, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                where = f"{p}:{n}"
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise BadInput(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None
                row = parse_line(obj, where, n)
                first = task_of.setdefault(row.prompt_id, (row.task_type, n))
                if first[0] != row.task_type:
                    raise BadInput(
                        f"{where}: prompt {row.prompt_id!r} has task_type {row.task_type!r} here but "
                        f"{first[0]!r} on line {first[1]}"
                    )
                key = (row.prompt_id, row.model)
                if key in seen:
                    raise BadInput(
                        f"{where}: a second row for prompt {row.prompt_id!r} and model {row.model!r} "
                        f"(first on line {seen[key]})"
                    )
                seen[key] = n
                rows.append(row)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BadInput(f"{p}:{n + 1}: cannot read the outcome file: {exc}") from None
    if not rows:
        raise BadInput(f"{p}: no outcome rows")
    return OutcomeData(
        rows=tuple(rows),
        source=str(p),
        task_types=tuple(sorted({r.task_type for r in rows})),
        models=tuple(sorted({r.model for r in rows})),
    )
