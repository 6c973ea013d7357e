"""What the console knows of the ledger at one moment, read in a worker thread and handed to the panes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelwise.core.calibration import EMPTY, Calibration

if TYPE_CHECKING:
    from modelwise.service import TokenOptimizationService

HISTORY_LIMIT = 500


@dataclass(frozen=True)
class LedgerState:
    """A snapshot: today's budget status, spend over time, decisions (newest first) and calibration."""

    version: int
    day: str
    budget: dict[str, Any]
    spend: dict[str, Any]
    decisions: list[dict[str, Any]]
    calibration: Calibration = EMPTY
    spent_by_tier: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Winner:
    """The route form's winner, for the registry's chart: for which task type, which model (None when
    the form's task is refused)."""

    task_type: str
    model: str | None = None
    name: str | None = None


def read_state(service: TokenOptimizationService, version: int, bucket_minutes: int = 15) -> LedgerState:
    """Read a snapshot through the service (blocking: call it from a worker thread)."""
    from modelwise.tui.format import shown

    budget = shown(service.budget_status())
    return LedgerState(
        version=version,
        day=budget["day"],
        budget=budget,
        spend=service.spend_over_time(bucket_minutes),
        decisions=shown(service.decisions(since="today", newest_first=True, limit=HISTORY_LIMIT)),
        calibration=service.calibration(),
        spent_by_tier={t["tier"]: t["spent"] for t in budget["tiers"]},
    )
