"""The messages the console's workers and panes post to the app (dataclass or small classes), each
carrying what one event produced: a fresh ledger snapshot, the gateway's traffic, a decision loaded,
the service built or failed, a route made, the config saved, read again or refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from modelwise.core.settings import Settings, Weights

if TYPE_CHECKING:
    from modelwise.service import TokenOptimizationService
    from modelwise.tui.state import LedgerState


class GatewayLoaded(Message):
    """The day's gateway traffic, read off the event loop."""

    def __init__(self, traffic: dict[str, Any]):
        super().__init__()
        self.traffic = traffic

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GatewayLoaded)


@dataclass
class ServiceReady(Message):
    service: TokenOptimizationService


@dataclass
class ServiceFailed(Message):
    error: BaseException


class LedgerChanged(Message):
    """A fresh ledger snapshot; only the newest one waiting in the queue matters."""

    def __init__(self, state: LedgerState):
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LedgerChanged)


@dataclass
class ModelsLoaded(Message):
    task_type: str | None
    rows: list[dict[str, Any]]
    chart: dict[str, Any] | None = None  # service.quality_price(task_type)


@dataclass
class DecisionLoaded(Message):
    decision: dict[str, Any]


@dataclass
class Routed(Message):
    result: dict[str, Any]


@dataclass
class ConfigSaved(Message):
    what: str
    path: str
    weights: Weights | None = None


@dataclass
class ConfigReloaded(Message):
    """The config (and the registry, when `registry` names it) was read again and is in force."""

    config: str
    registry: str | None
    old: Settings
    own: bool = False  # the console's own save (already reported)


@dataclass
class ConfigRefused(Message):
    """A changed config or registry could not be used: `error` says why; the old settings stay."""

    title: str
    error: str
