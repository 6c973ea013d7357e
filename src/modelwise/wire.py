"""The JSON contract of modelwise, in one module: pydantic models of every request the HTTP service
reads and every answer it gives. The server validates requests with them and applies the response models
to each answer at run time (an answer that breaks its contract is a 500, never sent); the CLI's `--json`
output is the same objects (tests check them against these models). Imported by the HTTP layer only, so
the CLI's cold start does not load pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from modelwise.app.values import MAX_COST, MAX_LATENCY_MS, MAX_REASON, MAX_TOKENS

# -- request models ----------------------------------------------------------------------------------


class _In(BaseModel):
    # strict: the JSON types are the documented ones (`false` is not a weight, `"0.5"` not a budget)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class ConstraintsIn(_In):
    """A task's own limits (docs/design.md, "Tasks and tiers")."""

    minQuality: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        None, description="lowest acceptable quality, 0..1"
    )
    maxLatencyMs: Annotated[float | None, Field(gt=0, allow_inf_nan=False)] = Field(
        None, description="highest acceptable typical latency, ms (an unknown latency fails it)"
    )
    capabilities: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="capabilities the model must have besides the task type"
    )


class WeightsIn(_In):
    """Scoring weights for this task; absent ones keep the configured values. Normalised to sum to 1."""

    capability: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    performance: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    availability: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class TaskIn(_In):
    """A task (docs/design.md, "Tasks and tiers"), the brief's `{type, description, budget, constraints}` plus
    agent and idempotency."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "type": "code_generation",
                    "description": "Create API endpoint",
                    "budget": 0.5,
                    "agent": "Executor",
                }
            ]
        },
    )

    type: str = Field(
        min_length=1, description="task type from the configured vocabulary, e.g. code_generation"
    )
    description: str = Field(
        "", max_length=1_000_000, description="what the task is; redacted before it is stored"
    )
    budget: Annotated[float | None, Field(gt=0, allow_inf_nan=False)] = Field(
        None, description="most this one task may cost, USD; default: the configured budget of its type"
    )
    agent: str | None = Field(
        None, min_length=1, max_length=200, description="who asked (per-agent statistics)"
    )
    constraints: ConstraintsIn | None = None
    requestId: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="idempotency key: the same id returns the first decision",
    )
    dryRun: bool = Field(False, description="route without recording anything")
    weights: WeightsIn | None = None
    anyProvider: bool | None = Field(
        None,
        description="consider the whole registry, not only the models a configured provider serves "
        "(default: the config's any_provider)",
    )

    def as_task(self) -> dict[str, Any]:
        """The task mapping the service takes (docs/design.md, "Tasks and tiers")."""
        task: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.budget is not None:
            task["budget"] = self.budget
        if self.agent is not None:
            task["agent"] = self.agent
        if self.requestId is not None:
            task["requestId"] = self.requestId
        if self.dryRun:
            task["dryRun"] = True
        if self.constraints is not None:
            task["constraints"] = self.constraints.model_dump(exclude_none=True)
        if self.weights is not None:
            task["weights"] = self.weights.model_dump(exclude_none=True)
        if self.anyProvider is not None:
            task["anyProvider"] = self.anyProvider
        return task


def _whole_number_only(value: Any) -> Any:
    """Tokens are JSON integers, and `2.0` is one (JSON Schema); `true` and `"2"` are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


TokenCount = Annotated[int, Field(strict=False, ge=0, le=MAX_TOKENS), BeforeValidator(_whole_number_only)]


class OutcomeIn(_In):
    """The outcome of a routed decision (docs/design.md, "Outcomes and learning"); the actual cost comes from
    `cost` or tokens x prices."""

    decisionId: str = Field(min_length=1, max_length=200)
    outcome: Literal["success", "failure", "error"]
    latencyMs: Annotated[float | None, Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)] = None
    inputTokens: TokenCount | None = None
    outputTokens: TokenCount | None = None
    cachedTokens: TokenCount | None = Field(
        None, description="of the input tokens, those read from the prompt cache (priced at its cache-read "
        "price); needs inputTokens"
    )
    cacheWriteTokens: TokenCount | None = Field(
        None, description="of the input tokens, those written to the prompt cache; needs inputTokens"
    )
    cost: Annotated[float | None, Field(ge=0, le=MAX_COST, allow_inf_nan=False)] = Field(
        None, description="actual cost, USD"
    )
    correct: bool = Field(
        False,
        description="correct the outcome the decision already has: a correction (every value given "
        "again) is appended and supersedes it for spend, learning and reports; the original is kept",
    )
    reason: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_REASON,
        description="why the outcome is corrected, one line of printable text: only with `correct` "
        "(422 otherwise)",
    )


# -- response models (applied to every answer by the server; see modelwise.server._out) ---------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(_Out):
    """Every error answer: one line saying what is wrong."""

    detail: str


class Tokens(_Out):
    input: int
    output: int


class BudgetOut(_Out):
    task: float = Field(description="the task's own budget, USD")
    dailyRemaining: float = Field(description="left of today's budget after this decision")
    tierRemaining: float = Field(description="left of the tier's allocation after this decision")


class WeightsOut(_Out):
    capability: float
    performance: float
    availability: float
    cost: float


class ConstraintsOut(_Out):
    minQuality: float | None
    maxLatencyMs: float | None
    capabilities: list[str]


class Flip(_Out):
    """The flip point: the smallest change of one weight (the others kept) that changes the winner, and
    the model that then wins (the runner-up or another one the decision chose among)."""

    model: str
    modelName: str
    weight: str
    value: float
    direction: Literal["up", "down"]
    current: float


class Candidate(_Out):
    rank: int
    model: str
    name: str
    eligible: bool
    reason: str | None
    capability: float
    performance: float
    availability: float
    cost: float
    total: float
    estimatedCost: float
    rated: bool
    winner: bool
    free: bool = False
    provider: str | None = Field(
        None, description="the provider that would be called for it; null when none configured serves it"
    )


class RouteOut(_Out):
    """The answer of `route --json` (docs/design.md, "Command line")."""

    decisionId: str | None = Field(description="null for a dry run")
    requestId: str | None
    timestamp: str
    taskType: str
    tier: str
    agent: str | None
    selectedModel: str | None
    selectedModelName: str | None
    provider: str | None = Field(description="the provider of the chosen offer (who would be called)")
    upstreamId: str | None = Field(description="the model's id at that provider")
    estimatedCost: float
    estimatedTokens: Tokens
    score: float | None
    status: Literal["routed", "degraded", "refused", "dry-run"]
    reason: str
    warnings: list[str]
    dailyBudget: float | None = Field(None, description="the daily budget in force for this decision, USD")
    budget: BudgetOut
    weights: WeightsOut
    weightsNormalised: WeightsOut
    constraints: ConstraintsOut
    floor: float | None = Field(description="the tier's quality floor among capable models")
    floorDropped: bool
    margin: float | None
    flip: Flip | None
    candidates: list[Candidate]
    wouldBe: Literal["routed", "degraded", "refused"] | None = Field(
        None, description="dry runs only: the status a real route would have had"
    )
    replayed: bool | None = Field(None, description="true when a known requestId returned its first decision")


class BatchItemError(_Out):
    error: str
    status: Literal["invalid"]


class DecisionOut(_Out):
    """A stored decision with its outcome."""

    decisionId: str
    requestId: str | None
    timestamp: str
    day: str
    taskType: str
    tier: str
    agent: str | None
    selectedModel: str | None
    selectedModelName: str | None
    estimatedCost: float
    actualCost: float | None
    status: Literal["routed", "degraded", "refused"]
    score: float | None
    outcome: Literal["success", "failure", "error"] | None
    latencyMs: float | None
    description: str | None


class DecisionDetailOut(DecisionOut):
    """A stored decision with its outcome and the breakdown it was answered with (a `RouteOut`)."""

    detail: dict[str, Any]


class CostStatistics(_Out):
    totalTasks: int
    totalCost: float
    averageCost: float
    budgetRemaining: float


class PerformanceStatistics(_Out):
    totalTasks: int
    averageLatency: float | None
    successRate: float | None
    modelUsage: dict[str, int] = Field(description="model name -> decisions")


class Period(_Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str | None
    timezone: str = Field(description="the IANA zone of the ledger's budget days")


class AgentStatistics(_Out):
    totalTasks: int
    totalCost: float
    refused: int
    modelUsage: dict[str, int]


class StatsOut(_Out):
    """The brief's statistics (`stats --json`, docs/design.md, "Command line"); `byAgent` with `by=agent`
    ("(none)" = no agent)."""

    costStatistics: CostStatistics
    performanceStatistics: PerformanceStatistics
    period: Period
    refused: int
    outcomes: int
    byAgent: dict[str, AgentStatistics] | None = None


class Observed(_Out):
    """Registry and observed values side by side (docs/design.md, "Outcomes and learning"). With `task`: the
    calibrated values for that task type; without: the outcomes summed over task types (calibration is per
    type, so null)."""

    registryQuality: float | None
    calibratedQuality: float | None
    registryAvailability: float
    calibratedAvailability: float | None
    registryLatencyMs: float | None = Field(None, description="with `task` only")
    medianLatencyMs: float | None
    latencies: int | None = Field(None, description="with `task` only: outcomes that gave a latency")
    outcomes: int
    successes: int
    failures: int
    errors: int
    successRate: float | None
    learning: bool


class ModelRow(_Out):
    id: str
    name: str
    provider: str | None
    inputPer1M: float | None
    outputPer1M: float | None
    blendedPer1k: float | None
    priceKnown: bool = True
    free: bool = False
    quality: float | None
    rated: bool
    ratingBorrowedFrom: str | None = None
    aliases: list[str] = []
    offers: int = 0
    availability: float
    latencyMs: float | None
    contextWindow: int | None
    capable: bool | None
    score: float | None = Field(None, description="the task's routing score (with task), best first")
    source: str | None
    observed: Observed | None


class Health(_Out):
    status: Literal["ok"]
    version: str
    models: int
