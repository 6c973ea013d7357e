"""Every path modelwise uses, in one place: flags beat environment variables beat the config file beat
platformdirs' defaults. `modelwise locate` prints them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

APP = "modelwise"
_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_bundled"
_REPO_ROOT = _PACKAGE_DIR.parent.parent  # src/modelwise -> the checkout, in a development install


def _xdg(variable: str, default: str) -> Path | None:
    """What platformdirs answers on Linux for a user folder, without importing it (~5 ms of a cold command,
    most of it the tempfile, shutil and compression modules it loads): `$variable` when it is an absolute
    path, else `~/default`, each with the app's name. None where platformdirs must answer itself (not
    Linux, Android, or a HOME that is unset or not absolute, which it resolves its own way)."""
    if sys.platform != "linux" or hasattr(sys, "getandroidapilevel") or (
        os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"
    ):
        return None
    base = os.environ.get(variable, "")
    if not base.startswith("/"):
        if not os.environ.get("HOME", "").startswith("/"):
            return None
        base = os.path.expanduser("~/" + default)
    return Path(os.path.join(base, APP))


def _user_dir(variable: str, default: str, kind: str) -> Path:
    """The user folder of `kind` (platformdirs' `user_{kind}_dir`): worked out by `_xdg` where it can."""
    fast = _xdg(variable, default)
    if fast is not None:
        return fast
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def user_config_dir() -> Path:
    return _user_dir("XDG_CONFIG_HOME", ".config", "config")


def user_data_dir() -> Path:
    return _user_dir("XDG_DATA_HOME", ".local/share", "data")


def user_cache_dir() -> Path:
    env = os.environ.get("MODELWISE_CACHE")
    if env:
        return Path(env)
    return _user_dir("XDG_CACHE_HOME", ".cache", "cache")


def shipped_registry() -> Path:
    """The registry bundled in the wheel, or the checkout's `model_registry.json` in a development install."""
    bundled = _BUNDLED / "model_registry.json"
    return bundled if bundled.exists() else _REPO_ROOT / "model_registry.json"


def updated_registry() -> Path:
    """Where `modelwise registry update` writes the rebuilt registry; it wins over the shipped one."""
    return user_data_dir() / "model_registry.json"


def default_registry() -> Path:
    """The registry `modelwise registry update` built, when there is one; else the shipped registry."""
    updated = updated_registry()
    return updated if updated.is_file() else shipped_registry()


def shipped_data_dir() -> Path:
    """The vendored snapshots (`scores/`, `prices/`) bundled in the wheel, or the checkout's `data/`."""
    bundled = _BUNDLED / "data"
    return bundled if bundled.is_dir() else _REPO_ROOT / "data"


def shipped_themes_dir() -> Path:
    bundled = _BUNDLED / "themes"
    return bundled if bundled.is_dir() else _REPO_ROOT / "themes"


@dataclass(frozen=True, slots=True)
class Paths:
    config: Path
    config_explicit: bool
    registry: Path
    ledger: Path  # or a LedgerUrl (modelwise.ledger_url) for a PostgreSQL ledger
    themes: tuple[Path, ...]
    cache: Path

    def to_json(self) -> dict[str, object]:
        return {
            "config": str(self.config),
            "configExists": self.config.exists(),
            "registry": str(self.registry),
            "ledger": str(self.ledger),
            "themes": [str(p) for p in self.themes],
            "cache": str(self.cache),
        }


def _location(value: str | os.PathLike[str], key: str, from_config: dict[str, str | None]) -> Path:
    """A path given by a flag or a variable; for the ledger, a `postgresql://` URL is a LedgerUrl."""
    if key == "ledger":
        from modelwise.ledger_url import location_of

        return location_of(value, from_config.get("password_env"))  # type: ignore[no-any-return]
    return Path(value).expanduser()


def config_path(explicit: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("MODELWISE_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return user_config_dir() / "config.toml", False


def resolve(
    config: Path,
    config_explicit: bool,
    registry: str | os.PathLike[str] | None = None,
    ledger: str | os.PathLike[str] | None = None,
    from_config: dict[str, str | None] | None = None,
) -> Paths:
    from_config = from_config or {}
    base = config.parent

    def pick(
        flag: str | os.PathLike[str] | None, env_name: str, key: str, default: Callable[[], Path]
    ) -> Path:
        if flag:
            return _location(flag, key, from_config)
        env = os.environ.get(env_name)
        if env:
            return _location(env, key, from_config)
        value = from_config.get(key)
        if value:
            if key == "ledger" and value.lower().startswith(("postgresql://", "postgres://")):
                return _location(value, key, from_config)
            p = Path(value).expanduser()
            return p if p.is_absolute() else base / p
        return default()  # only now: platformdirs costs a cold start ~5 ms

    return Paths(
        config=config,
        config_explicit=config_explicit,
        registry=pick(registry, "MODELWISE_REGISTRY", "registry", default_registry),
        ledger=pick(ledger, "MODELWISE_LEDGER", "ledger", lambda: user_data_dir() / "ledger.sqlite3"),
        themes=(shipped_themes_dir(), config.parent / "themes"),
        cache=user_cache_dir(),
    )
