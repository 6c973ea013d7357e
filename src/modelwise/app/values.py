"""What the application layer checks and shares: the bounds of inputs, the validators that turn a
caller's values into typed ones (one-line BadInput errors naming what is wrong), times as users write
them, and the time and id sources a test can replace."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from modelwise.core.errors import BadInput
from modelwise.core.models import ModelSpec
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints

OUTCOMES = ("success", "failure", "error")
MAX_DESCRIPTION = 1_000_000
MAX_NAME = 200
# Bounds of one outcome: beyond them a number is a mistake, and sums of them would leave the range of a
# float (spend `inf`, shown as null) or of SQLite's 64-bit integers.
MAX_TOKENS = 10**12
MAX_COST = 1_000_000.0
MAX_LATENCY_MS = 1e9  # 11.6 days

def random_suffix(nbytes: int) -> str:
    """The random part of a decision id (hex). os.urandom, as secrets uses, without importing secrets."""
    return os.urandom(nbytes).hex()


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(now: datetime) -> str:
    """An instant as the ledger and the JSON objects write it: UTC, milliseconds, `Z`."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finite_number(value: Any, what: str, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{what} must be a number, not {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise BadInput(f"{what} must be a finite number, not {value!r}")
    if x < 0 or (positive and x == 0 and not allow_zero):
        raise BadInput(f"{what} must be {'positive' if positive else 'zero or more'}, not {value!r}")
    return x


def parse_constraints(c: Constraints | Mapping[str, Any] | None) -> Constraints:
    if c is None:
        return NO_CONSTRAINTS
    if isinstance(c, Constraints):
        return c
    if not isinstance(c, Mapping):
        raise BadInput("constraints must be an object {minQuality, maxLatencyMs, capabilities}")
    unknown = set(c) - {"minQuality", "maxLatencyMs", "capabilities", "min_quality", "max_latency_ms"}
    if unknown:
        raise BadInput(f"constraints: unknown key(s) {', '.join(sorted(unknown))}")
    mq = c.get("minQuality", c.get("min_quality"))
    ml = c.get("maxLatencyMs", c.get("max_latency_ms"))
    caps = c.get("capabilities") or ()
    if mq is not None:
        mq = finite_number(mq, "constraints.minQuality")
        if mq > 1:
            raise BadInput(f"constraints.minQuality must be between 0 and 1, not {mq:g}")
    if ml is not None:
        ml = finite_number(ml, "constraints.maxLatencyMs", positive=True, allow_zero=False)
    if isinstance(caps, str) or not all(isinstance(x, str) and x for x in caps):
        raise BadInput("constraints.capabilities must be a list of capability names")
    return Constraints(mq, ml, tuple(sorted(set(caps))))


def check_token_limits(
    model: ModelSpec, given_in: int | None, given_out: int | None, tin: int, tout: int
) -> None:
    """Token counts an outcome reports for `model`: `tin`/`tout` are those it is priced on (the given
    ones, else the decision's estimate). Beyond the model's maximum output or context window they are a
    mistake (a typo would otherwise settle at any price), named in one line with the model's limit."""
    name = f"{model.name} ({model.id})" if model.name != model.id else model.id
    if given_out is not None and model.max_output_tokens is not None and tout > model.max_output_tokens:
        raise BadInput(
            f"output tokens {tout:,} exceed the maximum output of {name}: {model.max_output_tokens:,} tokens"
        )
    if model.context_window is not None and tin + tout > model.context_window:
        counted = " + ".join(
            f"{what} {n:,}{'' if given is not None else ' (estimated)'}"
            for what, n, given in (("input tokens", tin, given_in), ("output tokens", tout, given_out))
        )
        raise BadInput(
            f"{counted} = {tin + tout:,} tokens exceed the context window of {name}: "
            f"{model.context_window:,} tokens"
        )


MAX_REASON = 1000


def correction_reason(reason: Any) -> str:
    """A correction's reason as stored: one line of printable text, redacted like a description."""
    if not isinstance(reason, str):
        raise BadInput(f"reason must be text, not {reason!r}")
    if len(reason) > MAX_REASON:
        raise BadInput(f"reason must be at most {MAX_REASON:,} characters, not {len(reason):,}")
    if not reason.isprintable():
        raise BadInput("reason must be one line of printable text (no control characters)")
    from modelwise.core.redaction import redact

    return redact(reason)


class Scrubbed(NamedTuple):
    """A task's free text as the ledger keeps it (see `app.routing.scrub`)."""

    description: str | None
    agent: str | None
    request_id: str | None


def parse_when(
    text: str | None, now: datetime, tz: tzinfo | None, end: bool = False, what: str | None = None
) -> datetime:
    """`7d`, `24h`, `30m` (ago), `today`, `yesterday`, a date `2026-11-26` (its start, or with `end` the
    start of the next day) or an ISO 8601 time. Raises BadInput."""
    if text is None:
        return now
    t = text.strip().lower()
    units = {"d": 86400, "h": 3600, "m": 60, "w": 7 * 86400}
    try:
        # ASCII digits only: str.isdigit() also accepts '²' and other digits float() cannot read
        number = t[:-1].replace(".", "", 1)
        if len(t) >= 2 and t[-1] in units and number.isascii() and number.isdigit():
            return now - timedelta(seconds=float(t[:-1]) * units[t[-1]])
        local_now = now.astimezone(tz)
        if t in ("today", "yesterday"):
            d = local_now.date() - timedelta(days=1 if t == "yesterday" else 0)
            start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
            return start + timedelta(days=1) if end else start
        if len(t) == 10:
            d = date.fromisoformat(t)
            start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
            return start + timedelta(days=1) if end else start
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=local_now.tzinfo)
        dt.timestamp()  # in range for the ledger's timestamps (raises OverflowError otherwise)
    except (OverflowError, ValueError):  # '99999999d' or the day after 9999-12-31 overflow datetime
        raise BadInput(
            f"{what + ': ' if what else ''}cannot read the time {text!r} "
            "(use 7d, 24h, today, 2026-11-26 or an ISO time from year 1 to 9999)"
        ) from None
    return dt
