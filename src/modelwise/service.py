"""The brief's public façade every surface goes through: `TokenOptimizationService`.

It holds one `app.context.Context` (settings, registry, paths, clock and zone, ledger, caches) and
delegates each call to its use case: `app.routing` (route, batch, gateway calls, group commit),
`app.explaining` (explain, grid, breakdown, frontier), `app.whatif`, `app.outcomes` (settle, learn,
evaluate) and `app.reports`, each imported when first used (a cold `modelwise route` loads routing
only). A bad input raises BadInput before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.app import routing
from modelwise.app.context import Clock, Context
from modelwise.app.learned import observed_by_key as _observed_by_key  # noqa: F401 - tests read it
from modelwise.app.values import (  # noqa: F401 - the HTTP layer's bounds
    MAX_COST,
    MAX_LATENCY_MS,
    MAX_REASON,
    MAX_TOKENS,
    Scrubbed,
    parse_when,
    utc_now,
)
from modelwise.core.calibration import Calibration
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints, Ranking
from modelwise.core.settings import Settings, Weights
from modelwise.ledger import Ledger
from modelwise.paths import Paths

if TYPE_CHECKING:
    from concurrent.futures import Future

WeightsArg = Weights | str | Sequence[float] | Mapping[str, float] | None


class TokenOptimizationService:
    """Route tasks to models within budget, record outcomes and report, over one registry and ledger.

    Paths: flags > environment > config > platformdirs. `clock` returns an aware datetime (inject one
    to test midnight)."""

    TASK_KEYS = routing.TASK_KEYS

    def __init__(
        self,
        registry: str | Path | Registry | None = None,
        ledger: str | Path | None = None,
        config: str | Path | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
    ):
        self.ctx = Context(registry, ledger, config, settings=settings, clock=clock)

    # -- the context's state -------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def registry(self) -> Registry:
        return self.ctx.registry

    @property
    def paths(self) -> Paths:
        return self.ctx.paths

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def generation(self) -> int:
        """How many times `reload` swapped the settings or the registry in."""
        return self.ctx.generation

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened (and migrated) on first use, so a rejected input never creates it."""
        return self.ctx.ledger

    @property
    def zone_name(self) -> str:
        return self.ctx.zone_name

    @property
    def tz(self) -> tzinfo:
        return self.ctx.tz

    @property
    def reach(self) -> Any:
        return self.ctx.reach

    @property
    def group_commit_enabled(self) -> bool:
        return self.ctx.group_commit_enabled

    def ledger_exists(self) -> bool:
        return self.ctx.ledger_exists()

    def check_ledger(self) -> None:
        self.ctx.check_ledger()

    def release_thread(self) -> None:
        self.ctx.release_thread()

    def close(self) -> None:
        self.ctx.close()

    def __enter__(self) -> TokenOptimizationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def today(self) -> date:
        return self.ctx.today()

    def day_start(self, day: date | None = None) -> datetime:
        return self.ctx.day_start(day)

    def calibration(self) -> Calibration:
        return self.ctx.calibration()

    def observations(self) -> Calibration:
        return self.ctx.observations()

    def ranking(
        self,
        task_type: str,
        weights: Weights | None = None,
        constraints: Constraints = NO_CONSTRAINTS,
        calibration: Calibration | None = None,
        any_provider: bool | None = None,
        api: str | None = None,
    ) -> Ranking:
        return self.ctx.ranking(task_type, weights, constraints, calibration, any_provider, api)

    def known_capabilities(self) -> frozenset[str]:
        return self.ctx.known_capabilities()

    def parse_weights(self, weights: WeightsArg) -> Weights:
        return self.ctx.parse_weights(weights)

    def save_config(self, updates: dict[str, Any]) -> Path:
        return self.ctx.save_config(updates)

    def reload(self, registry: bool = False) -> dict[str, Any]:
        return self.ctx.reload(registry)

    def enable_group_commit(self, max_batch: int = 256) -> None:
        self.ctx.enable_group_commit(max_batch)

    def bind_group_commit(self, loop: Any, alone: Callable[[], bool] | None = None) -> bool:
        return self.ctx.bind_group_commit(loop, alone)

    async def unbind_group_commit(self) -> None:
        await self.ctx.unbind_group_commit()

    def disable_group_commit(self) -> None:
        self.ctx.disable_group_commit()

    # -- routing -------------------------------------------------------------------------------------

    def route_task(self, task_type: str, description: str = "", budget: float | None = None,
                   **kw: Any) -> dict[str, Any]:
        """Route one task and record the decision (see `app.routing.route_task`)."""
        return routing.route_task(self.ctx, task_type, description, budget, **kw)

    def route_mapping(self, task: Mapping[str, Any], scrubbed: Scrubbed | None = None) -> dict[str, Any]:
        return routing.route_mapping(self.ctx, task, scrubbed)

    def route_tasks(self, tasks: Iterable[Mapping[str, Any]], concurrency: int = 8,
                    progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
        return routing.route_tasks(self.ctx, tasks, concurrency, progress)

    def route_call(self, task_type: str, input_tokens: int, requested_output: int | None = None,
                   **kw: Any) -> dict[str, Any]:
        return routing.route_call(self.ctx, task_type, input_tokens, requested_output, **kw)

    def validate_tasks(self, tasks: Sequence[Any]) -> None:
        routing.validate_tasks(self.ctx, tasks)

    def submit_task(self, task: Mapping[str, Any]) -> Future:
        return routing.submit_task(self.ctx, task)

    def submit_call(self, task_type: str, input_tokens: int, requested_output: int | None = None,
                    **kw: Any) -> Future:
        return routing.submit_call(self.ctx, task_type, input_tokens, requested_output, **kw)

    # -- explaining ----------------------------------------------------------------------------------

    def explain(self, task_type: str, description: str = "", budget: float | None = None,
                **kw: Any) -> dict[str, Any]:
        from modelwise.app import explaining

        return explaining.explain(self.ctx, task_type, description, budget, **kw)

    def sensitivity_grid(self, task_type: str, description: str = "", budget: float | None = None,
                         **kw: Any) -> dict[str, Any]:
        from modelwise.app import explaining

        return explaining.sensitivity_grid(self.ctx, task_type, description, budget, **kw)

    def breakdown(self, task_type: str, description: str = "", budget: float | str | None = None,
                  weights: WeightsArg = None, **kw: Any) -> dict[str, Any]:
        from modelwise.app import explaining

        return explaining.breakdown(self.ctx, task_type, description, budget, weights, **kw)

    def pareto(self, task_type: str) -> list[dict[str, Any]]:
        from modelwise.app import explaining

        return explaining.pareto(self.ctx, task_type)

    def quality_price(self, task_type: str) -> dict[str, Any]:
        from modelwise.app import explaining

        return explaining.quality_price(self.ctx, task_type)

    # -- what-if -------------------------------------------------------------------------------------

    def whatif(self, weights: WeightsArg = None, since: str | None = None, until: str | None = None,
               **kw: Any) -> dict[str, Any]:
        from modelwise.app import whatif

        return whatif.whatif(self.ctx, weights, since, until, **kw)

    def whatif_today(self, weights: WeightsArg = None, **changes: Any) -> dict[str, Any]:
        from modelwise.app import whatif

        return whatif.whatif_today(self.ctx, weights, **changes)

    # -- outcomes and learning -----------------------------------------------------------------------

    def record_outcome(self, decision_id: str, outcome: str, **kw: Any) -> dict[str, Any]:
        from modelwise.app import outcomes

        return outcomes.record_outcome(self.ctx, decision_id, outcome, **kw)

    def submit_outcome(self, decision_id: str, outcome: str, **kw: Any) -> Future:
        from modelwise.app import outcomes

        return outcomes.submit_outcome(self.ctx, decision_id, outcome, **kw)

    def submit_settlement(self, decision_id: str, outcome: str, **kw: Any) -> Future:
        from modelwise.app import outcomes

        return outcomes.submit_settlement(self.ctx, decision_id, outcome, **kw)

    def observed_values(self, model: ModelSpec, task_type: str,
                        observed: Calibration | None = None) -> dict[str, Any]:
        from modelwise.app.observed import observed_values

        return observed_values(self.ctx, model, task_type, observed)

    def evaluate(self, path: str | Path, folds: int = 5, weights: WeightsArg = None, sweep: int = 21,
                 seed: int = 0) -> dict[str, Any]:
        from modelwise.app import outcomes

        return outcomes.evaluate(self.ctx, path, folds, weights, sweep, seed)

    # -- reports -------------------------------------------------------------------------------------

    def statistics(self, since: str | None = None, until: str | None = None, all_days: bool = False,
                   by: str | None = None) -> dict[str, Any]:
        """The brief's statistics (`stats --json`)."""
        from modelwise.app import reports

        return reports.statistics(self.ctx, since, until, all_days, by)

    def cost_statistics(self, **kw: Any) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.statistics(self.ctx, **kw)["costStatistics"]

    def performance_statistics(self, **kw: Any) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.statistics(self.ctx, **kw)["performanceStatistics"]

    def budget_status(self, day: str | None = None) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.budget_status(self.ctx, day)

    def decisions(self, since: str | None = None, until: str | None = None, agent: str | None = None,
                  limit: int | None = None, newest_first: bool = False) -> list[dict[str, Any]]:
        from modelwise.app import reports

        return reports.decisions(self.ctx, since, until, agent, limit, newest_first)

    def decision(self, decision_id: str) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.decision(self.ctx, decision_id)

    def models_table(self, task: str | None = None, sort: str | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        from modelwise.app import reports

        return reports.models_table(self.ctx, task, sort, limit)

    def gateway_traffic(self, day: str | None = None, limit: int = 50) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.gateway_traffic(self.ctx, day, limit)

    def spend_over_time(self, bucket_minutes: int = 15, day: str | None = None) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.spend_over_time(self.ctx, bucket_minutes, day)

    def savings(self, baseline: str | None = None, since: str | None = None,
                until: str | None = None) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.savings(self.ctx, baseline, since, until)

    def audit(self, since: str | None = "7d", until: str | None = None, limit: int = 50) -> dict[str, Any]:
        from modelwise.app import reports

        return reports.audit(self.ctx, since, until, limit)
