"""The effective settings as plain records, with the SPEC's defaults; the config file only overrides them."""

from __future__ import annotations

from dataclasses import dataclass, field

WEIGHT_NAMES: tuple[str, str, str, str] = ("capability", "performance", "availability", "cost")


@dataclass(frozen=True, slots=True)
class Weights:
    """Raw weights as the user gave them; `normalised()` makes them sum to 1."""

    capability: float = 0.4
    performance: float = 0.3
    availability: float = 0.2
    cost: float = 0.1

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.capability, self.performance, self.availability, self.cost)

    def normalised(self) -> tuple[float, float, float, float]:
        t = self.as_tuple()
        m = max(t)  # scaled first: weights near the largest float would add up to inf
        t = (t[0] / m, t[1] / m, t[2] / m, t[3] / m)
        s = sum(t)
        return (t[0] / s, t[1] / s, t[2] / s, t[3] / s)

    def replace(self, name: str, value: float) -> Weights:
        values = dict(zip(WEIGHT_NAMES, self.as_tuple(), strict=True))
        values[name] = value
        return Weights(**values)

    def to_json(self) -> dict[str, float]:
        return dict(zip(WEIGHT_NAMES, self.as_tuple(), strict=True))

    @classmethod
    def parse(cls, text: str) -> Weights:
        """`c,p,a,k`: four non-negative numbers, not all zero. Raises ValueError saying what is wrong."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(
                f"weights {text!r} must be four numbers c,p,a,k (capability, performance, availability, cost)"
            )
        values = []
        for name, p in zip(WEIGHT_NAMES, parts, strict=True):
            try:
                v = float(p)
            except ValueError:
                raise ValueError(f"weight {name} {p!r} is not a number") from None
            values.append(v)
        return cls.checked(*values)

    @classmethod
    def checked(cls, *values: float) -> Weights:
        for name, v in zip(WEIGHT_NAMES, values, strict=True):
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"weight {name} must be a finite number, not {v}")
            if v < 0:
                raise ValueError(f"weight {name} must not be negative ({v})")
        if sum(values) <= 0:
            raise ValueError("weights must not all be zero")
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    share: float
    floor_percentile: float
    tasks: tuple[str, ...]


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("simple", 0.2, 0.0, ("documentation", "boilerplate", "formatting")),
    Tier(
        "medium",
        0.5,
        50.0,
        ("code_generation", "debugging", "testing", "refactoring", "code_review", "knowledge", "math"),
    ),
    Tier("complex", 0.3, 80.0, ("architecture", "design", "optimization")),
)

# The brief's per-task budgets; every other type gets DEFAULT_TASK_BUDGET.
DEFAULT_TASK_BUDGETS: dict[str, float] = {
    "documentation": 0.1,
    "code_generation": 0.5,
    "architecture": 2.0,
    "refactoring": 1.0,
}
DEFAULT_TASK_BUDGET = 1.0

# Token allowances per task type: (context added to the description's tokens, expected output tokens).
# Chosen from typical agent calls: a review or a refactor carries the code it works on as context,
# an architecture answer is long, a formatting fix is short. Shown in every breakdown; configurable.
DEFAULT_TOKENS: dict[str, tuple[int, int]] = {
    "documentation": (1000, 800),
    "boilerplate": (500, 1000),
    "formatting": (800, 600),
    "code_generation": (2000, 1500),
    "debugging": (3000, 1000),
    "testing": (2000, 1500),
    "refactoring": (3000, 2000),
    "code_review": (4000, 1000),
    "knowledge": (500, 500),
    "math": (500, 1000),
    "architecture": (4000, 3000),
    "design": (3000, 2500),
    "optimization": (3000, 2000),
}
DEFAULT_TOKEN_ALLOWANCE = (1000, 1000)


@dataclass(frozen=True, slots=True)
class InferenceRule:
    """A user's rule for the gateway's task inference (`[[gateway.rules]]`): a regular expression and/or
    keywords (any of them, as whole words, case-insensitive) searched in `where` ("user": the last user
    turn, "system": the system prompt, "any": both) that name `task_type`. Tried before the built-in
    rules, in the order given."""

    name: str
    task_type: str
    pattern: str | None = None
    keywords: tuple[str, ...] = ()
    where: str = "any"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """`[gateway]`: how many models one call may try, how long a failing model and provider cool down,
    the upstream timeouts (seconds) and the inference rules users add."""

    attempts: int = 3
    cooldown_seconds: float = 30.0
    timeout_seconds: float = 300.0  # the longest silence from a provider (before or during its answer)
    connect_timeout_seconds: float = 10.0
    rules: tuple[InferenceRule, ...] = ()


@dataclass(frozen=True)
class Settings:
    daily_budget: float = 10.0
    alert_threshold: float = 0.8
    timezone: str | None = None
    cost_ceiling_per_1k: float = 0.01
    cost_scale: str = "linear"
    unrated_quality: float = 0.5
    store_descriptions: str = "redacted"
    weights: Weights = field(default_factory=Weights)
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    task_budgets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_BUDGETS))
    tokens: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_TOKENS))
    learning_enabled: bool = True
    prior_strength: float = 20.0
    theme: str | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    synchronous: str = "full"
    # `[server]`: Host headers (names, lower case, any port) and Origins `serve` accepts beyond its own
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    any_provider: bool = False
    savings_baseline: str | None = None  # the model `savings` compares with (None: the best-rated one)
    # `[providers.NAME]` tables as given: (name, sorted (key, value) pairs); see core/providers.py
    providers: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()
    gateway: GatewaySettings = field(default_factory=GatewaySettings)

    def providers_config(self) -> dict[str, dict[str, object]]:
        return {name: dict(items) for name, items in self.providers}

    def __post_init__(self) -> None:
        tier_of = {t: tier for tier in self.tiers for t in tier.tasks}
        object.__setattr__(self, "_tier_of", tier_of)

    @property
    def task_types(self) -> tuple[str, ...]:
        return tuple(t for tier in self.tiers for t in tier.tasks)

    def tier_for(self, task_type: str) -> Tier | None:
        return self._tier_of.get(task_type)  # type: ignore[attr-defined]

    def tier_named(self, name: str) -> Tier | None:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        return None

    def budget_for(self, task_type: str) -> float:
        return self.task_budgets.get(task_type, DEFAULT_TASK_BUDGET)

    def tokens_for(self, task_type: str) -> tuple[int, int]:
        return self.tokens.get(task_type, DEFAULT_TOKEN_ALLOWANCE)
