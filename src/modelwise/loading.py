"""Reading the config and the registry from disk.

A registry or config is validated with pydantic once; the validated records are then kept in the user
cache dir with marshal, keyed by the file's path, size, inode and modification time (and, for the
config, the settings' field names), so a cold `modelwise route` skips the schema work and the pydantic
and pickle imports."""

from __future__ import annotations

import gc
import json
import marshal
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelwise.core.errors import NESTED_TOO_DEEPLY, ConfigError, RegistryError
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.settings import GatewaySettings, InferenceRule, Settings, Tier, Weights

_CACHE_FORMAT = 5


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
    stamp = (_CACHE_FORMAT, _settings_shape(), st.st_size, st.st_mtime_ns, st.st_ino)
    cache = _cache_file(cache_dir, path, "config") if cache_dir is not None else None
    if cache is not None:
        try:
            with open(cache, "rb") as fh:
                cached = marshal.loads(fh.read())
            if cached[0] == stamp:
                return _settings_from_data(cached[1]), cached[2]
        except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError):
            pass
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: {NESTED_TOO_DEEPLY}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    from modelwise.files.config import settings_from_dict

    settings, from_config = settings_from_dict(data, str(path))
    if cache is not None:
        try:
            payload = marshal.dumps((stamp, _settings_data(settings), from_config))
        except ValueError:  # a record `_settings_data` does not unpack: no cache, the file is read next time
            pass
        else:
            _write_cache(cache, payload)
    return settings, from_config


_SETTINGS_CLASSES = (Settings, Weights, Tier, GatewaySettings, InferenceRule)


def _settings_shape() -> tuple[tuple[str, ...], ...]:
    """The settings' fields, part of the cache's key: a cache written by a version whose settings had
    other fields is read again from the config, never filled with defaults the config may not hold."""
    from dataclasses import fields

    return tuple(tuple(f.name for f in fields(cls) if f.init) for cls in _SETTINGS_CLASSES)


def _fields_of(obj: Any) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(obj, f.name) for f in fields(obj) if f.init}


def _settings_data(settings: Settings) -> dict[str, Any]:
    """The settings as plain values for the cache (marshal: no pickle to import on a cold start)."""
    data = _fields_of(settings)
    data["weights"] = _fields_of(settings.weights)
    data["tiers"] = tuple(_fields_of(t) for t in settings.tiers)
    data["gateway"] = gateway = _fields_of(settings.gateway)
    gateway["rules"] = tuple(_fields_of(r) for r in settings.gateway.rules)
    return data


def _settings_from_data(data: dict[str, Any]) -> Settings:
    """The settings `_settings_data` kept, built again with their constructors."""
    data = dict(data)
    data["weights"] = Weights(**data["weights"])
    data["tiers"] = tuple(Tier(**t) for t in data["tiers"])
    gateway = dict(data["gateway"])
    gateway["rules"] = tuple(InferenceRule(**r) for r in gateway["rules"])
    data["gateway"] = GatewaySettings(**gateway)
    return Settings(**data)


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
        from _sha1 import sha1  # type: ignore[import-not-found]  # CPython's own module, not in typeshed
    except ImportError:  # pragma: no cover - a Python built without its own hashes
        from hashlib import sha1
    key = sha1(str(path.resolve()).encode()).hexdigest()[:20]
    return cache_dir / f"{kind}-{key}.cache"


def load_registry(path: Path, cache_dir: Path | None = None) -> Registry:
    """Load and validate a registry file (docs/design.md, "Registry"), using the validated cache when the file
    is unchanged."""
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


def _load_registry(path: Path, cache: Path | None, stamp: tuple[Any, ...]) -> Registry:
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
    except RecursionError:
        raise RegistryError([f"{path}: not valid JSON: {NESTED_TOO_DEEPLY}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError([f"{path}: cannot read the registry: {exc}"]) from None
    from modelwise.files.registry import parse_registry

    registry = parse_registry(data, str(path))
    if cache is not None:
        try:
            payload = marshal.dumps((stamp, [m.to_tuple() for m in registry.models], registry.meta or {}))
        except ValueError:
            return registry
        _write_cache(cache, payload)
    return registry


# -- writing the config ------------------------------------------------------------------------------


def _merge(into: dict[str, Any], updates: dict[str, Any]) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _same(old: object, new: object) -> bool:
    """Whether a stored value already says `new` (then its text, as the user wrote it, is kept)."""
    return type(old) is type(new) and old == new or (
        isinstance(old, int | float) and isinstance(new, int | float)
        and not isinstance(old, bool) and not isinstance(new, bool) and old == new
    )


def _edit(container: MutableMapping[str, Any], updates: dict[str, Any]) -> None:
    """Set `updates` in a tomlkit document or table in place: a changed value is replaced where it stands
    (its comment kept), an unchanged one is left as written, a new key goes after the container's last
    key (before any comment that introduces the next table), a new table at the end."""
    from tomlkit.items import AoT, Table

    for key, value in updates.items():
        if key in container:
            old = container[key]
            if isinstance(value, dict) and hasattr(old, "unwrap") and isinstance(old.unwrap(), dict):
                _edit(old, value)
            elif not _same(old.unwrap() if hasattr(old, "unwrap") else old, value):
                container[key] = value
            continue
        body = getattr(container, "body", None)
        if body is None:  # a table: its keys are in its container
            body = getattr(getattr(container, "value", None), "body", None)
        last = None
        if not isinstance(value, dict) and body is not None:
            keys = [k for k, item in body if k is not None and not isinstance(item, Table | AoT)]
            last = keys[-1] if keys else None
        inserter = getattr(container, "_insert_after", None) or getattr(
            getattr(container, "value", None), "_insert_after", None
        )
        if last is not None and inserter is not None:
            inserter(last, key, value)
        else:
            container[key] = value


def update_config(path: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Set keys in the TOML config at `path` (nested dicts merge: {"weights": {"cost": 0.2}}), editing
    the file in place: comments, key order and layout are kept, only the changed values are rewritten.
    The result is validated before it is written, then written atomically (a temporary file in the same
    folder, fsynced, renamed over the old one, with its mode). A config that cannot be read is left alone
    (ConfigError), and so is one whose update would not validate. Returns the new document as data."""
    import tempfile
    import tomllib

    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    target = path.resolve() if path.is_symlink() else path  # a linked config stays a link
    text = ""
    data: dict[str, Any] = {}
    if target.exists():
        try:
            text = target.read_bytes().decode("utf-8")  # as it is: its line endings kept
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML, so it was not changed: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text, so it was not changed: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc.strerror}") from None
    try:
        doc = tomlkit.parse(text)
        _edit(doc, updates)
        new_text = tomlkit.dumps(doc)
        if "\r\n" in text and text.count("\r\n") == text.count("\n"):  # new lines end as the old ones
            new_text = new_text.replace("\r\n", "\n").replace("\n", "\r\n")
        written = tomllib.loads(new_text)
    except (TOMLKitError, tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: the config could not be edited in place, so it was not changed: {exc}"
        ) from None
    _merge(data, updates)
    from modelwise.files.config import settings_from_dict

    settings_from_dict(data, str(path))  # raises ConfigError naming the key
    if written != data:
        raise ConfigError(f"{path}: the updated config would not read back the same; not written")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o7777 if target.exists() else None
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(new_text)
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(target.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config: {exc.strerror or exc}") from None
    return data


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
