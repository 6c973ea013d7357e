"""Numbered schema migrations of the SQLite ledger. Append new ones; never edit an applied one.

Numbers need not be contiguous: a ledger records each migration it applied (schema_migrations), and any
one it lacks is applied, in number order, whatever the numbers of those it has."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "decisions, outcomes, alerts and the spend roll-up",
        [
            """CREATE TABLE decisions (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                request_id TEXT UNIQUE,
                ts TEXT NOT NULL,
                ts_unix REAL NOT NULL,
                day TEXT NOT NULL,
                task_type TEXT NOT NULL,
                tier TEXT NOT NULL,
                agent TEXT,
                model_id TEXT,
                model_name TEXT,
                status TEXT NOT NULL CHECK (status IN ('routed', 'degraded', 'refused')),
                reserved REAL NOT NULL CHECK (reserved >= 0),
                estimated_cost REAL NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                desc_chars INTEGER NOT NULL,
                budget REAL NOT NULL,
                score REAL,
                description TEXT,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX decisions_day ON decisions(day, tier)",
            "CREATE INDEX decisions_ts ON decisions(ts_unix)",
            "CREATE INDEX decisions_agent ON decisions(agent, ts_unix)",
            """CREATE TABLE outcomes (
                decision_id TEXT PRIMARY KEY REFERENCES decisions(id),
                ts TEXT NOT NULL,
                ts_unix REAL NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
                latency_ms REAL,
                input_tokens INTEGER,
                output_tokens INTEGER,
                actual_cost REAL NOT NULL CHECK (actual_cost >= 0),
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
                decisions INTEGER NOT NULL DEFAULT 0,
                spent REAL NOT NULL DEFAULT 0,
                reserved REAL NOT NULL DEFAULT 0,
                settled REAL NOT NULL DEFAULT 0,
                estimated REAL NOT NULL DEFAULT 0,
                outcomes INTEGER NOT NULL DEFAULT 0,
                successes INTEGER NOT NULL DEFAULT 0,
                failures INTEGER NOT NULL DEFAULT 0,
                errors INTEGER NOT NULL DEFAULT 0,
                latency_sum REAL NOT NULL DEFAULT 0,
                latency_n INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (day, tier, agent, model_id, status)
            ) WITHOUT ROWID""",
            """CREATE TABLE alerts (
                day TEXT NOT NULL,
                threshold REAL NOT NULL,
                ts TEXT NOT NULL,
                spent REAL NOT NULL,
                budget REAL NOT NULL,
                message TEXT NOT NULL,
                PRIMARY KEY (day, threshold)
            )""",
        ],
    ),
    (
        2,
        "meta: facts fixed for the ledger's life (its budget day's time zone)",
        [
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        ],
    ),
    (
        3,
        "corrections: appended outcomes that supersede a decision's recorded one; outcomes append-only",
        [
            """CREATE TABLE corrections (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                decision_id TEXT NOT NULL REFERENCES outcomes(decision_id),
                ts TEXT NOT NULL,
                ts_unix REAL NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
                latency_ms REAL,
                input_tokens INTEGER,
                output_tokens INTEGER,
                actual_cost REAL NOT NULL CHECK (actual_cost >= 0),
                reason TEXT
            )""",
            "CREATE INDEX corrections_decision ON corrections(decision_id, seq)",
            """CREATE TRIGGER outcomes_no_update BEFORE UPDATE ON outcomes
                BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: record a correction instead'); END""",
            """CREATE TRIGGER outcomes_no_delete BEFORE DELETE ON outcomes
                BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: record a correction instead'); END""",
            """CREATE TRIGGER corrections_no_update BEFORE UPDATE ON corrections
                BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END""",
            """CREATE TRIGGER corrections_no_delete BEFORE DELETE ON corrections
                BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END""",
        ],
    ),
]

MIGRATIONS.sort(key=lambda m: m[0])
VERSIONS = frozenset(v for v, _, _ in MIGRATIONS)
LATEST = max(VERSIONS)
