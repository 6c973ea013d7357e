"""Numbered schema migrations of the PostgreSQL ledger: the same numbers and meaning as the SQLite ones
(migrations.py), in PostgreSQL's dialect. Append new ones; never edit an applied one."""

from __future__ import annotations

from modelwise.ledger.migrations import MIGRATIONS as SQLITE_MIGRATIONS

_APPEND_ONLY = """CREATE OR REPLACE FUNCTION modelwise_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: record a correction instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$"""


def _no_change(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION modelwise_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION modelwise_append_only()",
    ]


MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "decisions, outcomes, alerts and the spend roll-up",
        [
            """CREATE TABLE decisions (
                seq BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                request_id TEXT UNIQUE,
                ts TEXT NOT NULL,
                ts_unix DOUBLE PRECISION NOT NULL,
                day TEXT NOT NULL,
                task_type TEXT NOT NULL,
                tier TEXT NOT NULL,
                agent TEXT,
                model_id TEXT,
                model_name TEXT,
                status TEXT NOT NULL CHECK (status IN ('routed', 'degraded', 'refused')),
                reserved DOUBLE PRECISION NOT NULL CHECK (reserved >= 0),
                estimated_cost DOUBLE PRECISION NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                desc_chars BIGINT NOT NULL,
                budget DOUBLE PRECISION NOT NULL,
                score DOUBLE PRECISION,
                description TEXT,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX decisions_day ON decisions(day, tier)",
            "CREATE INDEX decisions_ts ON decisions(ts_unix)",
            "CREATE INDEX decisions_agent ON decisions(agent, ts_unix)",
            """CREATE TABLE outcomes (
                decision_id TEXT PRIMARY KEY REFERENCES decisions(id),
                seq BIGSERIAL NOT NULL UNIQUE,
                ts TEXT NOT NULL,
                ts_unix DOUBLE PRECISION NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
                latency_ms DOUBLE PRECISION,
                input_tokens BIGINT,
                output_tokens BIGINT,
                actual_cost DOUBLE PRECISION NOT NULL CHECK (actual_cost >= 0),
                model_id TEXT NOT NULL,
                task_type TEXT NOT NULL,
                day TEXT NOT NULL
            )""",
            "CREATE INDEX outcomes_model ON outcomes(model_id, task_type)",
            """CREATE TABLE rollup (
                day TEXT NOT NULL,
                tier TEXT NOT NULL,
                agent TEXT NOT NULL,
                model_id TEXT NOT NULL,
                status TEXT NOT NULL,
                decisions BIGINT NOT NULL DEFAULT 0,
                spent DOUBLE PRECISION NOT NULL DEFAULT 0,
                reserved DOUBLE PRECISION NOT NULL DEFAULT 0,
                settled DOUBLE PRECISION NOT NULL DEFAULT 0,
                estimated DOUBLE PRECISION NOT NULL DEFAULT 0,
                outcomes BIGINT NOT NULL DEFAULT 0,
                successes BIGINT NOT NULL DEFAULT 0,
                failures BIGINT NOT NULL DEFAULT 0,
                errors BIGINT NOT NULL DEFAULT 0,
                latency_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
                latency_n BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (day, tier, agent, model_id, status)
            )""",
            """CREATE TABLE alerts (
                day TEXT NOT NULL,
                threshold DOUBLE PRECISION NOT NULL,
                ts TEXT NOT NULL,
                spent DOUBLE PRECISION NOT NULL,
                budget DOUBLE PRECISION NOT NULL,
                message TEXT NOT NULL,
                PRIMARY KEY (day, threshold)
            )""",
            _APPEND_ONLY,
            *_no_change("decisions"),
        ],
    ),
    (
        2,
        "meta: facts fixed for the ledger's life (its budget day's time zone)",
        ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"],
    ),
    (
        3,
        "corrections: appended outcomes that supersede a decision's recorded one; outcomes append-only",
        [
            """CREATE TABLE corrections (
                seq BIGSERIAL PRIMARY KEY,
                decision_id TEXT NOT NULL REFERENCES outcomes(decision_id),
                ts TEXT NOT NULL,
                ts_unix DOUBLE PRECISION NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
                latency_ms DOUBLE PRECISION,
                input_tokens BIGINT,
                output_tokens BIGINT,
                actual_cost DOUBLE PRECISION NOT NULL CHECK (actual_cost >= 0),
                reason TEXT
            )""",
            "CREATE INDEX corrections_decision ON corrections(decision_id, seq)",
            *_no_change("outcomes"),
            *_no_change("corrections"),
        ],
    ),
]

MIGRATIONS.sort(key=lambda m: m[0])
VERSIONS = frozenset(v for v, _, _ in MIGRATIONS)
LATEST = max(VERSIONS)
assert VERSIONS == {v for v, _, _ in SQLITE_MIGRATIONS}, "every SQLite migration has its PostgreSQL twin"
