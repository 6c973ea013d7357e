"""What the console needs before its first frame, read cheaply (the settings from their cache, the paths);
the service (registry, ledger) is built after that frame, in the app's worker (`Boot.build`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelwise.core.settings import Settings
from modelwise.paths import Paths

if TYPE_CHECKING:
    from modelwise.service import TokenOptimizationService

PathArg = str | Path | None


@dataclass(frozen=True)
class Boot:
    """The settings and paths the first frame is drawn with (theme, keymap, task types), and how to
    build the service the panes work on."""

    settings: Settings
    paths: Paths
    build: Callable[[], TokenOptimizationService]


def prepare(registry: PathArg = None, ledger: PathArg = None, config: PathArg = None) -> Boot:
    """Read the config (a missing named file, bad TOML or a bad value raises ConfigError here, before the
    screen changes) and resolve the paths as the service will; the registry is not read yet."""
    from modelwise.loading import load_settings
    from modelwise.paths import config_path, resolve, user_cache_dir

    cfg_path, explicit = config_path(config)
    settings, from_config = load_settings(cfg_path, explicit, user_cache_dir())
    paths = resolve(cfg_path, explicit, registry, ledger, from_config)

    def build() -> TokenOptimizationService:
        from modelwise.service import TokenOptimizationService

        return TokenOptimizationService(registry=registry, ledger=ledger, config=config)

    return Boot(settings, paths, build)
