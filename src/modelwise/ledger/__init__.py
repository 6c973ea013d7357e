"""The ledger: the one interface to where decisions, outcomes and alerts are kept (SQLite by default).

Nothing outside this package speaks SQL; a PostgreSQL backend would implement `Ledger` too."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(slots=True)
class NewDecision:
    """A routed or refused decision ready to be written. `response` is the JSON answer (docs/design.md,
    "Command line"), stored whole so an idempotent retry and the history get exactly what was answered."""

    id: str
    request_id: str | None
    ts: str
    ts_unix: float
    day: str
    task_type: str
    tier: str
    agent: str | None
    model_id: str | None
    model_name: str | None
    status: str
    reserved: float
    estimated_cost: float
    input_tokens: int
    output_tokens: int
    desc_chars: int
    budget: float
    score: float | None
    description: str | None
    response: dict[str, Any]
    # thresholds reached: (share of the daily budget, spend after this decision, daily budget, message)
    alerts: list[tuple[float, float, float, str]] = field(default_factory=list)


@dataclass(slots=True)
class Settlement:
    """An outcome (or a correction of one) ready to be written. `alerts` as in NewDecision; `reason`: why
    a correction was made."""

    outcome: str
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    actual_cost: float
    alerts: list[tuple[float, float, float, str]] = field(default_factory=list)
    reason: str | None = None


# `make(decision, spent_by_tier)`: the settlement of a stored decision (its current outcome, if any, in
# the row), given the spend per tier of the decision's day as it stands before the settlement.
MakeSettlement = Callable[[dict[str, Any], Mapping[str, float]], Settlement]


class Ledger(Protocol):
    path: str
    zone: str  # the IANA time zone of the ledger's budget day, fixed when it was created

    def admit(
        self,
        day: str,
        request_id: str | None,
        make: Callable[[Mapping[str, float]], NewDecision],
    ) -> tuple[dict[str, Any], bool]: ...

    def settle(
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]: ...

    def run_batch(self, jobs: Sequence[Callable[[], Any]]) -> list[Any]: ...

    def in_batch(self) -> bool: ...

    def admit_in_batch(
        self, day: str, request_id: str | None, make: Callable[[Mapping[str, float]], NewDecision]
    ) -> tuple[dict[str, Any], bool]: ...

    def settle_in_batch(
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]: ...

    def admit_many(
        self, items: Sequence[tuple[str, str | None, Callable[[Mapping[str, float]], NewDecision]]]
    ) -> list[tuple[dict[str, Any], bool] | Exception]: ...

    def spent_by_tier(self, day: str) -> dict[str, float]: ...

    def decision(self, decision_id: str) -> dict[str, Any] | None: ...

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        agent: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        day: str | None = None,
    ) -> Iterator[dict[str, Any]]: ...

    def replay_rows(self, day_from: str | None, until: float | None) -> list[tuple]: ...

    def outcome_events(self, until: float | None = None) -> list[tuple]: ...

    def outcomes_between(self, after: int, until: int) -> list[tuple]: ...

    def outcomes_since(self, after: int) -> tuple[int, int, list[tuple]]: ...

    def corrections(
        self, day_from: str | None = None, day_to: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]: ...

    def rollup(
        self, day_from: str | None, day_to: str | None, by: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]: ...

    def alerts(self, day_from: str | None = None, day_to: str | None = None) -> list[dict[str, Any]]: ...

    def observations(self) -> list[tuple[str, str, int, int, int, list[float]]]: ...

    def has_outcome(self, rowid: int, decision_id: str) -> bool: ...

    def last_seq(self) -> int: ...

    def outcomes_version(self) -> int: ...

    def data_version(self) -> int: ...

    def spend_by_bucket(
        self, day: str, start_unix: float, bucket_seconds: float
    ) -> list[tuple[int, float]]: ...

    def release(self) -> None: ...

    def check(self, whole_up_to: int = ...) -> None: ...

    def close(self) -> None: ...

    def savings_rollup(
        self, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]: ...

    def decisions_with_status(
        self, statuses: tuple[str, ...], day_from: str | None, day_to: str | None, limit: int | None = None
    ) -> list[dict[str, Any]]: ...


def is_url(location: object) -> bool:
    """Whether a ledger location is a PostgreSQL database (a LedgerUrl, or a postgresql:// string)."""
    if type(location).__name__ == "LedgerUrl":
        return True
    return isinstance(location, str) and location[:13].lower().startswith(("postgresql://", "postgres://"))


def open_ledger(path: str | Path, synchronous: str = "full", zone: str = "UTC") -> Ledger:
    """Open (creating and migrating if needed) the ledger at `path` (a SQLite file, or a `postgresql://`
    URL / LedgerUrl); a new one records `zone`."""
    if is_url(path):
        from modelwise.ledger.postgres import PostgresLedger
        from modelwise.ledger_url import LedgerUrl

        url = path if isinstance(path, LedgerUrl) else LedgerUrl(str(path))
        return PostgresLedger(url, zone=zone)
    from modelwise.ledger.sqlite import SqliteLedger, warn_if_network

    warn_if_network(str(path))
    return SqliteLedger(str(path), synchronous=synchronous, zone=zone)


def ledger_exists(path: str | Path) -> bool:
    """Whether there is a ledger there already: the file; a PostgreSQL database always counts (opening it
    creates nothing but the ledger's tables, in a database that exists)."""
    return is_url(path) or Path(path).exists()


def peek_zone(path: str | Path) -> str | None:
    """The zone recorded in an existing ledger, read without creating or migrating anything; None when
    there is no ledger or it has not recorded one yet."""
    if is_url(path):
        from modelwise.ledger.postgres import peek_zone as pg_peek_zone

        return pg_peek_zone(path)
    from modelwise.ledger.sqlite import peek_zone as sqlite_peek_zone

    return sqlite_peek_zone(str(path))
