"""The layering: the import contracts in pyproject.toml hold, and core's own source imports no framework,
storage or network package and nothing of modelwise outside core, not even inside a function. And no
class in src/modelwise grows past 600 lines."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import modelwise
import modelwise.core

ROOT = Path(__file__).resolve().parents[1]
CORE = Path(modelwise.core.__file__).resolve().parent
SRC = Path(modelwise.__file__).resolve().parent


def _contracts() -> list[dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["tool"]["importlinter"]["contracts"]


def _contract(contract_id: str) -> dict:
    return next(c for c in _contracts() if c["id"] == contract_id)


CORE_PURE = _contract("core-pure")
FORBIDDEN = frozenset(CORE_PURE["forbidden_modules"])
# The contract's KNOWN exceptions (none today): the one list both checks use.
KNOWN = frozenset(tuple(part.strip() for part in e.split("->")) for e in CORE_PURE.get("ignore_imports", []))


def test_every_import_contract_is_kept() -> None:
    """`lint-imports` as CI runs it, on the installed package; each contract is reported by name."""
    proc = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache", "--no-logo"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
    )
    out = proc.stdout + proc.stderr
    names = [c["name"] for c in _contracts()]
    assert len(names) >= 4
    for name in names:
        assert f"{name} KEPT" in out, f"contract {name!r} is not kept:\n{out}"
    assert proc.returncode == 0, out


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_names(path: Path) -> list[tuple[str, int]]:
    """Every module `path` imports, wherever the statement is (module level, functions, TYPE_CHECKING
    blocks), relative imports resolved, plus `importlib.import_module` / `__import__` of a literal.
    `from P import x` counts as importing P.x (x may be a module); P itself only when it is not the
    bare `modelwise` package (which `from modelwise.core...` loads anyway)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "modelwise":
                found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
    return found


def _violations(path: Path) -> list[str]:
    module = _module_name(path)
    where = path.relative_to(CORE.parent)
    bad = []
    for name, line in _imported_names(path):
        top = name.split(".")[0]
        if top in FORBIDDEN and (module, top) not in KNOWN:
            bad.append(f"{where}:{line}: imports {name}")
        elif top == "modelwise" and not (name == "modelwise.core" or name.startswith("modelwise.core.")):
            bad.append(f"{where}:{line}: imports {name}, outside core")
    return bad


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_walk_sees_core() -> None:
    """Not vacuous: it reads every core module, and sees each KNOWN exception (a stale one must go)."""
    assert len(CORE_FILES) >= 15
    seen = {(_module_name(p), name.split(".")[0]) for p in CORE_FILES for name, _ in _imported_names(p)}
    assert ("modelwise.core.routing", "modelwise") in seen  # its imports of modelwise.core.scoring
    for known in KNOWN:
        assert known in seen, f"{known} is listed as KNOWN but core no longer imports it: delete it"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_nothing_forbidden(path: Path) -> None:
    assert _violations(path) == []


def test_importing_core_loads_no_forbidden_package() -> None:
    """At run time, in a fresh interpreter: every core module but the KNOWN ones, and what they pull in."""
    modules = sorted(
        _module_name(p) for p in CORE_FILES
        if not any(_module_name(p) == m for m, _ in KNOWN) and p.name != "__init__.py"
    )
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"print(','.join(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules)))\n"
        + "print(','.join(sorted(m for m in sys.modules if m.startswith('modelwise.')"
        " and not m.startswith('modelwise.core'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    forbidden, outside = proc.stdout.split("\n")[:2]
    assert forbidden == "", f"importing core loads {forbidden}"
    assert outside == "", f"importing core loads {outside}"


# -- the size of a class ----------------------------------------------------------------------------------

MAX_CLASS_LINES = 600
SRC_FILES = sorted(SRC.rglob("*.py"))


def _class_sizes() -> list[tuple[str, int]]:
    """Every class in src/modelwise (nested ones too) as ("path:line Name", lines from `class` to its end)."""
    out = []
    for path in SRC_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                name = f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
                out.append((name, node.end_lineno - node.lineno + 1))
    return out


def test_the_class_walk_sees_every_module() -> None:
    """Not vacuous: it reads the whole package and measures its classes."""
    assert len(SRC_FILES) >= 100
    sizes = dict(_class_sizes())
    assert len(sizes) >= 100
    ledger = [n for name, n in sizes.items() if name.endswith(" SqliteLedger")]
    assert ledger and ledger[0] > 200


def test_no_class_is_over_600_lines() -> None:
    over = [f"{name}: {n} lines" for name, n in _class_sizes() if n > MAX_CLASS_LINES]
    assert over == [], f"classes over {MAX_CLASS_LINES} lines (split them along a seam): {over}"
