"""Reading the config and the registry from disk.

A registry or config is validated with pydantic once; the validated records are then kept in the user
cache dir, keyed by the file's path, size, inode and modification time, so a cold `modelwise route`
skips both the schema work and the pydantic import."""

from __future__ import annotations

import gc
import hashlib
import json
import marshal
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelwise.core.errors import ConfigError, RegistryError
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.settings import Settings

_CACHE_FORMAT = 3


def load_settings(
    path: Path, explicit: bool, cache_dir: Path | None = None
) -> tuple[Settings, dict[str, str | None]]:
    """The settings from a TOML file. A missing default file means the defaults; a missing file the
    user named is a bad input. Validated settings are cached like the registry (keyed by the file's
    size and modification time), so only a changed config pays for pydantic."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: config file not found") from None
        return Settings(), {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror}") from None
    stamp = (_CACHE_FORMAT, st.st_size, st.st_mtime_ns, st.st_ino)
    cache = _cache_file(cache_dir, path, "config") if cache_dir is not None else None
    if cache is not None:
        try:
            with open(cache, "rb") as fh:
                cached = pickle.load(fh)
            if cached[0] == stamp and isinstance(cached[1], Settings):
                return cached[1], cached[2]
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, TypeError):
            pass
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    from modelwise.core.config import settings_from_dict

    settings, from_config = settings_from_dict(data, str(path))
    if cache is not None:
        _write_cache(cache, pickle.dumps((stamp, settings, from_config), protocol=pickle.HIGHEST_PROTOCOL))
    return settings, from_config


def _write_cache(cache: Path, payload: bytes) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, cache)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _cache_file(cache_dir: Path, path: Path, kind: str = "registry") -> Path:
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20]
    return cache_dir / f"{kind}-{key}.cache"


def load_registry(path: Path, cache_dir: Path | None = None) -> Registry:
    """Load and validate a registry file (SPEC 1), using the validated cache when the file is unchanged."""
    try:
        st = path.stat()
    except OSError as exc:
        raise RegistryError([f"{path}: cannot read the registry: {exc.strerror or exc}"]) from None
    stamp = (_CACHE_FORMAT, st.st_size, st.st_mtime_ns, st.st_ino)
    cache = _cache_file(cache_dir, path) if cache_dir is not None else None
    # Tens of thousands of small objects: the cyclic GC would scan them again and again while they are
    # built (three times the work), and none of them can form a cycle.
    with _no_gc():
        return _load_registry(path, cache, stamp)


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_registry(path: Path, cache: Path | None, stamp: tuple) -> Registry:
    if cache is not None:
        try:
            with open(cache, "rb") as fh:
                cached = marshal.load(fh)
            if cached[0] == stamp:
                models = tuple(ModelSpec.from_tuple(t) for t in cached[1])
                return Registry(models=models, path=str(path), meta=cached[2])
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            pass
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise RegistryError([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError([f"{path}: cannot read the registry: {exc}"]) from None
    from modelwise.core.registry import parse_registry

    registry = parse_registry(data, str(path))
    if cache is not None:
        try:
            payload = marshal.dumps((stamp, [m.to_tuple() for m in registry.models], registry.meta or {}))
        except ValueError:
            return registry
        _write_cache(cache, payload)
    return registry
