"""Checks of a ledger (a SQLite file, or a PostgreSQL database through tests/pg_support.py) computed
from its rows with plain SQL, independently of modelwise: what each
decision counts for and whether any admission saw its day or tier over budget."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from typing import Any


def admissions_over_budget(
    conn: sqlite3.Connection | Any, budget: float, shares: Mapping[str, float]
) -> list[tuple[str, str, float, float]]:
    """Admissions that saw their day or tier over budget: [(decision id, 'day' or the tier, the least the
    spend can have been at its admission, its reservation)], empty when all were within.

    At a decision's admission (in `seq` order: admissions are serialised) every earlier decision of the
    day counted for its reservation or one of the values it was settled or corrected at, so at least for
    the least of them. That floor plus the new reservation must be within the budget."""
    rows = [
        (did, day, tier, status, reserved, min(reserved, settled, corrected))
        for did, day, tier, status, reserved, settled, corrected in conn.execute(
            "SELECT d.id, d.day, d.tier, d.status, d.reserved, COALESCE(o.actual_cost, d.reserved), "
            "COALESCE((SELECT MIN(c.actual_cost) FROM corrections c WHERE c.decision_id = d.id), d.reserved) "
            "FROM decisions d LEFT JOIN outcomes o ON o.decision_id = d.id ORDER BY d.seq"
        ).fetchall()
    ]
    day_floor: dict[str, float] = defaultdict(float)
    tier_floor: dict[tuple[str, str], float] = defaultdict(float)
    bad = []
    for did, day, tier, status, reserved, lowest in rows:
        if status != "refused":
            if day_floor[day] + reserved > budget + 1e-9:
                bad.append((did, "day", day_floor[day], reserved))
            if tier_floor[day, tier] + reserved > budget * shares[tier] + 1e-9:
                bad.append((did, tier, tier_floor[day, tier], reserved))
        day_floor[day] += lowest
        tier_floor[day, tier] += lowest
    return bad
