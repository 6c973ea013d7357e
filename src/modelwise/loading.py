"""Reading the config and the registry from disk.

A registry or config is validated with pydantic once; the validated records are then kept in the user
cache dir, keyed by the file's path, size, inode and modification time, so a cold `modelwise route`
skips both the schema work and the pydantic import."""

from __future__ import annotations

import gc
import json
import marshal
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelwise.core.errors import ConfigError, RegistryError
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.settings import Settings

_CACHE_FORMAT = 4


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
        except (
            OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, TypeError
        ):
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
    import tempfile

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, cache)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _cache_file(cache_dir: Path, path: Path, kind: str = "registry") -> Path:
    try:  # as the stdlib's random does for sha512: the builtin module, without OpenSSL's start-up (~2 ms)
        from _sha1 import sha1
    except ImportError:  # pragma: no cover - a Python built without its own hashes
        from hashlib import sha1
    key = sha1(str(path.resolve()).encode()).hexdigest()[:20]
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
            # marshal.loads of the whole file: marshal.load on a Python file object reads it in
            # thousands of small method calls (~25 ms instead of ~4 ms for the shipped registry).
            with open(cache, "rb") as fh:
                cached = marshal.loads(fh.read())
            if cached[0] == stamp:
                models = tuple(ModelSpec.from_tuple(t) for t in cached[1])
                return Registry(models=models, path=str(path), meta=cached[2])
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            pass
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise RegistryError(
            [f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
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


# -- writing the config ------------------------------------------------------------------------------


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    import datetime as _dt

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: dict, _prefix: tuple[str, ...] = ()) -> str:
    """A TOML document for a parsed one (what tomllib returns): scalars first, then one [table] per
    nested dict. Comments of the original are not kept."""
    lines: list[str] = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines)
    for key, value in tables:
        path = (*_prefix, key)
        header = "[" + ".".join(_toml_key(k) for k in path) + "]"
        body = dump_toml(value, path)
        scalar_part = any(not isinstance(v, dict) for v in value.values()) or not value
        section = (header + "\n" + body) if scalar_part else body
        out = (out + "\n\n" + section) if out else section
    return out + ("\n" if out and not _prefix else "")


def _merge(into: dict, updates: dict) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def update_config(path: Path, updates: dict) -> dict:
    """Set keys in the TOML config at `path` (nested dicts merge: {"weights": {"cost": 0.2}}), keeping
    every other key; the result is validated before it is written, then written atomically. A config
    that cannot be read is left alone (ConfigError). Returns the new document."""
    import tempfile
    import tomllib

    data: dict = {}
    if path.exists():
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML, so it was not changed: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc.strerror}") from None
    _merge(data, updates)
    from modelwise.core.config import settings_from_dict

    settings_from_dict(data, str(path))  # raises ConfigError naming the key
    text = dump_toml(data)
    if tomllib.loads(text) != data:
        raise ConfigError(f"{path}: the updated config would not read back the same; not written")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else None
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config: {exc.strerror or exc}") from None
    return data
