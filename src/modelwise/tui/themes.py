"""Theme files (TOML or JSON, one theme per file) validated with pydantic into `textual.theme.Theme`.

A bad file is reported and skipped; it never stops the console. Validated themes are kept in the user
cache dir keyed by each file's path, size and modification time, so a start with unchanged theme files
skips importing pydantic (about 70 ms of the first frame)."""

from __future__ import annotations

import json
import marshal
import os
import tempfile
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from textual.theme import Theme

SUFFIXES = (".toml", ".json")
_CACHE_FORMAT = 1


@cache
def _schema() -> Any:
    """The pydantic model of a theme file (built on first use)."""
    from typing import Annotated

    from pydantic import AfterValidator, BaseModel, ConfigDict, Field
    from textual.color import Color, ColorParseError

    def colour(value: str) -> str:
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{value!r} is not a colour") from None
        return value

    Colour = Annotated[str, AfterValidator(colour)]

    class ThemeFile(BaseModel):
        """What a theme file may hold: Textual's theme fields."""

        model_config = ConfigDict(extra="forbid")

        name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
        primary: Colour
        secondary: Colour | None = None
        accent: Colour | None = None
        foreground: Colour | None = None
        background: Colour | None = None
        surface: Colour | None = None
        panel: Colour | None = None
        boost: Colour | None = None
        success: Colour | None = None
        warning: Colour | None = None
        error: Colour | None = None
        dark: bool = True
        luminosity_spread: Annotated[float, Field(ge=0, le=1)] = 0.15
        text_alpha: Annotated[float, Field(ge=0, le=1)] = 0.95
        variables: dict[str, str] = Field(default_factory=dict)

    return ThemeFile


def validate_theme_file(path: Path) -> dict[str, Any]:
    """One theme file's validated fields. Raises ValueError with a one-line message naming the file."""
    from pydantic import ValidationError

    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the theme: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a theme file holds one object of theme fields")
    try:
        return _schema().model_validate(data).model_dump()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ValueError(f"{path}: {loc}: {err['msg'].removeprefix('Value error, ')}") from None


def load_theme_file(path: Path) -> Theme:
    return Theme(**validate_theme_file(path))


def _read_cache(cache_file: Path | None) -> dict[str, Any]:
    if cache_file is None:
        return {}
    try:
        with open(cache_file, "rb") as fh:
            data = marshal.load(fh)
        return data[1] if data[0] == _CACHE_FORMAT else {}
    except (OSError, EOFError, ValueError, TypeError, IndexError):
        return {}


def _write_cache(cache_file: Path, entries: dict[str, Any]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".themes-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps((_CACHE_FORMAT, entries)))
        os.replace(tmp, cache_file)
    except (OSError, ValueError):
        pass  # a cache that cannot be written only costs time


def load_themes(dirs: Iterable[Path], cache_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Every theme in `dirs` (later folders override earlier ones by name) and the problems found."""
    cache_file = None if cache_dir is None else cache_dir / "themes.marshal"
    cached = _read_cache(cache_file)
    fresh: dict[str, Any] = {}
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in SUFFIXES or path.name.startswith("."):
                continue
            try:
                st = path.stat()
            except OSError as exc:
                problems.append(f"{path}: cannot read the theme: {exc.strerror}")
                continue
            key, stamp = str(path.resolve()), (st.st_size, st.st_mtime_ns, st.st_ino)
            hit = cached.get(key)
            if hit is not None and tuple(hit[0]) == stamp:
                fields, problem = hit[1], hit[2]
            else:
                try:
                    fields, problem = validate_theme_file(path), None
                except ValueError as exc:
                    fields, problem = None, str(exc)
            fresh[key] = (stamp, fields, problem)
            if problem is not None:
                problems.append(problem)
            else:
                theme = Theme(**fields)
                themes[theme.name] = theme
    if cache_file is not None and fresh != cached:
        _write_cache(cache_file, fresh)
    return list(themes.values()), problems
