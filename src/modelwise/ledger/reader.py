"""The ledger's reports: read-only queries over the schema both backends share (the SQLite ledger runs
them as they are, the PostgreSQL one through its dialect shim). Admission, settlement, connections and
the schema are the backends' own (sqlite.py, postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelwise.ledger.connection import Connection

# The outcome that counts for a decision is its latest correction when it has one, else the outcome it
# recorded (both tables are append-only). `o` is the outcome, `c` the latest correction (or NULLs).
_LATEST_CORRECTION = (
    "LEFT JOIN corrections c ON c.seq = (SELECT MAX(seq) FROM corrections WHERE decision_id = {})"
)
_OUTCOME_JOIN = "LEFT JOIN outcomes o ON o.decision_id = d.id " + _LATEST_CORRECTION.format("d.id")
_OUTCOME_CORRECTION = _LATEST_CORRECTION.format("o.decision_id")  # from outcomes o


def _now(column: str) -> str:
    """The current value of an outcome column: the latest correction's, else the outcome's."""
    return f"(CASE WHEN c.seq IS NULL THEN o.{column} ELSE c.{column} END)"


_DECISION_COLUMNS = (
    "d.id, d.request_id, d.ts, d.ts_unix, d.day, d.task_type, d.tier, d.agent, d.model_id, d.model_name, "
    "d.status, d.reserved, d.estimated_cost, d.input_tokens, d.output_tokens, d.desc_chars, d.budget, "
    f"d.score, d.description, d.detail, {_now('outcome')} AS outcome, {_now('actual_cost')} AS actual_cost, "
    f"{_now('latency_ms')} AS latency_ms, {_now('input_tokens')} AS actual_input_tokens, "
    f"{_now('output_tokens')} AS actual_output_tokens, o.ts AS outcome_ts, c.ts AS corrected_ts"
)


class LedgerReader:
    """The read side of a ledger: roll-ups, decisions, alerts, corrections, what learning and what-if
    replay read. A backend gives it `_conn()`, this thread's connection."""

    def _conn(self) -> Connection:
        raise NotImplementedError

    @staticmethod
    def _spent(conn: Connection, day: str) -> dict[str, float]:
        rows = conn.execute("SELECT tier, SUM(spent) FROM rollup WHERE day = ? GROUP BY tier", (day,))
        return {tier: total for tier, total in rows}

    def spent_by_tier(self, day: str) -> dict[str, float]:
        return self._spent(self._conn(), day)

    def rollup(
        self, day_from: str | None, day_to: str | None, by: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Sums of the roll-up over days [day_from, day_to], grouped by any of day, tier, agent, model_id,
        status."""
        allowed = {"day", "tier", "agent", "model_id", "status"}
        if not set(by) <= allowed:
            raise ValueError(f"cannot group by {by}")
        cols = ", ".join(by)
        where, params = self._day_range(day_from, day_to)
        sql = (
            f"SELECT {cols + ',' if cols else ''} SUM(decisions) AS decisions, SUM(spent) AS spent, "
            "SUM(reserved) AS reserved, SUM(settled) AS settled, SUM(estimated) AS estimated, "
            "SUM(outcomes) AS outcomes, SUM(successes) AS successes, SUM(failures) AS failures, "
            "SUM(errors) AS errors, SUM(latency_sum) AS latency_sum, SUM(latency_n) AS latency_n "
            f"FROM rollup {where} {'GROUP BY ' + cols if cols else ''}"
        )
        return [dict(r) for r in self._conn().execute(sql, params)]

    @staticmethod
    def _day_range(day_from: str | None, day_to: str | None) -> tuple[str, list[str]]:
        clauses, params = [], []
        if day_from is not None:
            clauses.append("day >= ?")
            params.append(day_from)
        if day_to is not None:
            clauses.append("day <= ?")
            params.append(day_to)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_DECISION_COLUMNS} FROM decisions d {_OUTCOME_JOIN} WHERE d.id = ?",
                (decision_id,),
            )
            .fetchone()
        )
        return None if row is None else dict(row)

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        agent: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        day: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Decisions with their outcomes, in time order (or newest first); `since`/`until` are Unix times,
        `until` exclusive."""
        clauses: list[str] = []
        params: list[str | float] = []
        if since is not None:
            clauses.append("d.ts_unix >= ?")
            params.append(since)
        if until is not None:
            clauses.append("d.ts_unix < ?")
            params.append(until)
        if agent is not None:
            clauses.append("d.agent = ?")
            params.append(agent)
        if day is not None:
            clauses.append("d.day = ?")
            params.append(day)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        order = "DESC" if newest_first else "ASC"
        lim = f"LIMIT {int(limit)}" if limit is not None else ""
        cur = self._conn().execute(
            f"SELECT {_DECISION_COLUMNS} FROM decisions d {_OUTCOME_JOIN} {where} "
            f"ORDER BY d.seq {order} {lim}",
            params,
        )
        for row in cur:
            yield dict(row)

    def replay_rows(self, day_from: str | None, until: float | None) -> list[tuple]:
        """What a what-if replay needs of each decision from day `day_from` on, admitted before Unix time
        `until` (None: all), in admission order: (seq, ts_unix, day, task_type, model_id, status, reserved,
        estimated_cost, input_tokens, output_tokens, budget, weights JSON, constraints JSON, outcome,
        actual_cost, actual input tokens, actual output tokens, outcome ts_unix, the daily budget in force
        (None for a decision recorded before it was kept)). Only the weights, constraints and daily budget
        are read out of the stored answer, inside SQLite."""
        clauses: list[str] = []
        params: list[str | float] = []
        if day_from is not None:
            clauses.append("d.day >= ?")
            params.append(day_from)
        if until is not None:
            clauses.append("d.ts_unix < ?")
            params.append(until)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = (
            "SELECT d.seq, d.ts_unix, d.day, d.task_type, d.model_id, d.status, d.reserved, "
            "d.estimated_cost, d.input_tokens, d.output_tokens, d.budget, "
            "json_extract(d.detail, '$.weights'), json_extract(d.detail, '$.constraints'), "
            f"{_now('outcome')}, {_now('actual_cost')}, {_now('input_tokens')}, {_now('output_tokens')}, "
            f"o.ts_unix, json_extract(d.detail, '$.dailyBudget') "
            f"FROM decisions d {_OUTCOME_JOIN} {where} ORDER BY d.seq"
        )
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: ten thousand rows in a few milliseconds
        return cur.execute(sql, params).fetchall()

    def outcome_events(self, until: float | None = None) -> list[tuple]:
        """Every outcome recorded at or before Unix time `until` (None: all), oldest first:
        (ts_unix, the decision's seq, model_id, task_type, outcome, latency_ms). A corrected outcome
        gives its latest correction's values at the time the outcome was first recorded."""
        where, params = ("WHERE o.ts_unix <= ?", [until]) if until is not None else ("", [])
        cur = self._conn().cursor()
        cur.row_factory = None
        return cur.execute(
            f"SELECT o.ts_unix, d.seq, o.model_id, o.task_type, {_now('outcome')}, {_now('latency_ms')} "
            f"FROM outcomes o JOIN decisions d ON d.id = o.decision_id {_OUTCOME_CORRECTION} {where} "
            "ORDER BY o.ts_unix, d.seq",
            params,
        ).fetchall()

    def alerts(self, day_from: str | None = None, day_to: str | None = None) -> list[dict[str, Any]]:
        where, params = self._day_range(day_from, day_to)
        rows = self._conn().execute(f"SELECT * FROM alerts {where} ORDER BY day, threshold", params)
        return [dict(r) for r in rows]

    def corrections(
        self, day_from: str | None = None, day_to: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Corrections of the decisions of days [day_from, day_to], newest first, each with the values it
        replaced (`previous_*`: the correction before it, else the outcome first recorded), its own values
        and the first recorded outcome (`original_*`)."""
        clauses, params = [], []
        if day_from is not None:
            clauses.append("d.day >= ?")
            params.append(day_from)
        if day_to is not None:
            clauses.append("d.day <= ?")
            params.append(day_to)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        lim = f"LIMIT {int(limit)}" if limit is not None else ""
        cols = ("outcome", "actual_cost", "latency_ms", "input_tokens", "output_tokens")
        original = ", ".join(f"o.{k} AS original_{k}" for k in cols)
        previous = ", ".join(
            f"(CASE WHEN p.seq IS NULL THEN o.{k} ELSE p.{k} END) AS previous_{k}" for k in cols
        )
        sql = (
            "SELECT c.seq, c.decision_id, d.day, d.task_type, d.tier, d.agent, d.model_id, d.estimated_cost, "
            f"c.ts, c.reason, {', '.join('c.' + k for k in cols)}, {previous}, {original}, "
            "o.ts AS original_ts FROM corrections c JOIN outcomes o ON o.decision_id = c.decision_id "
            "JOIN decisions d ON d.id = c.decision_id LEFT JOIN corrections p ON p.seq = "
            "(SELECT MAX(seq) FROM corrections WHERE decision_id = c.decision_id AND seq < c.seq) "
            f"{where} ORDER BY c.seq DESC {lim}"
        )
        return [dict(r) for r in self._conn().execute(sql, params)]

    def observations(self) -> list[tuple[str, str, int, int, int, list[float]]]:
        """Per (model, task type): successes, failures, errors and the recorded latencies (sorted), of the
        current outcomes (a corrected one counts with its latest correction's values)."""
        conn = self._conn()
        counts: dict[tuple[str, str], list[int]] = {}
        for model_id, task_type, outcome, n in conn.execute(
            f"SELECT o.model_id, o.task_type, {_now('outcome')}, COUNT(*) FROM outcomes o "
            f"{_OUTCOME_CORRECTION} GROUP BY 1, 2, 3"
        ):
            c = counts.setdefault((model_id, task_type), [0, 0, 0])
            c[("success", "failure", "error").index(outcome)] = n
        lat: dict[tuple[str, str], list[float]] = {}
        for model_id, task_type, ms in conn.execute(
            f"SELECT o.model_id, o.task_type, {_now('latency_ms')} AS ms FROM outcomes o "
            f"{_OUTCOME_CORRECTION} WHERE ms IS NOT NULL ORDER BY 1, 2, 3"
        ):
            lat.setdefault((model_id, task_type), []).append(ms)
        return [(m, t, c[0], c[1], c[2], lat.get((m, t), [])) for (m, t), c in counts.items()]

    def outcomes_between(self, after: int, until: int) -> list[tuple]:
        """Outcomes with rowid in (after, until], oldest first: (rowid, decision id, model_id, task_type,
        outcome, latency_ms), with a corrected outcome's current values. The table is append-only and its
        writes are serialised, so rowids only grow and a reader never sees a gap fill in later."""
        cur = self._conn().cursor()
        cur.row_factory = None
        return cur.execute(
            f"SELECT o.rowid, o.decision_id, o.model_id, o.task_type, {_now('outcome')}, "
            f"{_now('latency_ms')} FROM outcomes o {_OUTCOME_CORRECTION} "
            "WHERE o.rowid > ? AND o.rowid <= ? ORDER BY o.rowid",
            (after, until),
        ).fetchall()

    def outcomes_since(self, after: int) -> tuple[int, int, list[tuple]]:
        """What incremental learning reads, from one snapshot of the ledger: (the newest outcome's rowid,
        the newest correction's seq, the outcomes after rowid `after` as `outcomes_between` gives them).
        A learner that sees the correction seq move reads everything again (a correction changes an
        outcome it has already counted)."""
        conn = self._conn()
        own = not conn.in_transaction  # inside a batch the open transaction is the snapshot
        if own:
            conn.execute("BEGIN")
        try:
            last, seq = conn.execute(
                "SELECT (SELECT IFNULL(MAX(rowid), 0) FROM outcomes), "
                "(SELECT IFNULL(MAX(seq), 0) FROM corrections)"
            ).fetchone()
            rows = self.outcomes_between(after, last)
        finally:
            if own:
                conn.execute("COMMIT")
        return last, seq, rows

    def has_outcome(self, rowid: int, decision_id: str) -> bool:
        """Whether the outcome stored at `rowid` is still that of `decision_id` (the same history)."""
        row = self._conn().execute("SELECT decision_id FROM outcomes WHERE rowid = ?", (rowid,)).fetchone()
        return row is not None and row[0] == decision_id

    def outcomes_version(self) -> int:
        """Changes whenever an outcome or a correction is recorded (both tables are append-only, so the
        sum of their newest row numbers only grows)."""
        row = self._conn().execute(
            "SELECT (SELECT IFNULL(MAX(rowid), 0) FROM outcomes) "
            "+ (SELECT IFNULL(MAX(seq), 0) FROM corrections)"
        ).fetchone()
        return row[0]

    def last_seq(self) -> int:
        row = self._conn().execute("SELECT MAX(seq) FROM decisions").fetchone()
        return row[0] or 0

    def count_decisions(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM decisions").fetchone()[0]

    def savings_rollup(self, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        """Per (day, task type) of the routed and degraded decisions made in [since, until) (Unix times):
        how many, what they cost (settled actual, else the estimate), how many were settled, and their
        tokens (the outcome's when it recorded them, else the estimate), for pricing them on a baseline."""
        clauses, params = ["d.status != 'refused'"], []
        if since is not None:
            clauses.append("d.ts_unix >= ?")
            params.append(since)
        if until is not None:
            clauses.append("d.ts_unix < ?")
            params.append(until)
        sql = (
            "SELECT d.day AS day, d.task_type AS task_type, COUNT(*) AS decisions, "
            f"SUM(COALESCE({_now('actual_cost')}, d.estimated_cost)) AS actual_cost, "
            "SUM(o.decision_id IS NOT NULL) AS settled, "
            f"SUM(COALESCE({_now('input_tokens')}, d.input_tokens)) AS input_tokens, "
            f"SUM(COALESCE({_now('output_tokens')}, d.output_tokens)) AS output_tokens "
            f"FROM decisions d {_OUTCOME_JOIN} "
            f"WHERE {' AND '.join(clauses)} GROUP BY d.day, d.task_type ORDER BY d.day, d.task_type"
        )
        return [dict(r) for r in self._conn().execute(sql, params)]

    def decisions_with_status(
        self, statuses: tuple[str, ...], day_from: str | None, day_to: str | None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Decisions of the given statuses (e.g. refused, degraded) on days [day_from, day_to], newest
        first."""
        if not statuses:
            return []
        clauses = [f"d.status IN ({', '.join('?' for _ in statuses)})"]
        params: list[Any] = list(statuses)
        if day_from is not None:
            clauses.append("d.day >= ?")
            params.append(day_from)
        if day_to is not None:
            clauses.append("d.day <= ?")
            params.append(day_to)
        lim = f"LIMIT {int(limit)}" if limit is not None else ""
        cur = self._conn().execute(
            f"SELECT {_DECISION_COLUMNS} FROM decisions d {_OUTCOME_JOIN} "
            f"WHERE {' AND '.join(clauses)} ORDER BY d.seq DESC {lim}",
            params,
        )
        return [dict(r) for r in cur]

    def spend_by_bucket(self, day: str, start_unix: float, bucket_seconds: float) -> list[tuple[int, float]]:
        """The day's spend (settled actual, else the reservation) per time bucket of `bucket_seconds`
        counted from `start_unix`, by decision time: [(bucket index, spend)], buckets with spend only."""
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        rows = self._conn().execute(
            "SELECT CAST((d.ts_unix - ?) / ? AS INTEGER) AS bucket, "
            f"SUM(CASE WHEN o.actual_cost IS NOT NULL THEN {_now('actual_cost')} ELSE d.reserved END) "
            f"FROM decisions d {_OUTCOME_JOIN} "
            "WHERE d.day = ? AND d.status != 'refused' GROUP BY bucket ORDER BY bucket",
            (start_unix, bucket_seconds, day),
        )
        return [(int(b), float(s or 0.0)) for b, s in rows]
