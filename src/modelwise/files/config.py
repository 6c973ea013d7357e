"""The configuration file's schema (TOML, validated with pydantic) and its conversion into `Settings`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from modelwise.core.errors import ConfigError, printable
from modelwise.core.settings import (
    DEFAULT_TASK_BUDGETS,
    DEFAULT_TIERS,
    DEFAULT_TOKENS,
    GatewaySettings,
    InferenceRule,
    Settings,
    Tier,
    Weights,
)


def _number_only(value: Any) -> Any:
    """TOML has numbers: `true` is not $1 and `"10"` not ten (pydantic's lax mode would take both)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not a boolean ({str(value).lower()})")
    if isinstance(value, str):
        raise ValueError(f"must be a number, not a string ({repr(value)[:60]})")
    return value


Number = BeforeValidator(_number_only)
Finite = Annotated[float, Field(allow_inf_nan=False), Number]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False), Number]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightsIn(_Strict):
    capability: NonNeg = 0.4
    performance: NonNeg = 0.3
    availability: NonNeg = 0.2
    cost: NonNeg = 0.1

    @model_validator(mode="after")
    def _not_all_zero(self) -> WeightsIn:
        if self.capability + self.performance + self.availability + self.cost <= 0:
            raise ValueError("weights must not all be zero")
        return self


class TierIn(_Strict):
    share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), Number] | None = None
    floor_percentile: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False), Number] | None = None
    tasks: list[Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]] | None = None


class TokensIn(_Strict):
    context: Annotated[int, Field(ge=0, le=10_000_000), Number] | None = None
    output: Annotated[int, Field(ge=0, le=10_000_000), Number] | None = None


class LearningIn(_Strict):
    enabled: StrictBool = True
    prior_strength: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False), Number] = 20.0


_NAME = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*"
_V6 = r"\[[0-9a-f:.]+\]"
_HOST_RE = re.compile(rf"^(?:{_NAME}|{_V6})$")
_ORIGIN_RE = re.compile(rf"^([a-z][a-z0-9+.-]*)://({_NAME}|{_V6})(?::([0-9]{{1,5}}))?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host_name(value: str) -> str:
    """A Host the server answers besides loopback and its own address: a name or address, no port
    (any port matches), lower-cased as Host headers are compared."""
    host = value.strip().lower()
    if not _HOST_RE.match(host):
        raise ValueError(
            f"{value[:100]!r} is not a host name or address (no scheme, port or path; IPv6 in [ ])"
        )
    return host


def _origin(value: str) -> str:
    """An allowed `Origin`, normalised as browsers send it: scheme://host[:port], no default port."""
    origin = value.strip().lower()
    m = _ORIGIN_RE.match(origin)
    if not m or (m.group(3) is not None and not 0 < int(m.group(3)) < 65536):
        raise ValueError(
            f"{value[:100]!r} is not an origin such as https://app.example.com or "
            "http://localhost:5173 (scheme://host[:port], no path or trailing slash)"
        )
    scheme, host, port = m.groups()
    if port is not None and _DEFAULT_PORTS.get(scheme) == port.lstrip("0"):
        return f"{scheme}://{host}"
    return origin


class ServerIn(_Strict):
    """`[server]`: which Host and Origin headers `modelwise serve` accepts beyond its own."""

    allowed_hosts: list[Annotated[str, AfterValidator(_host_name)]] = Field(default_factory=list)
    allowed_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(default_factory=list)


_KEY_FIELDS = ("api_key", "key", "apikey", "token", "secret")


class ProviderIn(_Strict):
    """`[providers.NAME]`: where a provider is and which environment variable holds its key (never the
    key itself)."""

    base_url: Annotated[str, Field(min_length=1, pattern=r"^https?://\S+$")] | None = None
    api_key_env: str | None = None
    api: Literal["openai", "anthropic"] | None = None
    models: list[Annotated[str, Field(min_length=1)]] | None = None
    upstream_ids: dict[str, Annotated[str, Field(min_length=1)]] | None = None
    free: bool | None = None
    enabled: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _KEY_FIELDS:
                if name in data:
                    raise ValueError(
                        f"{name}: a key is never written in the config; set api_key_env to the name of "
                        "the environment variable that holds it"
                    )
        return data

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        from modelwise.core.providers import ENV_NAME

        if v is not None and not ENV_NAME.match(v):
            # never echoed: a pasted key must not reach an error message or a log
            raise ValueError(
                "must be the NAME of an environment variable (capital letters, digits and _, such as "
                "OPENAI_API_KEY), not the key itself"
            )
        return v


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a regular expression: {exc}") from None
    return value


Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False), Number]


class RuleIn(_Strict):
    """`[[gateway.rules]]`: a pattern and/or keywords that name a task type."""

    task_type: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    pattern: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_regex)] | None = None
    keywords: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    where: Literal["user", "system", "any"] = "any"

    @model_validator(mode="after")
    def _something(self) -> RuleIn:
        if self.pattern is None and not self.keywords:
            raise ValueError("a rule needs a pattern or keywords")
        return self


class GatewayIn(_Strict):
    """`[gateway]`: fallback, cooldowns, upstream timeouts and task inference rules."""

    attempts: Annotated[int, Field(ge=1, le=10), Number] = 3
    cooldown_seconds: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False), Number] = 30.0
    timeout_seconds: Seconds = 300.0
    connect_timeout_seconds: Seconds = 10.0
    rules: list[RuleIn] = Field(default_factory=list)


class ConfigIn(_Strict):
    """Every key is optional; absent keys keep the defaults (docs/design.md, "Tasks and tiers", "Scoring",
    "Budget")."""

    daily_budget: NonNeg = 10.0
    alert_threshold: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), Number] = 0.8
    timezone: str | None = None
    cost_ceiling_per_1k: Annotated[float, Field(gt=0, allow_inf_nan=False), Number] = 0.01
    cost_scale: Literal["linear", "log"] = "linear"
    unrated_quality: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), Number] = 0.5
    store_descriptions: Literal["redacted", "hash", "none"] = "redacted"
    weights: WeightsIn = Field(default_factory=WeightsIn)
    tiers: dict[str, TierIn] = Field(default_factory=dict)
    task_budgets: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False), Number]] = Field(
        default_factory=dict
    )
    tokens: dict[str, TokensIn] = Field(default_factory=dict)
    learning: LearningIn = Field(default_factory=LearningIn)
    theme: str | None = None
    keymap: dict[str, str] = Field(default_factory=dict)
    synchronous: Literal["full", "normal", "extra"] = "full"
    registry: str | None = None
    ledger: str | None = None
    # the environment variable holding a PostgreSQL ledger's password (when its URL has none)
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    server: ServerIn = Field(default_factory=ServerIn)
    any_provider: bool = False
    savings_baseline: Annotated[str, Field(min_length=1)] | None = None
    providers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")], ProviderIn] = Field(
        default_factory=dict
    )
    gateway: GatewayIn = Field(default_factory=GatewayIn)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is None or v in ("", "local"):
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/Paris')") from None
        return v


def _merge_tiers(given: dict[str, TierIn]) -> tuple[Tier, ...]:
    by_name = {t.name: t for t in DEFAULT_TIERS}
    out: dict[str, Tier] = dict(by_name)
    for name, t in given.items():
        base = by_name.get(name)
        if base is None:
            if t.share is None or t.floor_percentile is None or t.tasks is None:
                raise ValueError(
                    f"tiers.{printable(name)}: a new tier needs share, floor_percentile and tasks"
                )
            base = Tier(name=name, share=t.share, floor_percentile=t.floor_percentile, tasks=tuple(t.tasks))
        out[name] = Tier(
            name=name,
            share=t.share if t.share is not None else base.share,
            floor_percentile=t.floor_percentile if t.floor_percentile is not None else base.floor_percentile,
            tasks=tuple(t.tasks) if t.tasks is not None else base.tasks,
        )
    # A task type named in a configured tier moves there from a default tier.
    claimed = {task: name for name in given for task in out[name].tasks}
    tiers = []
    for name, tier in out.items():
        tasks = tuple(task for task in tier.tasks if claimed.get(task, name) == name)
        tiers.append(Tier(tier.name, tier.share, tier.floor_percentile, tasks))
    seen: dict[str, str] = {}
    for tier in tiers:
        for task in tier.tasks:
            if task in seen:
                raise ValueError(
                    f"tiers: task type {task!r} is in both {printable(seen[task])} and {printable(tier.name)}"
                )
            seen[task] = tier.name
    total = sum(t.share for t in tiers)
    if total > 1 + 1e-9:
        raise ValueError(f"tiers: shares add up to {total:g}, more than 1")
    return tuple(tiers)


def settings_from_dict(data: dict[str, Any], source: str) -> tuple[Settings, dict[str, str | None]]:
    """Validate a parsed config document into Settings and the paths it names (registry, ledger); a
    problem raises ConfigError naming the file and the key."""
    try:
        cfg = ConfigIn.model_validate(data)
        tiers = _merge_tiers(cfg.tiers)
        known = {t for tier in tiers for t in tier.tasks}
        for section in ("task_budgets", "tokens"):
            for key in getattr(cfg, section):
                if key not in known:
                    raise ValueError(
                        f"{section}.{printable(key)}: unknown task type (known: {', '.join(sorted(known))})"
                    )
        for name, p in cfg.providers.items():
            if name not in _builtin_names() and p.base_url is None:
                raise ValueError(f"providers.{printable(name)}: a new provider needs base_url")
        for i, rule in enumerate(cfg.gateway.rules):
            if rule.task_type not in known:
                raise ValueError(
                    f"gateway.rules.{i}.task_type: unknown task type {printable(rule.task_type)!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(printable(p) for p in err["loc"]) or "(top level)"
        msg = " ".join(err["msg"].removeprefix("Value error, ").split())
        raise ConfigError(f"{source}: {loc}: {msg}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    tokens = dict(DEFAULT_TOKENS)
    for key, t in cfg.tokens.items():
        base = tokens.get(key, (1000, 1000))
        tokens[key] = (
            t.context if t.context is not None else base[0],
            t.output if t.output is not None else base[1],
        )
    budgets = dict(DEFAULT_TASK_BUDGETS)
    budgets.update(cfg.task_budgets)
    w = cfg.weights
    return Settings(
        daily_budget=cfg.daily_budget,
        alert_threshold=cfg.alert_threshold,
        timezone=cfg.timezone,
        cost_ceiling_per_1k=cfg.cost_ceiling_per_1k,
        cost_scale=cfg.cost_scale,
        unrated_quality=cfg.unrated_quality,
        store_descriptions=cfg.store_descriptions,
        weights=Weights(w.capability, w.performance, w.availability, w.cost),
        tiers=tiers,
        task_budgets=budgets,
        tokens=tokens,
        learning_enabled=cfg.learning.enabled,
        prior_strength=cfg.learning.prior_strength,
        theme=cfg.theme,
        keymap=dict(cfg.keymap),
        synchronous=cfg.synchronous,
        allowed_hosts=tuple(dict.fromkeys(cfg.server.allowed_hosts)),
        allowed_origins=tuple(dict.fromkeys(cfg.server.allowed_origins)),
        any_provider=cfg.any_provider,
        savings_baseline=cfg.savings_baseline,
        providers=tuple(
            (name, tuple(sorted(p.model_dump(exclude_none=True).items())))
            for name, p in cfg.providers.items()
        ),
        gateway=_gateway(cfg.gateway),
    ), {"registry": cfg.registry, "ledger": cfg.ledger, "password_env": cfg.password_env}


def _gateway(g: GatewayIn) -> GatewaySettings:
    return GatewaySettings(
        attempts=g.attempts,
        cooldown_seconds=g.cooldown_seconds,
        timeout_seconds=g.timeout_seconds,
        connect_timeout_seconds=g.connect_timeout_seconds,
        rules=tuple(
            InferenceRule(r.name or f"config-{i + 1}", r.task_type, r.pattern, tuple(r.keywords), r.where)
            for i, r in enumerate(g.rules)
        ),
    )


def _builtin_names() -> set[str]:
    from modelwise.core.providers import BUILTIN_BY_NAME

    return set(BUILTIN_BY_NAME)

