"""The commands, one module each (`modelwise.cli.commands.<name>`), and the table the entry point lists
them from (name and help line, in the order `modelwise --help` shows them). The table is all the entry
point reads before it knows the command: a command's module is imported only when it runs."""

from __future__ import annotations

import sys
from types import ModuleType

COMMANDS: dict[str, str] = {
    "route": "route one task and record the decision",
    "explain": "the whole breakdown, margin and flip points; records nothing",
    "record": "record the outcome of a decision",
    "stats": "today's tasks, spend, average cost, latency, success rate and model use",
    "export": "decisions with their costs and outcomes as json or csv",
    "models": "the registry as a table",
    "locate": "print the paths of the config, ledger, registry and themes",
    "console": "open the console (the default with no command)",
    "registry": "build, update or validate the model registry",
    "serve": "run the local HTTP service (FastAPI under uvicorn)",
    "batch": "route a JSON array or JSONL file of tasks, in input order",
    "savings": "spend against sending every task to a baseline model, per day and annualised",
    "audit": "spend by day, tier, model and agent; alerts; refusals; underperforming models",
    "evaluate": "replay per-prompt outcome data (JSONL[.gz]) with k-fold cross-validation",
    "whatif": (
        "replay recorded decisions under other weights or settings and compare cost, model mix and quality"
    ),
    "providers": "the providers: on or off, whether their key is set, how many models each reaches",
    "cost": "what one call to a model costs, with the prices used",
    "ledger": "work on the ledger itself: copy it to another backend",
}


def load(name: str) -> ModuleType:
    """The module of the command `name`, imported on first use (with `__import__`, which `-X importtime`
    reports, where importlib.import_module's imports go unlisted)."""
    qualified = f"{__name__}.{name}"
    __import__(qualified)
    return sys.modules[qualified]
